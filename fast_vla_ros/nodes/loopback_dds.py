"""The environment that keeps every ROS 2 process this project starts on this machine.

Fast DDS multicasts discovery out of the network interface by default. The project's tests,
benchmarks and demo never leave that to the user's shell: they start rclpy processes with this
environment. ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` limits discovery (``ROS_LOCALHOST_ONLY`` is
ignored by the PyPI wheels), and the Fast DDS profile restricts transports to shared memory and UDP
on 127.0.0.1. Both are read when rclpy creates its context, so they must be set before ``rclpy.init``.
"""

from __future__ import annotations

import os

from fast_vla_ros.package_files import package_file

PROFILE = "config/dds/loopback_only.xml"


def loopback_dds_environment(domain_id: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: this process's environment) set up for loopback-only DDS."""
    if not 0 <= domain_id <= 232:
        raise ValueError(f"ROS_DOMAIN_ID must be in [0, 232] for Fast DDS port mapping, got {domain_id}")
    env = dict(os.environ if base is None else base)
    env.update(
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        FASTDDS_DEFAULT_PROFILES_FILE=str(package_file(PROFILE)),
        RMW_IMPLEMENTATION="rmw_fastrtps_cpp",
        ROS_DOMAIN_ID=str(domain_id),
    )
    env.pop("ROS_STATIC_PEERS", None)
    return env


def domain_id_for_process(pid: int | None = None) -> int:
    """A domain for one test or benchmark run, spread by process id so parallel runs do not meet."""
    return 101 + (os.getpid() if pid is None else pid) % 100
