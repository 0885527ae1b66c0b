"""What an adversarial campaign (benchmarks/fuzz.py) sees of the running nodes, and the executor calls whose
answers tell it when the executor had stopped.

``CommandRecorder`` keeps every command the executor publishes, ``NodeWatch`` the nodes' heartbeats and the
policy's reports, ``ExecutorCalls`` sends ``~/arm`` and ``~/reset_estop`` one at a time and logs what their
answers prove into a ``StopLog`` (fast_vla_ros/demo/command_audit.py). Every time is the wall clock, which the
executor stamps its commands with.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from fast_vla_ros.demo.command_audit import CommandRecord, StopLog
from fast_vla_ros.msg import PolicyStatus
from fast_vla_ros.nodes.background import SpinningThread

EXECUTOR = "chunk_executor_node"
CALL_TIMEOUT_S = 5.0


def now() -> float:
    """The wall clock: the executor stamps its commands with it, and every time here is on it."""
    return time.time()


class CommandRecorder:
    """Every command the executor publishes, with its arrival time, on a thread of its own so that the storms
    the main thread publishes do not delay the arrival times the e-stop latency is measured with."""

    def __init__(self, context: object, joint_names: tuple[str, ...]) -> None:
        self.node = Node("fuzz_command_recorder", context=context)
        self._order = {name: k for k, name in enumerate(joint_names)}
        self._lock = threading.Lock()
        self.echo: list[CommandRecord] = []
        self.forward: list[tuple[float, tuple[float, ...]]] = []
        self.node.create_subscription(JointState, f"/{EXECUTOR}/command", self._on_echo, 1000)
        controller = "/forward_position_controller/commands"
        self.node.create_subscription(Float64MultiArray, controller, self._on_forward, 1000)
        self._thread = SpinningThread(self.node, "command_recorder")
        self._thread.start()

    def _on_echo(self, msg) -> None:
        arrival = now()
        order = [self._order[name] for name in msg.name]
        positions, velocity = np.empty(len(order)), np.empty(len(order))
        positions[order], velocity[order] = msg.position, msg.velocity
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self._lock:
            self.echo.append(CommandRecord(arrival, stamp, positions, velocity))

    def _on_forward(self, msg) -> None:
        arrival = now()
        with self._lock:
            self.forward.append((arrival, tuple(msg.data)))

    def last(self) -> CommandRecord | None:
        with self._lock:
            return self.echo[-1] if self.echo else None

    def tracking_since(self, time_s: float) -> float | None:
        """Arrival of the first command from a tick after ``time_s`` that moves: armed from rest, the executor
        holds still until it takes a chunk."""
        with self._lock:
            recent = list(itertools.takewhile(lambda c: c.stamp > time_s, reversed(self.echo)))
        moving = [c.arrival for c in recent if np.any(c.velocity != 0.0)]
        return min(moving) if moving else None

    def records(self) -> tuple[list[CommandRecord], list[CommandRecord], int]:
        """The echoed commands, the controller's commands given the tick stamps of their echoes (the two are
        published together, same values), and how many controller commands had no echo."""
        with self._lock:
            echo, forward = list(self.echo), list(self.forward)
        by_values: dict[tuple[float, ...], deque[CommandRecord]] = defaultdict(deque)
        for record in sorted(echo, key=lambda c: c.stamp):
            by_values[tuple(record.positions)].append(record)
        matched, unmatched = [], 0
        for arrival, data in forward:
            queue = by_values.get(data)
            if not queue:
                unmatched += 1
                continue
            twin = queue.popleft()
            matched.append(CommandRecord(arrival, twin.stamp, np.asarray(data), twin.velocity))
        return echo, matched, unmatched

    def close(self) -> None:
        self._thread.stop()
        self.node.destroy_node()


class ExecutorCalls:
    """~/arm and ~/reset_estop, one request at a time so the executor answers them in the order sent. Each
    answer that acknowledges a stop (a disarm, a reset, an arm refused for the latched e-stop) and each arm
    request that succeeded goes to the stop log, before the next request can be sent."""

    def __init__(self, node: Node, stops: StopLog) -> None:
        self._arm = node.create_client(SetBool, f"/{EXECUTOR}/arm")
        self._reset = node.create_client(Trigger, f"/{EXECUTOR}/reset_estop")
        self._stops = stops
        self._pending = None  # (client, future, sent) until the reply has been logged
        self.sent = 0
        self.timeouts = 0

    @property
    def ready(self) -> bool:
        return self._arm.service_is_ready() and self._reset.service_is_ready()

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def arm(self, on: bool):
        return self._send(self._arm, SetBool.Request(data=on), lambda sent, reply: self._on_arm(on, sent, reply))

    def reset(self):
        return self._send(self._reset, Trigger.Request(), self._on_reset)

    def _send(self, client, request, on_reply: Callable[[float, object], None]):
        """The reply is logged in a done callback, which the executor runs after the future is done: the call
        stays busy until then, so a stop is logged before the request that follows it is sent."""
        if self.busy:
            raise RuntimeError("one executor call at a time: wait until not busy")
        sent = now()
        future = client.call_async(request)
        self._pending = (client, future, sent)
        self.sent += 1

        def logged(done) -> None:
            on_reply(sent, done.result())
            if self._pending is not None and self._pending[1] is done:
                self._pending = None

        future.add_done_callback(logged)
        return future

    def _on_arm(self, on: bool, sent: float, reply) -> None:
        if on and reply.success:
            self._stops.armed(sent)
        elif (not on and reply.success) or (on and "e-stop" in reply.message):
            self._stops.acknowledge(now())

    def _on_reset(self, sent: float, reply) -> None:
        if reply.success:  # the e-stop is cleared and the executor disarmed
            self._stops.acknowledge(now())

    def expire(self) -> None:
        """Give up on a request unanswered for CALL_TIMEOUT_S: counted, and its late answer ignored."""
        if self.busy and now() - self._pending[2] > CALL_TIMEOUT_S:
            self._pending[0].remove_pending_request(self._pending[1])
            self._pending = None
            self.timeouts += 1


class NodeWatch:
    """Heartbeats (diagnostics of policy_node and chunk_executor_node, joint states of sim_node), the policy's
    reports of its inference worker, and its published-chunk count."""

    def __init__(self, node: Node) -> None:
        self.heartbeats: dict[str, list[float]] = {"policy_node": [], EXECUTOR: [], "sim_node": []}
        self.worker_dead: list[float] = []
        self.chunk_counts: list[tuple[float, int]] = [(0.0, 0)]
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        node.create_subscription(PolicyStatus, "/policy_node/status", self._on_status, 50)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            name = status.name.removeprefix("fast_vla_ros: ")
            if name in self.heartbeats:
                self.beat(name)
            values = {kv.key: kv.value for kv in status.values}
            if name == "policy_node" and values.get("worker_alive") != "True":
                self.worker_dead.append(now())

    def beat(self, node: str) -> None:
        self.heartbeats[node].append(now())

    def _on_status(self, msg) -> None:
        self.chunk_counts.append((now(), int(msg.chunks_published)))

    def chunks_published(self) -> int:
        return self.chunk_counts[-1][1]

    def chunk_after(self, time_s: float, count: int) -> float | None:
        """Arrival of the first status after ``time_s`` reporting more than ``count`` chunks published."""
        return next((t for t, n in self.chunk_counts if t > time_s and n > count), None)
