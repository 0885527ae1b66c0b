"""SIGINT and SIGTERM as a request to stop, which the node's main loop serves in order.

rclpy's own handlers shut the context down from inside the signal while timers, subscriptions and
worker threads may still run, so a callback that publishes a moment later fails with "publisher's
context is invalid"; and Python's default SIGINT handler raises ``KeyboardInterrupt`` wherever the
main thread is. A Ctrl-C in a terminal reaches a node twice (the terminal signals the whole process
group and ``ros2 launch`` forwards its own SIGINT), so the second one used to land inside
``destroy_node``. Here a signal only asks the spin loop to stop; the node is then destroyed and the
context shut down last, and every later signal is ignored.

Python runs signal handlers in the main thread only between bytecodes, never while it waits inside
rcl for work; the C-level handler's write to a wakeup pipe is what wakes the spin loop. The wake must
be work the executor hands out (a guard condition with a callback): ``Executor.wake()`` only makes it
rebuild its wait set and wait again, so a node with nothing arriving never returned from ``spin_once``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from enum import Enum

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Phase(Enum):
    STARTING = "starting"  # the node is being built: a signal abandons that with KeyboardInterrupt
    SPINNING = "spinning"  # a signal stops the spin loop
    STOPPING = "stopping"  # shutting down: signals change nothing


class ShutdownSignals:
    """Install once per process, before ``rclpy.init``."""

    def __init__(self) -> None:
        self._requested = threading.Event()
        self._phase = _Phase.STARTING
        self._wake: Callable[[], None] | None = None
        # No wake on an executor being shut down. Reentrant: the handler may run while main holds it.
        self._phase_lock = threading.RLock()

    def install(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in SIGNALS:
            signal.signal(signum, self._on_signal)
        threading.Thread(target=self._wake_executor_on_signal, args=(read_fd,), name="shutdown_signals",
                         daemon=True).start()

    @property
    def requested(self) -> bool:
        return self._requested.is_set()

    def serve(self, wake: Callable[[], None]) -> None:
        """From now on a signal calls ``wake`` (which must make the spin loop's ``spin_once`` return) and the
        loop checking :attr:`requested` ends."""
        with self._phase_lock:
            self._wake = wake
            self._phase = _Phase.SPINNING

    def ignore(self) -> None:
        """Shutdown has begun: signals from now on change nothing. SIG_IGN, not a handler that does
        nothing: Python's finalization puts SIG_DFL back in place of every handler it installed (but
        leaves SIG_IGN), and a node that unloads torch spends seconds there, long enough for the SIGINT
        ``ros2 launch`` sends when another required node has exited to kill it with exit code -2."""
        with self._phase_lock:
            self._phase = _Phase.STOPPING
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._requested.set()
        if self._phase is _Phase.STARTING:
            # Loading a policy takes seconds; a user who gives up on it must not wait for the end.
            self.ignore()
            raise KeyboardInterrupt

    def _wake_executor_on_signal(self, read_fd: int) -> None:
        while os.read(read_fd, 1):
            self._requested.set()
            with self._phase_lock:
                if self._phase is _Phase.SPINNING:
                    self._wake()
