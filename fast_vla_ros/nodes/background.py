"""Threads a node keeps beside its main executor: a second executor for callbacks that must never wait
behind the others, and a worker for slow jobs where only the newest request matters.

A node belongs to one executor, and a single-threaded executor runs one callback at a time, so a callback
that must act within a control tick (the e-stop, the tick itself) cannot share it with callbacks whose cost
depends on what arrives (deserializing a large message, planning a trajectory). ROS_ON_PIP.md measured the
multi-threaded executor dropping timer ticks, so each of these gets its own single-threaded executor.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

Item = TypeVar("Item")


def use_realtime_priority(priority: int) -> str | None:
    """SCHED_FIFO for the calling thread, as ros2_control's controller manager gives its update loop (its
    thread_priority, 50 by default). ``None`` when taken, else why not, for the caller to log."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0: this thread (Linux)
    except (PermissionError, OSError) as error:
        return str(error)
    return None


class SpinningThread:
    """``node`` spun by a single-threaded executor of its own on a daemon thread, optionally SCHED_FIFO.

    ``on_priority`` is called on that thread with the result of :func:`use_realtime_priority` when
    ``priority`` > 0, so the caller can log whether it was granted.
    """

    def __init__(
        self, node: Node, name: str, priority: int = 0, on_priority: Callable[[str | None], None] | None = None
    ) -> None:
        self._executor = SingleThreadedExecutor(context=node.context)
        self._executor.add_node(node)
        self._priority, self._on_priority = priority, on_priority
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _spin(self) -> None:
        if self._priority > 0:
            refused = use_realtime_priority(self._priority)
            if self._on_priority is not None:
                self._on_priority(refused)
        try:
            self._executor.spin()
        except ExternalShutdownException:
            pass  # the context was shut down: the process is ending
        except Exception:
            # rcl refuses a wait set on a context shut down between two spins ("the given context is not
            # valid"): the same ending, seen a moment later. Anything else is a real failure.
            if self._executor.context.ok():
                raise

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop spinning and wait for the thread, so no callback of the node runs after this returns."""
        self._executor.shutdown(timeout_sec=timeout_s)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)


class LatestOnlyWorker(Generic[Item]):
    """Runs ``work(item)`` on a daemon thread for the newest item submitted; an item still waiting when a newer
    one arrives is dropped (a trajectory planned from an older state is of no use once a newer one exists).
    An exception from ``work`` goes to ``on_error`` and the worker goes on. ``priority`` > 0 runs the thread
    SCHED_FIFO where permitted (a thread that holds the GIL a real-time thread waits for must not be preempted
    by other processes)."""

    def __init__(
        self, work: Callable[[Item], None], name: str, on_error: Callable[[Exception], None], priority: int = 0
    ) -> None:
        self._work, self._on_error, self._priority = work, on_error, priority
        self._condition = threading.Condition()
        self._pending: Item | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Item) -> None:
        with self._condition:
            self._pending = item
            self._condition.notify()

    def _run(self) -> None:
        if self._priority > 0:
            use_realtime_priority(self._priority)  # refused only where the caller's own request was refused too
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._stopping or self._pending is not None)
                if self._stopping:
                    return
                item, self._pending = self._pending, None
            try:
                self._work(item)
            except Exception as error:  # any: reported, and the next item must still be served
                self._on_error(error)

    def stop(self, timeout_s: float = 2.0) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
