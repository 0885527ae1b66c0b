"""Two hosts on one network, made on this machine: two Linux network namespaces joined by a veth pair.

Each namespace has its own interfaces, addresses and routes, and only the veth pair joins them, so DDS
traffic between the processes started in one and those in the other crosses that link and nothing else;
no address is reachable from outside the pair, and nothing is routed out of it. Each also gets a machine id
of its own (``/etc/netns/<namespace>/machine-id``, which ``ip netns exec`` mounts over ``/etc/machine-id``):
Fast DDS derives its host id from that file, and participants it takes for the same host are sent their data
to 127.0.0.1, which in another namespace reaches nobody. Making namespaces takes
CAP_SYS_ADMIN (root, or a container that grants it): :func:`namespaces_unavailable` says why not, for a
test to skip with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# s for a veth end to report carrier after `link set up`: the kernel's link watcher applies it up to 1 s late,
# and Fast DDS leaves out an interface that is not up when its transport starts, for good.
CARRIER_TIMEOUT_S = 5.0
NETNS_ETC = Path("/etc/netns")  # per-namespace files `ip netns exec` mounts over /etc


@dataclass(frozen=True)
class Host:
    namespace: str
    interface: str
    address: str

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host's namespace (``ip netns exec`` execs it: the pid is the program's)."""
        return ["ip", "netns", "exec", self.namespace, *argv]


def _ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip() or f'exit code {result.returncode}'}")
    return result.stdout


def namespaces_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or ``None`` when they can (checked by making one)."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"fvla_probe_{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return f"cannot create a network namespace ({error}); it needs root or CAP_SYS_ADMIN"
    _ip("netns", "delete", probe)
    return None


class VethLink:
    """Hosts ``a`` and ``b`` in namespaces of their own, joined by a veth pair; removed on exit.

    Addresses come from 10.77.0.0/24 inside the namespaces only: each pair is a network of its own, so
    parallel runs may use the same addresses.
    """

    def __init__(self, tag: str | None = None) -> None:
        tag = tag or str(os.getpid() % 100_000)
        self.a = Host(f"fvla{tag}a", f"fv{tag}a", "10.77.0.1")
        self.b = Host(f"fvla{tag}b", f"fv{tag}b", "10.77.0.2")
        self._made: list[str] = []

    def __enter__(self) -> VethLink:
        try:
            for host in (self.a, self.b):
                _ip("netns", "add", host.namespace)
                self._made.append(host.namespace)
                etc = NETNS_ETC / host.namespace
                etc.mkdir(parents=True, exist_ok=True)
                (etc / "machine-id").write_text(secrets.token_hex(16) + "\n")
            _ip("link", "add", self.a.interface, "netns", self.a.namespace, "type", "veth",
                "peer", "name", self.b.interface, "netns", self.b.namespace)  # fmt: skip
            for host in (self.a, self.b):
                _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", host.interface)
                _ip("-n", host.namespace, "link", "set", "lo", "up")
                _ip("-n", host.namespace, "link", "set", host.interface, "up")
            self._wait_for_carrier()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_for_carrier(self) -> None:
        """Until both ends report their operational state UP (the kernel has no event to wait on here)."""
        deadline = time.monotonic() + CARRIER_TIMEOUT_S
        for host in (self.a, self.b):
            while _ip("-n", host.namespace, "-o", "link", "show", "dev", host.interface).find("state UP") < 0:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{host.interface} in {host.namespace} did not come up")
                time.sleep(0.01)

    def cut(self) -> None:
        """Take the link down on ``a``'s side, as a pulled cable would; ``b`` keeps its own address."""
        _ip("-n", self.a.namespace, "link", "set", self.a.interface, "down")

    def restore(self) -> None:
        _ip("-n", self.a.namespace, "link", "set", self.a.interface, "up")
        self._wait_for_carrier()

    def __exit__(self, *exc: object) -> None:
        """Deleting a namespace deletes its end of the veth pair, and with it the other end."""
        for namespace in reversed(self._made):
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=10)
            shutil.rmtree(NETNS_ETC / namespace, ignore_errors=True)
        self._made.clear()
        try:
            NETNS_ETC.rmdir()  # when no other namespace has files there
        except OSError:
            pass
