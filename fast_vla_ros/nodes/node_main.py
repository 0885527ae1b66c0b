"""The ``main()`` every node shares: start, spin on a single-threaded executor, shut down cleanly.

A node that cannot start because of its configuration (bad parameter, missing file) prints one line
naming the problem and exits with code 2 instead of a traceback. A single-threaded executor, because
ROS_ON_PIP.md measured the multi-threaded one dropping timer ticks; heavy work has its own threads.

SIGINT and SIGTERM, once or repeated, to the process or its whole group, end the node with exit code 0
(``ShutdownSignals``): the executor stops first, so no timer or subscription callback runs any more,
then the node's ``destroy_node`` stops its own threads and releases its resources, and the rclpy
context is shut down last, so nothing ever publishes on an invalid context.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from fast_vla_ros.nodes.shutdown_signals import ShutdownSignals

CONFIGURATION_ERRORS = (
    ValueError, KeyError, FileNotFoundError, RuntimeError, ParameterException, NameValidationException
)


def one_line(error: Exception) -> str:
    """rclpy's name errors add a line that repeats the name and one with a caret under the bad character."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip() not in ("", "^"))


def run_node(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    signals = ShutdownSignals()
    signals.install()
    node = executor = None
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        try:
            node = make_node()
        except CONFIGURATION_ERRORS as error:
            signals.ignore()
            print(f"{name}: configuration error: {one_line(error)}", file=sys.stderr)
            return 2
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        signals.serve(node.create_guard_condition(lambda: None).trigger)
        while not signals.requested:
            executor.spin_once()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # a signal during start-up, or the context shut down by someone else: a normal end
    finally:
        signals.ignore()
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
