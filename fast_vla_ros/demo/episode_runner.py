"""The operator's side of the demo, over real topics and services: reset the simulated task, send its
instruction, arm the executor, and watch until the task succeeds or time runs out.

Everything is event driven: each wait spins the ROS executor until a message or a service reply makes
its condition true, or its deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool, Trigger

from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.msg import PolicyStatus
from fast_vla_ros.nodes.conversions import image_to_rgb

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Parameters beside config/sim.yaml for the nodes this runner operates: it disarms, resets and arms by
# itself, so sim_node must not hold the arm across resets as well (fast_vla_ros/nodes/reset_hold.py).
NODE_OVERRIDES: dict[str, dict[str, str]] = {"sim_node": {"hold_arm_on_reset": "false", "forward_instruction": "false"}}


@dataclass
class EpisodeRecord:
    """What one episode looked like from outside the nodes; times are seconds since the episode armed."""

    task: str
    seed: int
    instruction: str = ""
    success: bool = False
    seconds: float = 0.0
    inference_latencies: list[float] = field(default_factory=list)
    interventions: dict[str, int] = field(default_factory=dict)
    joint_names: tuple[str, ...] = ()
    measured: list[tuple[float, np.ndarray]] = field(default_factory=list)
    commanded: list[tuple[float, np.ndarray]] = field(default_factory=list)
    chunk_arrivals: list[float] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    armed: bool = False  # False when the policy never planned for the instruction in time


class EpisodeRunner:
    def __init__(self, context: object, alive_check: Callable[[], None], frame_every: int = 2) -> None:
        self.node = Node("fast_vla_demo", context=context)
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self.node)
        self._alive_check = alive_check
        self._frame_every = frame_every
        self._record: EpisodeRecord | None = None
        self._t0 = 0.0
        self._frame_count = 0
        self._success = False
        self.policy_status: PolicyStatus | None = None
        self._executor_diagnostics: dict[str, str] = {}
        self._executor_diagnostics_count = 0
        self._interventions_at_start: dict[str, int] = {}
        node = self.node
        node.create_subscription(JointState, "/joint_states", self._on_joint_state, qos_profile_sensor_data)
        node.create_subscription(JointState, "/chunk_executor_node/command", self._on_command, 50)
        node.create_subscription(ActionChunkMsg, "/action_chunk", self._on_chunk, 10)
        node.create_subscription(Image, "/camera/scene/image_raw", self._on_frame, qos_profile_sensor_data)
        node.create_subscription(Bool, "/sim_node/success", self._on_success, 10)
        node.create_subscription(PolicyStatus, "/policy_node/status", self._on_policy_status, 10)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 20)
        self._instruction = node.create_publisher(String, "/instruction", LATCHED)
        self._set_parameters = node.create_client(SetParameters, "/sim_node/set_parameters")
        self._reset = node.create_client(Trigger, "/sim_node/reset")
        self._arm = node.create_client(SetBool, "/chunk_executor_node/arm")

    # -- waiting on events ----------------------------------------------------------------------------

    def spin_until(self, done: Callable[[], bool], timeout_s: float, what: str) -> bool:
        deadline = time.monotonic() + timeout_s
        checked = 0.0
        while not done():
            now = time.monotonic()
            if now > deadline:
                return False
            if now - checked > 1.0:
                self._alive_check()
                checked = now
            self._executor.spin_once(timeout_sec=0.05)
        return True

    def _call(self, client, request, timeout_s: float = 30.0):
        name = client.srv_name
        if not self.spin_until(client.service_is_ready, timeout_s, f"service {name}"):
            raise TimeoutError(f"service {name} not available after {timeout_s:.0f} s")
        future = client.call_async(request)
        if not self.spin_until(future.done, timeout_s, f"reply of {name}"):
            raise TimeoutError(f"no reply from {name} within {timeout_s:.0f} s")
        return future.result()

    def wait_until_ready(self, timeout_s: float) -> None:
        """Until every node has answered once: the policy has warmed up, the sim and executor serve."""
        for client in (self._reset, self._arm, self._set_parameters):
            if not self.spin_until(client.service_is_ready, timeout_s, client.srv_name):
                raise TimeoutError(f"{client.srv_name} not available after {timeout_s:.0f} s")
        if not self.spin_until(lambda: self.policy_status is not None, timeout_s, "policy_node status"):
            raise TimeoutError(f"policy_node published no status within {timeout_s:.0f} s")

    # -- one episode ----------------------------------------------------------------------------------

    def run_episode(self, task: str, seed: int, timeout_s: float) -> EpisodeRecord:
        record = self.begin_episode(task, seed, timeout_s)
        if record.armed:
            record.success = self.spin_until(lambda: self._success, timeout_s, "task success")
        return self.end_episode(record)

    def begin_episode(self, task: str, seed: int, timeout_s: float) -> EpisodeRecord:
        """Reset the simulated task, send its instruction, and arm once the policy has planned for it;
        from then on everything the arm does is recorded into the returned record."""
        self.arm(False)
        reply = self._call(self._set_parameters, SetParameters.Request(parameters=[
            Parameter(name="task", value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=task)),
            Parameter(name="seed", value=ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=seed)),
        ]))
        refused = [r.reason for r in reply.results if not r.successful]
        if refused:
            raise ValueError(f"sim_node refused task '{task}': {refused}")
        record = EpisodeRecord(task=task, seed=seed, instruction=self._call(self._reset, Trigger.Request()).message)
        # Arm only once the policy has planned for this instruction: no chunk of the previous task runs.
        planned = self.send_instruction(record.instruction, timeout_s)
        self._interventions_at_start = self._intervention_counts()
        self._success, self._frame_count = False, 0
        self._t0 = time.monotonic()
        self._record = record
        record.armed = planned and self.arm(True)
        return record

    def end_episode(self, record: EpisodeRecord) -> EpisodeRecord:
        """Disarm, stop recording, and count the safety interventions the episode caused."""
        record.seconds = time.monotonic() - self._t0
        self._record = None
        self.arm(False)
        self.wait_for_executor_diagnostics(lambda _: True, 5.0, "executor diagnostics")
        after, before = self._intervention_counts(), self._interventions_at_start
        record.interventions = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
        return record

    def send_instruction(self, instruction: str, timeout_s: float) -> bool:
        """Publish ``instruction``; True once the policy has published a chunk planned for it."""
        published_before = self.policy_status.chunks_published if self.policy_status else 0
        self._instruction.publish(String(data=instruction))
        return self.spin_until(
            lambda: self.policy_status is not None
            and self.policy_status.instruction == instruction
            and self.policy_status.chunks_published > published_before,
            timeout_s,
            "a chunk for the new instruction",
        )

    def wait_for_executor_diagnostics(
        self, done: Callable[[dict[str, str]], bool], timeout_s: float, what: str
    ) -> bool:
        """True once a diagnostics message received after this call satisfies ``done``. The one already
        held can predate what the caller just did: the executor publishes about once a second."""
        seen = self._executor_diagnostics_count
        return self.spin_until(
            lambda: self._executor_diagnostics_count > seen and done(self._executor_diagnostics), timeout_s, what
        )

    def arm(self, armed: bool) -> bool:
        return bool(self._call(self._arm, SetBool.Request(data=armed)).success)

    @property
    def executor_diagnostics(self) -> dict[str, str]:
        return self._executor_diagnostics

    @property
    def success(self) -> bool:
        return self._success

    def _intervention_counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._executor_diagnostics.items() if k.startswith("intervention.")}

    # -- recording ------------------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0

    def _on_joint_state(self, msg: JointState) -> None:
        if self._record is not None:
            self._record.joint_names = tuple(msg.name)
            self._record.measured.append((self._elapsed(), np.array(msg.position)))

    def _on_command(self, msg: JointState) -> None:
        if self._record is not None:
            self._record.commanded.append((self._elapsed(), np.array(msg.position)))

    def _on_chunk(self, msg: ActionChunkMsg) -> None:
        if self._record is not None:
            self._record.inference_latencies.append(msg.inference_latency)
            self._record.chunk_arrivals.append(self._elapsed())

    def _on_frame(self, msg: Image) -> None:
        if self._record is not None:
            if self._frame_count % self._frame_every == 0:
                self._record.frames.append(image_to_rgb(msg))
            self._frame_count += 1

    def _on_success(self, msg: Bool) -> None:
        self._success = self._success or (self._record is not None and msg.data)

    def _on_policy_status(self, msg: PolicyStatus) -> None:
        self.policy_status = msg

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith("chunk_executor_node"):
                self._executor_diagnostics = {kv.key: kv.value for kv in status.values}
                self._executor_diagnostics_count += 1

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()
