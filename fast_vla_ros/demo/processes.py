"""Start and stop the project's nodes as separate processes, the way ``ros2 launch`` would.

Each node runs ``python -m fast_vla_ros.nodes.<node>`` with the parameters file, on loopback-only DDS
in the caller's domain, its output going to a log file so a failure can be read afterwards.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


class NodeProcesses:
    def __init__(self, env: dict[str, str], log_dir: Path, cwd: Path, command_prefix: list[str] | None = None) -> None:
        """``command_prefix`` goes before each node's command: ``ip netns exec <namespace>`` for another host."""
        self._env, self._log_dir, self._cwd = env, log_dir, cwd
        self._prefix = list(command_prefix or [])
        self._children: dict[str, tuple[subprocess.Popen, object]] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, node: str, params_file: Path, overrides: dict[str, str] | None = None) -> subprocess.Popen:
        if node in self._children and self._children[node][0].poll() is None:
            raise RuntimeError(f"{node} is already running")
        args = [*self._prefix, sys.executable, "-m", f"fast_vla_ros.nodes.{node}", "--ros-args", "--params-file",
                str(params_file)]  # fmt: skip
        for name, value in (overrides or {}).items():
            args += ["-p", f"{name}:={value}"]
        log = open(self._log_dir / f"{node}.log", "a")  # closed in stop()
        child = subprocess.Popen(args, env=self._env, cwd=self._cwd, stdout=log, stderr=subprocess.STDOUT)
        self._children[node] = (child, log)
        return child

    def exited(self) -> dict[str, int]:
        """The nodes that are no longer running, with their exit codes."""
        return {node: child.returncode for node, (child, _) in self._children.items() if child.poll() is not None}

    def check_alive(self) -> None:
        """Raise with the tail of the log if a node died: a demo must not wait for a dead process."""
        for node, code in self.exited().items():
            tail = (self._log_dir / f"{node}.log").read_text().splitlines()[-15:]
            raise RuntimeError(f"{node} exited with code {code}:\n" + "\n".join(tail))

    def stop(self, node: str, timeout_s: float = 10.0) -> None:
        child, log = self._children.pop(node)
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # as Ctrl-C: the node shuts down cleanly
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        log.close()

    def kill(self, node: str) -> None:
        """SIGKILL, as a crash would end the node: no shutdown handlers run."""
        child, log = self._children.pop(node)
        child.kill()
        child.wait()
        log.close()

    def stop_all(self) -> None:
        for node in list(self._children):
            self.stop(node)
