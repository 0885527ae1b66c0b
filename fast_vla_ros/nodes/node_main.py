"""The ``main()`` every node shares: start, spin on a single-threaded executor, shut down cleanly.

A node that cannot start because of its configuration (bad parameter, missing file) prints one line
naming the problem and exits with code 2 instead of a traceback. A single-threaded executor, because
ROS_ON_PIP.md measured the multi-threaded one dropping timer ticks; heavy work has its own threads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

CONFIGURATION_ERRORS = (ValueError, KeyError, FileNotFoundError, RuntimeError)


def run_node(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    try:
        node = make_node()
    except CONFIGURATION_ERRORS as error:
        print(f"{name}: configuration error: {error}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
