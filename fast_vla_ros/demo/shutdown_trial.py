"""One node started as its own process group, signalled the ways a user stops it, and judged on how it
ended: exit code 0 and no traceback is a clean shutdown.

A terminal's Ctrl-C signals the whole foreground process group, so a node under ``ros2 launch`` gets
the terminal's SIGINT and the one launch forwards: "sigint_twice". Launch escalates to SIGTERM when a
node takes too long, and service managers stop with SIGTERM. Shared by test/ros/test_shutdown.py and
benchmarks/shutdown.py.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SIGNAL_PATTERNS: dict[str, tuple[signal.Signals, ...]] = {
    "sigint": (signal.SIGINT,),
    "sigint_twice": (signal.SIGINT, signal.SIGINT),
    "sigterm": (signal.SIGTERM,),
    # Again every REPEAT_PERIOD_S until the process is gone, so one lands in every phase of its exit,
    # interpreter finalization included: as ros2 launch's SIGINT when another required node has exited.
    "sigint_until_exit": (signal.SIGINT,),
}
REPEATED = {"sigint_until_exit"}
REPEAT_PERIOD_S = 0.05
EXIT_TIMEOUT_S = 20.0  # launch's own sigterm_timeout is 5 s: a clean exit is far quicker than this
_TRIAL_NUMBERS = itertools.count()


@dataclass
class ShutdownOutcome:
    node: str
    pattern: str
    exit_code: int | None  # None: still running EXIT_TIMEOUT_S after the signals (then killed)
    seconds_to_exit: float
    output: str

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.output

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and not self.traceback


class ProcessGroup:
    """A command in a session (process group) of its own, as a terminal runs it; its output collected."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self._process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self._lines: list[str] = []
        self._new_line = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._process.stdout:
            with self._new_line:
                self._lines.append(line)
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    @property
    def output(self) -> str:
        with self._new_line:
            return "".join(self._lines)

    def wait_for_output(self, text: str, timeout_s: float) -> bool:
        """True once a line containing ``text`` was printed; False at the deadline or when it exited."""
        deadline = time.monotonic() + timeout_s
        with self._new_line:
            while not any(text in line for line in self._lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._reader.is_alive():
                    return False
                self._new_line.wait(remaining)
            return True

    def running(self) -> bool:
        return self._process.poll() is None

    def signal_group(self, pattern: str) -> None:
        for signum in SIGNAL_PATTERNS[pattern]:
            os.killpg(self._process.pid, signum)

    def _signal_if_running(self, pattern: str) -> None:
        try:
            self.signal_group(pattern)
        except ProcessLookupError:
            pass  # the group ended between the wait and the signal

    def wait_for_exit(self, pattern: str, timeout_s: float = EXIT_TIMEOUT_S) -> ShutdownOutcome:
        start = time.monotonic()
        exit_code: int | None = None
        while exit_code is None and time.monotonic() - start < timeout_s:
            try:
                exit_code = self._process.wait(timeout=REPEAT_PERIOD_S if pattern in REPEATED else timeout_s)
            except subprocess.TimeoutExpired:
                if pattern in REPEATED:
                    self._signal_if_running(pattern)
        if exit_code is None:
            self.kill()
        seconds = time.monotonic() - start
        self._reader.join(timeout=5.0)
        return ShutdownOutcome(self.name, pattern, exit_code, seconds, self.output)

    def kill(self) -> None:
        if self.running():
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()


def node_process(node: str, ros_args: list[str], env: dict[str, str], cwd: Path) -> ProcessGroup:
    """``python -m fast_vla_ros.nodes.<node> --ros-args ...``, as ``ros2 run`` would start it."""
    return ProcessGroup(node, [sys.executable, "-m", f"fast_vla_ros.nodes.{node}", "--ros-args", *ros_args], env, cwd)


class SpinningWitness:
    """Sees the messages only a spinning node sends, from its timers: sim_node's joint states, the other
    nodes' diagnostics. A node signalled after one of them is in its spin loop, not still starting.
    Each trial's node publishes them under a prefix of its own (topic remaps, which leave the parameters
    file's node names alone), so neither a message of an earlier trial still queued here nor one from
    another run on the same DDS domain is taken for it."""

    def __init__(self, context: object) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        self._node = Node("shutdown_trial_witness", context=context)
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self._node)

    def until_spinning(self, process: ProcessGroup, prefix: str, timeout_s: float = 180.0) -> bool:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import JointState

        heard: list[object] = []
        subscriptions = [
            self._node.create_subscription(DiagnosticArray, f"{prefix}/diagnostics", heard.append, 10),
            self._node.create_subscription(JointState, f"{prefix}/joint_states", heard.append, qos_profile_sensor_data),
        ]
        deadline = time.monotonic() + timeout_s
        try:
            while not heard:
                if time.monotonic() > deadline or not process.running():
                    return False
                self._executor.spin_once(timeout_sec=0.05)
            return True
        finally:
            for subscription in subscriptions:
                self._node.destroy_subscription(subscription)

    def close(self) -> None:
        self._executor.shutdown()
        self._node.destroy_node()


def shutdown_trial(
    node: str, pattern: str, ros_args: list[str], env: dict[str, str], cwd: Path,
    until_spinning: Callable[[ProcessGroup, str], bool],
) -> ShutdownOutcome:
    """Start ``node``, wait until ``until_spinning`` says it serves callbacks, signal its group, judge."""
    prefix = f"/shutdown_trial_{os.getpid()}_{next(_TRIAL_NUMBERS)}"
    remaps = ["-r", f"/diagnostics:={prefix}/diagnostics", "-r", f"joint_states:={prefix}/joint_states"]
    process = node_process(node, [*ros_args, *remaps], env, cwd)
    try:
        if not until_spinning(process, prefix):
            raise RuntimeError(f"{node} did not start:\n{process.output[-3000:]}")
        process.signal_group(pattern)
        return process.wait_for_exit(pattern)
    finally:
        process.kill()
