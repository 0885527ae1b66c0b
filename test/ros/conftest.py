"""A test-side ROS node that plays the robot and the operator around a node under test: it publishes
joint states, records what comes back, and waits on events (messages, service replies) with deadlines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

EVENT_TIMEOUT_S = 30.0  # discovery plus start-up of a child process on a loaded 2-core machine


class Harness:
    def __init__(self, context: Any, name: str = "test_harness") -> None:
        self.node = Node(name, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[Any]] = {}
        self.diagnostics: dict[str, list[dict[str, str]]] = {}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)

    def record(self, msg_type: type, topic: str, qos: Any = 50) -> list[Any]:
        messages = self.received.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, messages.append, qos)
        return messages

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            values["_message"] = status.message
            self.diagnostics.setdefault(status.name.removeprefix("fast_vla_ros: "), []).append(values)

    def spin_until(self, done: Callable[[], bool], timeout_s: float = EVENT_TIMEOUT_S, what: str = "") -> None:
        """Spin until ``done()``; fail with ``what`` at the deadline. Waits on events, never a fixed sleep."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what or done}")
            self.executor.spin_once(timeout_sec=0.05)

    def next_diagnostics(self, node_name: str, count: int = 1) -> dict[str, str]:
        """Wait for ``count`` more diagnostics of ``node_name`` and return the newest."""
        seen = len(self.diagnostics.get(node_name, []))
        self.spin_until(lambda: len(self.diagnostics.get(node_name, [])) >= seen + count,
                        what=f"{count} diagnostics from {node_name}")
        return self.diagnostics[node_name][-1]

    def call(self, srv_type: type, name: str, request: Any) -> Any:
        client = self.node.create_client(srv_type, name)
        self.spin_until(client.service_is_ready, what=f"service {name}")
        future = client.call_async(request)
        self.spin_until(future.done, what=f"reply from {name}")
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture
def harness(rclpy_context) -> Iterator[Harness]:
    harness = Harness(rclpy_context)
    try:
        yield harness
    finally:
        harness.close()
