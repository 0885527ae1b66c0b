"""The loop split over two hosts, made on this machine: policy_node on host ``a`` (the GPU workstation),
sim_node and chunk_executor_node on host ``b`` (the robot's PC), two network namespaces joined by a veth
pair (``network_namespaces.py``), each host's DDS set up with the shipped ``config/dds/two_hosts.xml``.

The measurements run inside host ``b``, where the robot's clock is (``two_hosts_probe.py``): the test and
the benchmark start the hosts with :class:`TwoHostLoop` and ask it for a :meth:`TwoHostLoop.probe`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fast_vla_ros.demo.network_namespaces import Host, VethLink
from fast_vla_ros.demo.processes import NodeProcesses
from fast_vla_ros.package_files import package_file

PROFILE = "config/dds/two_hosts.xml"


def two_hosts_dds_environment(base: dict[str, str], this: Host, peer: Host, profile: Path) -> dict[str, str]:
    """``base`` with DDS set up for ``this`` host as the shipped profile says, written to ``profile``."""
    text = package_file(PROFILE).read_text()
    text = text.replace("<address>THIS_HOST</address>", f"<address>{this.address}</address>")
    profile.write_text(text.replace("<address>PEER_HOST</address>", f"<address>{peer.address}</address>"))
    env = dict(base)
    env.update(FASTDDS_DEFAULT_PROFILES_FILE=str(profile), ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET")
    return env


class TwoHostLoop:
    """Hosts joined by a veth link; ``policy`` runs policy_node on ``a``, ``robot`` the others on ``b``."""

    def __init__(self, base_env: dict[str, str], work_dir: Path, cwd: Path) -> None:
        self.link = VethLink()
        self._work_dir, self._cwd = work_dir, cwd
        work_dir.mkdir(parents=True, exist_ok=True)
        self.env_a = two_hosts_dds_environment(base_env, self.link.a, self.link.b, work_dir / "host_a.xml")
        self.env_b = two_hosts_dds_environment(base_env, self.link.b, self.link.a, work_dir / "host_b.xml")
        self.policy = NodeProcesses(self.env_a, work_dir / "host_a", cwd, self.link.a.command([]))
        self.robot = NodeProcesses(self.env_b, work_dir / "host_b", cwd, self.link.b.command([]))

    def __enter__(self) -> TwoHostLoop:
        self.link.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.policy.stop_all()
            self.robot.stop_all()
        finally:
            self.link.__exit__()

    def probe(self, *args: str, timeout_s: float = 400.0) -> dict:
        """Run ``two_hosts_probe`` on host ``b`` with ``args``; its JSON result (its log on failure)."""
        command = self.link.b.command([sys.executable, "-m", "fast_vla_ros.demo.two_hosts_probe", *args])
        result = subprocess.run(command, env=self.env_b, cwd=self._cwd, capture_output=True, text=True,
                                timeout=timeout_s)  # fmt: skip
        self.policy.check_alive()
        self.robot.check_alive()
        if result.returncode != 0:
            raise RuntimeError(f"two_hosts_probe failed ({result.returncode}):\n{result.stdout[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])
