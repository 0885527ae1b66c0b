"""expert_teleop_node: the simulator's scripted expert, teleoperating the simulated arm over ROS.

A stand-in for a person with a teleop device, so the data flywheel runs on a laptop. For each episode it
does what an operator does: lays out the scene (``sim_node``'s ``task`` and ``seed`` parameters, then
``~/reset``), publishes the task on ``instruction``, starts the recorder, moves the arm by publishing
forward position commands at 50 Hz along the expert's plan (planned from the measured joint state, for
the layout the seed gives), and stops the recorder, keeping the episode when ``sim_node`` reports success
and discarding it otherwise. It never touches the simulator's internals: commands go out on the
controller's topic as any teleop's would.

The sequence runs on a worker thread that waits on service replies and messages (events the executor
delivers); the executor only runs callbacks.

Interfaces:
  publishes   /<forward_controller>/commands (std_msgs/Float64MultiArray), instruction (std_msgs/String,
              reliable + transient local), ~/status (std_msgs/String, JSON: state, seed, episodes kept (written
              by the recorder), discarded (the task failed) and failed (a step or the write failed), last error)
  subscribes  joint_states, /<sim_node>/success (std_msgs/Bool), /<recorder_node>/status (std_msgs/String)
  calls       /<sim_node>/set_parameters, /<sim_node>/reset, /<recorder_node>/start_episode and
              /<recorder_node>/stop_episode (recording is skipped when recorder_node is empty)
"""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger

from fast_vla_ros.data.arm_messages import joint_state_arrays, stamp_seconds
from fast_vla_ros.data.image_messages import InvalidInput
from fast_vla_ros.nodes.node_main import run_node
from fast_vla_ros.sim.expert import ScriptedExpert, UnreachablePose
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.sim.tasks import TASK_FAMILIES

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
REPLY_TIMEOUT_S = 30.0


class OperatorError(RuntimeError):
    """A step of the episode that did not happen (a service missing or refusing); the text says which."""


class ExpertTeleopNode(Node):
    def __init__(self) -> None:
        super().__init__("expert_teleop_node")
        self._task = self.declare_parameter("task", "touch").value
        self._seed = int(self.declare_parameter("seed", 0).value)
        self._episodes = int(self.declare_parameter("episodes", 1).value)  # episodes to keep
        self._max_attempts = int(self.declare_parameter("max_attempts", 0).value) or 3 * self._episodes + 5
        sim = self.declare_parameter("sim_node", "sim_node").value
        recorder = self.declare_parameter("recorder_node", "recorder_node").value
        forward = self.declare_parameter("forward_controller", "forward_position_controller").value
        self._success_timeout = float(self.declare_parameter("success_timeout", 2.0).value)
        if self._task not in TASK_FAMILIES:
            raise ValueError(f"unknown task '{self._task}'; known tasks are {sorted(TASK_FAMILIES)}")
        if self._episodes < 0:
            raise ValueError(f"episodes must be >= 0, got {self._episodes}")

        self._scene = ArmSimulator()  # the layouts the seeds give, for planning; never rendered or stepped
        self._expert = ScriptedExpert(self._scene.arm)
        self._commands = self.create_publisher(Float64MultiArray, f"/{forward}/commands", 10)
        self._instruction = self.create_publisher(String, "instruction", LATCHED)
        self._status_pub = self.create_publisher(String, "~/status", LATCHED)
        self._set_parameters = self.create_client(SetParameters, f"/{sim}/set_parameters")
        self._reset = self.create_client(Trigger, f"/{sim}/reset")
        self._recorder_start = self._recorder_stop = None
        if recorder:
            self._recorder_start = self.create_client(Trigger, f"/{recorder}/start_episode")
            self._recorder_stop = self.create_client(SetBool, f"/{recorder}/stop_episode")
            self.create_subscription(String, f"/{recorder}/status", self._on_recorder_status, 10)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, 10)
        self.create_subscription(Bool, f"/{sim}/success", self._on_success, 10)

        self._changed = threading.Condition()
        self._joint_state: tuple[float, np.ndarray] | None = None
        self._success: tuple[float, bool] | None = None
        self._recorder_instruction = ""
        self._recorder_reports = 0
        self._recorder_outcomes = (0, 0)  # episodes the recorder wrote, and failed to write
        self._recorder_error = ""
        self._shutdown = threading.Event()
        self._status = {
            "state": "starting", "seed": self._seed, "kept": 0, "discarded": 0, "failed": 0, "last_error": ""
        }
        self._worker = threading.Thread(target=self._run, name="expert_teleop", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"ready: {self._episodes} '{self._task}' episodes from seed {self._seed}, commands on /{forward}/commands"
            + (f", recorded by {recorder}" if recorder else ", not recorded")
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # -- callbacks: store and notify ---------------------------------------------------------------

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            positions, _ = joint_state_arrays(msg, self._scene.joint_names)
        except InvalidInput:
            return
        with self._changed:
            self._joint_state = (stamp_seconds(msg.header.stamp) or self._now(), positions)
            self._changed.notify_all()

    def _on_success(self, msg: Bool) -> None:
        with self._changed:
            self._success = (self._now(), bool(msg.data))
            self._changed.notify_all()

    def _on_recorder_status(self, msg: String) -> None:
        try:
            status = json.loads(msg.data)
            instruction = status["instruction"]
            outcomes = (int(status["episodes_written"]), int(status["episodes_failed"]))
        except (ValueError, KeyError, TypeError):
            return
        with self._changed:
            self._recorder_instruction = instruction
            self._recorder_outcomes, self._recorder_error = outcomes, str(status.get("last_error", ""))
            self._recorder_reports += 1
            self._changed.notify_all()

    # -- the operator's sequence, on the worker thread ---------------------------------------------

    def _run(self) -> None:
        attempts = 0
        while self._status["kept"] < self._episodes and attempts < self._max_attempts:
            if self._shutdown.is_set():
                return
            attempts += 1
            try:
                self._episode(self._seed)
            except OperatorError as error:
                self._publish_status(last_error=str(error), failed=self._status["failed"] + 1)
                self.get_logger().error(str(error))
            self._seed += 1
        self._publish_status(state="done", seed=self._seed)

    def _episode(self, seed: int) -> None:
        self._publish_status(state="resetting", seed=seed)
        self._call(self._set_parameters, SetParameters.Request(parameters=[
            Parameter(name="task", value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=self._task)),
            Parameter(name="seed", value=ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=seed)),
        ]))  # fmt: skip
        instruction = self._call(self._reset, Trigger.Request()).message
        reset_at = self._now()
        self._instruction.publish(String(data=instruction))
        self._wait(lambda: self._joint_state is not None and self._joint_state[0] > reset_at, "a joint state")
        # A teleop streams from the moment it is engaged: first "stay where you are", which also replaces the
        # previous episode's last command as the one in force when the recording starts.
        self._commands.publish(Float64MultiArray(data=self._joint_state[1].tolist()))
        self._scene.reset(self._task, seed)
        try:
            plan = self._expert.plan(self._scene.episode, self._joint_state[1], np.random.default_rng((seed, 1)))
        except UnreachablePose as error:
            raise OperatorError(f"seed {seed}: the expert found no plan ({error}); next seed") from error
        if self._recorder_start is not None:
            self._wait(lambda: self._recorder_instruction == instruction, "the recorder to take the instruction")
            self._start_recording(seed)
        self._publish_status(state="teleoperating", instruction=instruction)
        self._execute(plan)
        finished_at = self._now()
        self._wait(lambda: self._success is not None and self._success[0] > finished_at, "sim_node's success report")
        succeeded = self._success[1]
        if self._recorder_stop is not None:
            written, failed = self._recorder_outcomes
            reply = self._call(self._recorder_stop, SetBool.Request(data=succeeded))
            if not reply.success:
                raise OperatorError(f"seed {seed}: the recorder refused to stop: {reply.message}")
            if succeeded:  # kept only once written: the recorder may still refuse it (a stalled stream, a full disk)
                self._wait(lambda: sum(self._recorder_outcomes) > written + failed, "the recorder's outcome")
                if self._recorder_outcomes[1] > failed:
                    raise OperatorError(f"seed {seed}: {self._recorder_error}")
        key = "kept" if succeeded else "discarded"
        self._publish_status(state="between episodes", **{key: self._status[key] + 1})
        self.get_logger().info(f"seed {seed}: \"{instruction}\" {'succeeded' if succeeded else 'failed'} ({key})")

    def _start_recording(self, seed: int) -> None:
        """Start the recorder, asking again after each of its status reports while it refuses (it has not yet
        heard from every camera, say), up to the reply timeout."""
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while True:
            reply = self._call(self._recorder_start, Trigger.Request())
            if reply.success:
                return
            if time.monotonic() > deadline:
                raise OperatorError(f"seed {seed}: the recorder refused to start: {reply.message}")
            reports = self._recorder_reports
            self._wait(lambda r=reports: self._recorder_reports > r, "recorder status")

    def _execute(self, plan: np.ndarray) -> None:
        """Publish the plan's rows at their times (the expert's control period), as a teleop streams."""
        began = time.monotonic()
        for row, target in enumerate(plan):
            if self._shutdown.wait(max(0.0, began + row * self._expert.control_dt - time.monotonic())):
                return
            self._commands.publish(Float64MultiArray(data=target.tolist()))

    def _wait(self, condition, what: str) -> None:
        """Until ``condition()`` holds (made true by a callback); OperatorError at the timeout."""
        with self._changed:
            if not self._changed.wait_for(lambda: condition() or self._shutdown.is_set(), REPLY_TIMEOUT_S):
                raise OperatorError(f"no {what} within {REPLY_TIMEOUT_S:g} s")
            if self._shutdown.is_set():
                raise OperatorError("shutting down")

    def _call(self, client, request):
        if not client.wait_for_service(timeout_sec=REPLY_TIMEOUT_S):
            raise OperatorError(f"service {client.srv_name} is not available")
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(REPLY_TIMEOUT_S) or future.result() is None:
            raise OperatorError(f"no reply from {client.srv_name} within {REPLY_TIMEOUT_S:g} s")
        return future.result()

    def _publish_status(self, **changes: object) -> None:
        self._status.update(changes)
        self._status_pub.publish(String(data=json.dumps(self._status)))

    def destroy_node(self) -> None:
        self._shutdown.set()
        with self._changed:
            self._changed.notify_all()
        self._worker.join(timeout=2.0)
        self._scene.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(ExpertTeleopNode, "expert_teleop_node", args)


if __name__ == "__main__":
    sys.exit(main())
