"""Test-wide setup: every rclpy context in this run, in-process or a child process, uses loopback DDS
on a domain of its own, whatever the shell that started pytest says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fast_vla_ros.nodes.loopback_dds import domain_id_for_process, loopback_dds_environment

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Set before any test imports rclpy: rcl and Fast DDS read these when a context is created.
os.environ.update(loopback_dds_environment(domain_id_for_process()))


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Environment for child processes that start rclpy: the same loopback domain as this process,
    with the source tree first on PYTHONPATH so children import the code under test."""
    env = loopback_dds_environment(int(os.environ["ROS_DOMAIN_ID"]))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def rclpy_context() -> Iterator[object]:
    """A fresh rclpy context for one test, shut down afterwards even when the test fails."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        context.try_shutdown()


@pytest.fixture
def spawn_python(ros_env: dict[str, str]) -> Iterator[object]:
    """Start ``python <args>`` children (a script or ``-m module``) with the loopback environment, in
    the repository root; all are stopped at teardown."""
    children: list[subprocess.Popen] = []

    def spawn(*args: str | Path) -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, *map(str, args)],
            cwd=REPO_ROOT,
            env=ros_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        children.append(child)
        return child

    yield spawn
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # as Ctrl-C: nodes shut down cleanly
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
