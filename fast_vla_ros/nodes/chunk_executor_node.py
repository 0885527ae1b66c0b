"""chunk_executor_node: action chunks in, 50 Hz safe commands out to the arm's controller.

Light and real-time, with three threads so that no input can delay a tick or the e-stop:
  control   the 50 Hz tick and ``~/estop``, on a node of their own (``<name>_control``, no parameters)
            spun by its own single-threaded executor, SCHED_FIFO when permitted;
  inputs    chunks and joint states (taken as raw bytes and refused by size before deserializing),
            ``~/arm``, ``~/reset_estop`` and diagnostics, on the main executor;
  planner   the trajectory previews of the trajectory output modes (milliseconds each), newest only.
The ``ChunkScheduler`` is not thread-safe: every call holds ``_scheduler_lock``, and each is bounded (a chunk
has at most ``scheduler.max_chunk_steps`` steps). The e-stop needs no lock another thread could hold for
long: it latches a flag under ``_output_lock``, which every publication of a command checks, so nothing is
commanded after it returns. The heavy policy lives in another process.

Interfaces (relative names resolve in the node's namespace):
  subscribes  action_chunk (fast_vla_ros/ActionChunk), joint_states (sensor_msgs/JointState),
              ~/estop (std_msgs/Bool, true latches a stop)
  publishes   /<controller_name>/commands (std_msgs/Float64MultiArray) every tick   [forward_position]
              /<controller_name>/joint_trajectory (trajectory_msgs/JointTrajectory)  [joint_trajectory]
              FollowJointTrajectory goals on /<controller_name>/follow_joint_trajectory
                                                                         [follow_joint_trajectory]
              <joint_command_topic> (sensor_msgs/JointState: names, positions, velocities) every tick
                         [joint_state: Isaac Sim's articulation controller, topic_based_ros2_control]
              ~/command (sensor_msgs/JointState: each tick's commanded positions and velocities, for
                         plots and rosbag)
              /diagnostics (diagnostic_msgs/DiagnosticArray, 1 Hz)
  services    ~/arm (std_srvs/SetBool), ~/reset_estop (std_srvs/Trigger)
"""

from __future__ import annotations

import sys
import threading
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from fast_vla_ros.execution.config import ExecutionConfig
from fast_vla_ros.execution.outputs import JointTrajectory as PlannedTrajectory
from fast_vla_ros.execution.outputs import forward_position_command
from fast_vla_ros.execution.scheduler import ChunkScheduler, PlanRequest
from fast_vla_ros.execution.status import Status
from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.nodes.background import LatestOnlyWorker, SpinningThread, use_realtime_priority
from fast_vla_ros.nodes.conversions import InvalidInput, msg_to_action_chunk, seconds_to_stamp, stamp_to_seconds
from fast_vla_ros.nodes.diagnostics import diagnostic_array
from fast_vla_ros.nodes.node_main import run_node
from fast_vla_ros.nodes.parameters import config_sections, declare_joint_limits, declare_sections

OUTPUT_MODES = ("forward_position", "joint_trajectory", "follow_joint_trajectory", "joint_state")
TRAJECTORY_MODES = ("joint_trajectory", "follow_joint_trajectory")
# Controllers subscribe with the system default QoS (reliable, volatile): match it exactly.
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Serialized bytes a chunk may take beyond its positions (header, names, tokens, tokenizer name).
CHUNK_OVERHEAD_BYTES = 64 * 1024
GIL_SWITCH_INTERVAL_S = 0.0005
STOP_DELIVERY_TIMEOUT_S = 0.5  # at shutdown, how long the controller may take to acknowledge the stop


def seconds_to_duration_fields(seconds: float) -> tuple[int, int]:
    sec = int(np.floor(seconds))
    return sec, int(round((seconds - sec) * 1e9))


def trajectory_msg(planned: PlannedTrajectory) -> JointTrajectory:
    """An explicit header stamp so the controller starts the trajectory where the executor planned it."""
    msg = JointTrajectory()
    msg.header.stamp = seconds_to_stamp(planned.start_time)
    msg.joint_names = list(planned.joint_names)
    for point in planned.points:
        sec, nanosec = seconds_to_duration_fields(point.time_from_start)
        out = JointTrajectoryPoint(positions=point.positions.tolist(), velocities=point.velocities.tolist())
        out.time_from_start.sec, out.time_from_start.nanosec = sec, nanosec
        msg.points.append(out)
    return msg


class ChunkExecutorNode(Node):
    def __init__(self) -> None:
        super().__init__("chunk_executor_node")
        self._control_thread: SpinningThread | None = None
        self._planner: LatestOnlyWorker[PlanRequest] | None = None
        self._mode = self.declare_parameter("output_mode", "forward_position").value
        controller = self.declare_parameter("controller_name", "forward_position_controller").value
        # Isaac Sim's "ROS2 Subscribe Joint State" node listens on /joint_command by default.
        joint_command_topic = self.declare_parameter("joint_command_topic", "/joint_command").value
        start_armed = self.declare_parameter("start_armed", False).value
        diagnostics_period = self.declare_parameter("diagnostics_period", 1.0).value
        thread_priority = int(self.declare_parameter("thread_priority", 0).value)
        input_priority = max(thread_priority - 1, 0)
        # A JointState of 100 000 names took 40 ms to deserialize; one arm's is under 2 kB.
        self._max_joint_state_bytes = int(self.declare_parameter("max_joint_state_bytes", 65536).value)
        if self._mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got '{self._mode}'")
        if self._max_joint_state_bytes < 1024:
            raise ValueError(f"max_joint_state_bytes must be >= 1024, got {self._max_joint_state_bytes}")
        config = ExecutionConfig.from_mapping(declare_sections(self, config_sections(ExecutionConfig)))
        self._scheduler = ChunkScheduler(declare_joint_limits(self), config)
        self._max_chunk_bytes = 8 * config.scheduler.max_chunk_steps * len(self._scheduler.joint_names)
        self._max_chunk_bytes += CHUNK_OVERHEAD_BYTES
        self._period = config.scheduler.control_period
        # Every Python thread here shares one GIL, so the control thread waits whenever another holds it: up
        # to Python's switch interval (5 ms by default; every holder here is short, so 0.5 ms costs little),
        # and for as long as the holder is itself preempted. The input and planner threads therefore run
        # SCHED_FIFO one level below the control thread: no other process can preempt them while the tick
        # waits for their GIL. Measured: tick jitter p99 0.5-0.7 ms against 0.9-3.3 ms without.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        self._scheduler_lock = threading.Lock()
        self._output_lock = threading.Lock()  # a command's publication against the e-stop latch
        self._estop_latched = False

        self.create_subscription(ActionChunkMsg, "action_chunk", self._on_chunk, 10, raw=True)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, qos_profile_sensor_data, raw=True)
        self.create_service(SetBool, "~/arm", self._on_arm)
        self.create_service(Trigger, "~/reset_estop", self._on_reset)
        self._command_echo = self.create_publisher(JointState, "~/command", 10)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._forward = self._trajectory = self._action_client = self._goal_handle = self._joint_command = None
        if self._mode == "forward_position":
            self._forward = self.create_publisher(Float64MultiArray, f"/{controller}/commands", COMMAND_QOS)
            destination = f"/{controller}/commands"
        elif self._mode == "joint_trajectory":
            self._trajectory = self.create_publisher(JointTrajectory, f"/{controller}/joint_trajectory", COMMAND_QOS)
            destination = f"/{controller}/joint_trajectory"
        elif self._mode == "follow_joint_trajectory":
            self._action_client = self._follow_joint_trajectory_client(controller)
            destination = f"/{controller}/follow_joint_trajectory"
        else:
            self._joint_command = self.create_publisher(JointState, joint_command_topic, COMMAND_QOS)
            destination = self._joint_command.topic_name
        if self._mode in TRAJECTORY_MODES:
            self._planner = LatestOnlyWorker(
                self._publish_plan, "trajectory_planner", self._on_planner_error, input_priority
            )

        self._tick_times: deque[float] = deque(maxlen=int(round(10.0 / self._period)))
        self._last_status: tuple[Status, object] | None = None
        self._last_problem, self._last_problem_time = "", -np.inf
        self._chunk_latencies: deque[float] = deque(maxlen=50)
        self._joint_state_time: float | None = None
        self._chunk_time: float | None = None
        self.create_timer(diagnostics_period, self._publish_diagnostics)
        if start_armed:
            self.get_logger().info("start_armed is set: arming at the first fresh joint state")
        self._arm_when_possible = bool(start_armed)

        # The tick and the e-stop: a node of their own, so no input callback can make them wait.
        control = Node(
            f"{self.get_name()}_control",
            namespace=self.get_namespace(),
            context=self.context,
            use_global_arguments=False,  # a launch file's __node:= remap must not give it the main node's name
            start_parameter_services=False,
            parameter_overrides=[Parameter("use_sim_time", value=self.get_parameter("use_sim_time").value)],
        )
        control.create_subscription(Bool, self.resolve_topic_name("~/estop"), self._on_estop, 10)
        self._control_clock = control.get_clock()
        control.create_timer(self._period, self._on_tick)
        self._control_thread = SpinningThread(control, "control", thread_priority, self._on_priority)
        self._control_thread.start()
        # This thread builds the node and then spins its inputs (run_node).
        if input_priority > 0 and use_realtime_priority(input_priority) is None:
            self.get_logger().info(f"input and planner threads run with SCHED_FIFO {input_priority}")
        self.get_logger().info(
            f"ready: {len(self._scheduler.joint_names)} joints, output {self._mode} to {destination}, "
            f"strategy {config.scheduler.strategy.value}, {1 / self._period:.0f} Hz; disarmed until ~/arm"
        )

    def _on_priority(self, refused: str | None) -> None:
        if refused is None:
            self.get_logger().info("control thread runs with SCHED_FIFO")
        else:
            self.get_logger().warning(
                f"could not set SCHED_FIFO for the control thread ({refused}); ticks may jitter on a loaded "
                "machine. Allow it with an rtprio limit (/etc/security/limits.conf) or CAP_SYS_NICE."
            )

    def _follow_joint_trajectory_client(self, controller: str):
        try:
            from control_msgs.action import FollowJointTrajectory
            from rclpy.action import ActionClient
        except ImportError as error:
            raise RuntimeError(
                "output_mode follow_joint_trajectory needs control_msgs, which is not importable here "
                f"({error}); install ros-<distro>-control-msgs or use joint_trajectory / forward_position"
            ) from error
        self._goal_type = FollowJointTrajectory.Goal
        return ActionClient(self, FollowJointTrajectory, f"/{controller}/follow_joint_trajectory")

    def _now(self) -> float:
        """The executor's one clock: the control node's, which fires the tick. Under use_sim_time each node keeps
        its own /clock subscription; judging an input's arrival by a clock served on another thread than the tick
        would make it look older by however far that thread lags."""
        return self._control_clock.now().nanoseconds * 1e-9

    # -- inputs ---------------------------------------------------------------------------------------

    def _on_joint_state(self, data: bytes) -> None:
        received = self._now()
        if len(data) > self._max_joint_state_bytes:
            limit = self._max_joint_state_bytes
            self._problem(f"joint state rejected: {len(data)} bytes, more than max_joint_state_bytes={limit}")
            return
        msg = deserialize_message(data, JointState)
        stamp = stamp_to_seconds(msg.header.stamp) or received  # some drivers leave the stamp at zero
        with self._scheduler_lock:
            verdict = self._scheduler.update_joint_state(msg.name, msg.position, stamp, received)
            armed_now = verdict and self._arm_when_possible and bool(self._scheduler.arm(received))
        if not verdict:
            self._problem(f"joint state rejected ({verdict.reason.value}): {verdict.message}")
            return
        self._joint_state_time = received
        if armed_now:
            self._arm_when_possible = False
            self.get_logger().info("armed")

    def _on_chunk(self, data: bytes) -> None:
        now = self._now()
        if len(data) > self._max_chunk_bytes:
            self._problem(
                f"action chunk rejected: {len(data)} bytes, more than scheduler.max_chunk_steps allows "
                f"({self._max_chunk_bytes} bytes for {len(self._scheduler.joint_names)} joints)"
            )
            return
        try:
            chunk = msg_to_action_chunk(deserialize_message(data, ActionChunkMsg))
        except (InvalidInput, ValueError) as error:
            self._problem(f"action chunk rejected: {error}")
            return
        with self._scheduler_lock:
            verdict = self._scheduler.add_chunk(chunk, now)
            request = self._scheduler.plan_request() if verdict and self._planner else None
        if not verdict:
            self._problem(f"action chunk rejected ({verdict.reason.value}): {verdict.message}")
            return
        self._chunk_time = now
        self._chunk_latencies.append(now - chunk.t0)
        if request is not None:
            self._planner.submit(request)

    def _on_estop(self, msg: Bool) -> None:
        """Runs on the control thread. Latches first, under the lock every command publication checks, so that
        nothing is commanded once this returns; the scheduler is told after, and decelerates to a hold."""
        if not msg.data:
            return
        with self._output_lock:
            first = not self._estop_latched
            self._estop_latched = True
            self._stop_controller()
        with self._scheduler_lock:
            self._scheduler.estop()
        if first:
            self.get_logger().warning("E-STOP latched: commands stopped; call ~/reset_estop then ~/arm to resume")

    def _on_arm(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if request.data:
            with self._scheduler_lock:
                verdict = self._scheduler.arm(self._now())
            response.success, response.message = verdict.accepted, verdict.message or "armed"
        else:
            with self._scheduler_lock:
                self._scheduler.disarm()
            with self._output_lock:
                self._stop_controller()
            self._arm_when_possible = False
            response.success, response.message = True, "disarmed"
        self.get_logger().info(f"arm({request.data}): {response.message}")
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._scheduler_lock, self._output_lock:
            self._scheduler.reset()
            self._estop_latched = False
        self.get_logger().info("e-stop reset; disarmed until ~/arm")
        response.success, response.message = True, "e-stop cleared, disarmed"
        return response

    # -- output ---------------------------------------------------------------------------------------

    def _on_tick(self) -> None:
        """Runs on the control thread: the scheduler's tick, then one command, unless stopped."""
        now = self._now()
        if self._tick_times and now < self._tick_times[-1]:
            self.get_logger().warning(
                f"the clock jumped back {self._tick_times[-1] - now:.3f} s (a simulator reset?): active chunks "
                "dropped; holding until joint states and a chunk of the new timeline arrive"
            )
        with self._scheduler_lock:
            self._tick_times.append(now)
            command = self._scheduler.tick(now)
            status = (command.status, command.hold_reason)
            hold_started = status != self._last_status and command.status is Status.HOLDING
            # The controller must learn about a stop now, not at the next chunk.
            request = self._scheduler.plan_request() if hold_started and self._planner else None
        if status != self._last_status:
            reason = f" ({command.hold_reason.value})" if command.hold_reason else ""
            self.get_logger().info(f"{command.status.value}{reason}")
            self._last_status = status
        if request is not None:
            self._planner.submit(request)
        forward = forward_position_command(command)
        if forward is None:
            return  # disarmed: publish nothing; the controller holds its last command
        echo = JointState(name=list(command.joint_names), position=list(forward.data),
                          velocity=command.velocities.tolist())
        echo.header.stamp = seconds_to_stamp(now)
        with self._output_lock:
            if self._estop_latched:
                return  # e-stopped: the controller holds its last command
            if self._forward is not None:
                self._forward.publish(Float64MultiArray(data=list(forward.data)))
            elif self._joint_command is not None:
                self._joint_command.publish(echo)
            self._command_echo.publish(echo)

    def _stop_controller(self) -> None:
        """Make a trajectory controller drop what it was executing: the forward controller already holds
        its last command, but a JointTrajectoryController would play the rest of the previewed trajectory.
        An empty trajectory (or cancelling the goal) makes it hold the current position. Call under
        ``_output_lock``."""
        if self._trajectory is not None:
            self._trajectory.publish(JointTrajectory(joint_names=list(self._scheduler.joint_names)))
        elif self._goal_handle is not None:
            self._goal_handle.cancel_goal_async()
            self._goal_handle = None

    def _publish_plan(self, request: PlanRequest) -> None:
        """Runs on the planner thread: the preview of what the ticks will command, for a trajectory controller."""
        planned = self._scheduler.plan_from(request)
        if planned is None or not planned.points:
            return
        msg = trajectory_msg(planned)
        with self._output_lock:
            if self._estop_latched or request.estopped:
                return
            if self._trajectory is not None:
                self._trajectory.publish(msg)
            elif self._action_client.server_is_ready():
                future = self._action_client.send_goal_async(self._goal_type(trajectory=msg))
                future.add_done_callback(self._on_goal_response)
            else:
                self._problem("FollowJointTrajectory server not available; goal not sent")

    def _on_planner_error(self, error: Exception) -> None:
        self._problem(f"trajectory planning failed: {type(error).__name__}: {error}")

    def _on_goal_response(self, future) -> None:
        handle = future.result()
        if handle.accepted:
            with self._output_lock:
                self._goal_handle = handle
        else:
            self._problem("FollowJointTrajectory goal rejected by the controller")

    # -- reporting ------------------------------------------------------------------------------------

    def _problem(self, message: str) -> None:
        """Log a rejected input once per distinct message (a bad stream must not flood the log)."""
        if message != self._last_problem:
            self.get_logger().warning(message)
        self._last_problem, self._last_problem_time = message, self._now()

    def _publish_diagnostics(self) -> None:
        now = self._now()
        with self._scheduler_lock:
            tick_times = np.asarray(self._tick_times)
            armed, estopped, counters = self._scheduler.armed, self._scheduler.estopped, self._scheduler.counters()
        periods = np.diff(tick_times) if len(tick_times) > 2 else np.zeros(1)
        jitter_ms = np.abs(periods - self._period) * 1e3
        state = self._last_status[0].value if self._last_status else "starting"
        hold = self._last_status[1].value if self._last_status and self._last_status[1] else ""
        values: dict[str, object] = {
            "state": state,
            "hold_reason": hold,
            "armed": armed,
            "estopped": estopped,
            "output_mode": self._mode,
            "tick_jitter_ms_p50": float(np.percentile(jitter_ms, 50)),
            "tick_jitter_ms_p99": float(np.percentile(jitter_ms, 99)),
            "joint_state_age_s": now - self._joint_state_time if self._joint_state_time else float("inf"),
            "chunk_age_s": now - self._chunk_time if self._chunk_time else float("inf"),
            "chunk_latency_s_mean": float(np.mean(self._chunk_latencies)) if self._chunk_latencies else 0.0,
            "last_problem": self._last_problem,
        }
        values.update(counters)
        recent_problem = now - self._last_problem_time < 5.0
        level = "error" if estopped else "warn" if hold or recent_problem else "ok"
        self._diagnostics.publish(diagnostic_array(self, level, f"{state} {hold}".strip(), values))

    def destroy_node(self) -> None:
        """The control and planner threads stop first, so no callback of theirs meets a destroyed publisher.
        Then a JointTrajectoryController would play out the rest of the previewed trajectory (up to
        trajectory.max_duration) after the executor is gone: an armed executor makes it hold first."""
        if self._control_thread is not None:
            self._control_thread.stop()
        if self._planner is not None:
            self._planner.stop()
        scheduler = getattr(self, "_scheduler", None)  # absent when a bad parameter ended the start
        if scheduler is not None and scheduler.armed:
            with self._output_lock:
                self._stop_controller()
            if self._trajectory is not None:
                self._trajectory.wait_for_all_acked(Duration(seconds=STOP_DELIVERY_TIMEOUT_S))
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(ChunkExecutorNode, "chunk_executor_node", args)


if __name__ == "__main__":
    sys.exit(main())
