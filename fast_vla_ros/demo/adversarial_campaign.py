"""An adversarial campaign against the running nodes, for benchmarks/fuzz.py: the operator and the attacker in
one process.

sim_node supplies valid joint states and camera frames (the campaign relays the scene camera PNG-compressed,
so the policy's compressed-image path is exercised too); the campaign keeps a valid instruction and arms the
executor. Class after class, a storm of one message class (fast_vla_ros/demo/adversarial_inputs.py, e-stop
storms, service calls at random) runs on a timer while the campaign arms the executor, lets it command for a
while, e-stops it and has the stop confirmed, again and again; when the storm ends it restores valid inputs
and re-arms, and measures how long the policy and the executor take to recover. What happened is recorded
(campaign_observers.py) and judged afterwards (command_audit.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from fast_vla_ros.demo.adversarial_inputs import (
    CHUNK_CLASSES,
    COMPRESSED_IMAGE_CLASSES,
    INSTRUCTION_CLASSES,
    JOINT_STATE_CLASSES,
    RAW_IMAGE_CLASSES,
    huge_chunk,
    huge_joint_state,
    png,
)
from fast_vla_ros.demo.campaign_observers import (
    CALL_TIMEOUT_S,
    EXECUTOR,
    CommandRecorder,
    ExecutorCalls,
    NodeWatch,
    now,
)
from fast_vla_ros.demo.command_audit import CommandLimits, StopLog
from fast_vla_ros.demo.processes import NodeProcesses
from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.nodes.conversions import action_chunk_to_msg, image_to_rgb, seconds_to_stamp, stamp_to_seconds
from fast_vla_ros.types import ActionChunk, JointLimits

SCENE_COMPRESSED = "/camera/scene/image_raw/compressed"
FUZZ = "fuzz"  # frame_id and tokenizer of what the campaign publishes, to tell it from the nodes' own messages
RECOVERY_TIMEOUT_S = 30.0
MIN_STORM_S = 0.5  # every class gets at least one e-stop cycle
RECOVERY_ALLOWANCE_S = 2.0  # budgeted per class for the recovery after its storm
MAX_DWELL_S = 1.5  # armed this long at most before the e-stop (less once the executor tracks)
COMMANDING_WINDOW_S = 0.1  # the executor counts as commanding when a command arrived this recently
CONFIRM_TIMEOUT_S = 2.0
PROBE_PERIOD_S = 0.02
STRAGGLERS_S = 0.2
# s of the simulator's joint states after a reset before arming: longer than the executor's joint_state_timeout
# (0.1 s), so it cannot arm from a state measured before the reset and pull the arm back to where it was.
RESET_SETTLE_S = 0.2
VALID_INSTRUCTION_EVERY = 5  # an instruction storm sends the valid instruction every this many shots
MAX_JOINT_STATE_BYTES = 65536  # larger ones are the campaign's own 100 000-name joint states


class Attacker:
    """The campaign's publishers and the valid inputs its malformed messages are made from: the simulator's
    newest joint state and scene frame, the executor's newest command, the task's instruction."""

    def __init__(
        self, node: Node, recorder: CommandRecorder, watch: NodeWatch, limits: CommandLimits, rng: np.random.Generator
    ) -> None:
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self._recorder, self._watch, self.limits, self.rng = recorder, watch, limits, rng
        # The chunk classes aim at the limits the safety filter enforces.
        self.filter_limits = JointLimits(
            limits.joint_names, limits.lower, limits.upper, limits.max_velocity, limits.max_acceleration
        )
        self.chunks = node.create_publisher(ActionChunkMsg, "/action_chunk", 10)
        self.joint_states = node.create_publisher(JointState, "/joint_states", 10)
        self.wrist = node.create_publisher(Image, "/camera/wrist/image_raw", qos_profile_sensor_data)
        self.scene = node.create_publisher(CompressedImage, SCENE_COMPRESSED, qos_profile_sensor_data)
        self.instructions = node.create_publisher(String, "/instruction", latched)
        self.estops = node.create_publisher(Bool, f"/{EXECUTOR}/estop", 10)
        self.joint_state = None
        self.frame = None  # the newest raw scene frame
        self.compressed = None  # and its PNG
        self.instruction = ""
        self.relayed = 0
        self.huge_joint_state = huge_joint_state()
        self._huge_chunk: bytes | None = None
        self._instruction_shots = 0
        node.create_subscription(JointState, "/joint_states", self._on_joint_state, qos_profile_sensor_data, raw=True)
        node.create_subscription(Image, "/camera/scene/image_raw", self._on_scene, qos_profile_sensor_data)

    # -- valid inputs --

    def _on_joint_state(self, data: bytes) -> None:
        if len(data) > MAX_JOINT_STATE_BYTES:
            return
        msg = deserialize_message(data, JointState)
        if msg.header.frame_id != FUZZ:
            self.joint_state = msg
            self._watch.beat("sim_node")

    def _on_scene(self, msg) -> None:
        """Relay the frame PNG-compressed: the policy takes its scene camera from the compressed topic."""
        self.frame = msg
        self.compressed = png(image_to_rgb(msg))
        self.compressed.header = msg.header
        self.scene.publish(self.compressed)
        self.relayed += 1

    def ready(self) -> bool:
        return self.joint_state is not None and self.compressed is not None

    def joint_state_stamp(self) -> float:
        return stamp_to_seconds(self.joint_state.header.stamp)

    def valid_joint_state(self) -> JointState:
        msg = copy.deepcopy(self.joint_state)
        msg.header.stamp, msg.header.frame_id = seconds_to_stamp(now()), FUZZ
        return msg

    def valid_chunk(self) -> ActionChunkMsg:
        """50 steps from the newest command toward mid-range at 5 % of the velocity limits, stamped now."""
        limits = self.limits
        last = self._recorder.last()
        middle = (limits.lower + limits.upper) / 2
        start = last.positions if last is not None else middle
        travel = np.arange(50)[:, None] * 0.05 * limits.max_velocity * limits.period
        targets = start + np.sign(middle - start) * np.minimum(travel, np.abs(middle - start))
        return action_chunk_to_msg(ActionChunk(targets, now(), limits.period, limits.joint_names), [], FUZZ, 0.0)

    def publish_instruction(self, text: str | None = None) -> None:
        self.instructions.publish(String(data=self.instruction if text is None else text))

    # -- storms: one shot each, returning the number of messages sent --

    def send_chunks(self, make) -> int:
        messages = make(self.valid_chunk(), self.rng, self.filter_limits)
        for msg in messages:
            self.chunks.publish(msg)
        return len(messages)

    def send_huge_chunk(self) -> int:
        self._huge_chunk = self._huge_chunk or huge_chunk(self.valid_chunk())
        self.chunks.publish(self._huge_chunk)
        return 1

    def send_joint_states(self, make) -> int:
        messages = make(self.valid_joint_state(), self.rng)
        for msg in messages:
            self.joint_states.publish(msg)
        return len(messages)

    def send_huge_joint_state(self) -> int:
        self.joint_states.publish(self.huge_joint_state)
        return 1

    def send_raw_images(self, make) -> int:
        messages = make(self.frame, self.rng)
        for msg in messages:
            self.wrist.publish(msg)
        return len(messages)

    def send_compressed_images(self, make) -> int:
        messages = make(self.compressed, self.rng)
        for msg in messages:
            msg.header = self.compressed.header
            self.scene.publish(msg)
        return len(messages)

    def send_instructions(self, make) -> int:
        self._instruction_shots += 1
        if self._instruction_shots % VALID_INSTRUCTION_EVERY == 0:
            self.publish_instruction()
            return 1
        messages = make(self.instruction, self.rng)
        for msg in messages:
            self.instructions.publish(msg)
        return len(messages)

    def estop(self, on: bool = True) -> float:
        sent = now()
        self.estops.publish(Bool(data=on))
        return sent


# -- message classes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageClass:
    name: str
    load: str  # the topic or service group it loads; e-stop latencies are grouped by it
    rate_hz: float  # shots per second; a shot may send several messages
    shoot: Callable[[Campaign], int]  # one shot, returning the number of messages sent


def message_classes() -> list[MessageClass]:
    """Every class, in campaign order. Rates are shots per second: enough to keep a node's input busy (an
    image at 30 Hz is three times the camera's rate) while the campaign process still keeps up."""

    def each(builders: dict, load: str, rate_hz: float, send: Callable) -> list[MessageClass]:
        return [MessageClass(name, load, rate_hz, lambda c, b=b: send(c.attacker, b)) for name, b in builders.items()]

    return [
        MessageClass("idle", "none", 0.0, lambda c: 0),
        *each(CHUNK_CLASSES, "action_chunk", 100.0, Attacker.send_chunks),
        MessageClass("chunk_10000_steps", "action_chunk", 20.0, lambda c: c.attacker.send_huge_chunk()),
        *each(JOINT_STATE_CLASSES, "joint_states", 200.0, Attacker.send_joint_states),
        MessageClass("joint_state_100000_names", "joint_states", 10.0, lambda c: c.attacker.send_huge_joint_state()),
        *each(RAW_IMAGE_CLASSES, "camera_raw", 30.0, Attacker.send_raw_images),
        *each(COMPRESSED_IMAGE_CLASSES, "camera_compressed", 30.0, Attacker.send_compressed_images),
        *each(INSTRUCTION_CLASSES, "instruction", 50.0, Attacker.send_instructions),
        MessageClass("estop_storm", "estop", 500.0, lambda c: c.estop_storm_shot()),
        MessageClass("arm_reset_calls", "services", 50.0, lambda c: c.random_executor_call()),
        MessageClass("sim_reset_calls", "services", 5.0, lambda c: c.random_sim_reset()),
    ]


# -- the campaign ---------------------------------------------------------------------------------------


@dataclass
class EstopSample:
    sent: float
    acknowledged: float | None  # when an arm request was refused for the latched e-stop; None: never
    commanding: bool  # a command had arrived within COMMANDING_WINDOW_S before it


@dataclass
class ClassRun:
    name: str
    load: str
    start: float = 0.0
    storm_end: float = 0.0
    end: float = 0.0
    sent: int = 0
    estops: list[EstopSample] = field(default_factory=list)
    policy_recovery_s: float | None = None
    executor_recovery_s: float | None = None
    crashed: list[str] = field(default_factory=list)  # nodes found exited during this class


class Campaign:
    """The operator and the attacker in one process; the nodes are separate processes."""

    def __init__(
        self, context: object, processes: NodeProcesses, limits: CommandLimits, rng: np.random.Generator
    ) -> None:
        self.node = Node("fuzz_campaign", context=context)
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self.node)
        self.processes, self.rng = processes, rng
        self.started = now()
        self.stops = StopLog(self.started)
        self.recorder = CommandRecorder(context, limits.joint_names)
        self.calls = ExecutorCalls(self.node, self.stops)
        self.watch = NodeWatch(self.node)
        self.attacker = Attacker(self.node, self.recorder, self.watch, limits, rng)
        self._sim_reset = self.node.create_client(Trigger, "/sim_node/reset")
        self._sim_reset_pending = None
        self.sim_resets = 0
        self.sim_timeouts = 0
        self.phase = "resting"  # dwell (armed, storm on) | stopping (e-stop sent, not yet confirmed) | resting
        self.runs: list[ClassRun] = []
        self.crash = ""

    # -- waiting on events --

    def spin_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = now() + timeout_s
        checked = now()
        while not done():
            if now() > deadline:
                return False
            if now() - checked > 0.5:
                self.processes.check_alive()
                self.calls.expire()
                checked = now()
            self._executor.spin_once(timeout_sec=0.005)
        return True

    def pause(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def call(self, make_request) -> object | None:
        """One executor call once the previous is answered; its reply, or None after CALL_TIMEOUT_S."""
        self.spin_until(lambda: not self.calls.busy, CALL_TIMEOUT_S + 1.0)
        self.calls.expire()
        if self.calls.busy:
            return None
        future = make_request()
        self.spin_until(lambda: not self.calls.busy, CALL_TIMEOUT_S + 1.0)
        return future.result() if future.done() else None

    def sim_reset(self) -> None:
        """A new episode, its instruction the valid one; returns once the simulator has published joint states
        for RESET_SETTLE_S since. One unanswered for CALL_TIMEOUT_S is counted."""
        future = self._sim_reset.call_async(Trigger.Request())
        self.sim_resets += 1
        if not self.spin_until(future.done, CALL_TIMEOUT_S):
            self._sim_reset.remove_pending_request(future)
            self.sim_timeouts += 1
            return
        self._on_sim_reset(future)
        settled = now() + RESET_SETTLE_S
        self.spin_until(lambda: self.attacker.joint_state_stamp() > settled, CALL_TIMEOUT_S)

    def _on_sim_reset(self, future) -> None:
        self.attacker.instruction = future.result().message
        self.attacker.publish_instruction()

    def wait_until_ready(self, timeout_s: float) -> None:
        ready = self.spin_until(
            lambda: (
                self.calls.ready
                and self._sim_reset.service_is_ready()
                and self.attacker.ready()
                and self.watch.chunk_counts[-1][0] > 0.0
            ),
            timeout_s,
        )
        if not ready:
            raise TimeoutError(f"the nodes were not all up within {timeout_s:.0f} s")

    # -- storms that need the campaign's state --

    def estop_storm_shot(self) -> int:
        """False while armed (must change nothing), true and false once the e-stop is sent (must stay latched)."""
        if self.phase == "dwell":
            self.attacker.estop(False)
        elif self.phase == "stopping":
            self.attacker.estop(bool(self.rng.random() < 0.5))
        else:
            return 0
        return 1

    def random_executor_call(self) -> int:
        if self.phase != "dwell" or self.calls.busy:
            return 0
        kind = self.rng.choice(["arm", "disarm", "reset"], p=[0.4, 0.3, 0.3])
        self.calls.reset() if kind == "reset" else self.calls.arm(kind == "arm")
        return 1

    def random_sim_reset(self) -> int:
        if self._sim_reset_pending is not None and not self._sim_reset_pending.done():
            return 0
        self._sim_reset_pending = self._sim_reset.call_async(Trigger.Request())
        self._sim_reset_pending.add_done_callback(self._on_sim_reset)
        return 1

    # -- one class --

    def run_class(self, cls: MessageClass, storm_s: float) -> ClassRun:
        run = ClassRun(cls.name, cls.load, start=now())
        self.runs.append(run)
        timer = None
        if cls.rate_hz > 0:

            def shot() -> None:
                run.sent += cls.shoot(self)

            timer = self.node.create_timer(1.0 / cls.rate_hz, shot)
        try:
            while not run.estops or now() < run.start + storm_s:
                run.estops.append(self._estop_cycle())
        finally:
            if timer is not None:
                self.node.destroy_timer(timer)
            self.phase = "resting"
        run.storm_end = now()
        self._recover(run)
        run.end = now()
        return run

    def _arm(self, timeout_s: float = 5.0) -> float | None:
        """Reset the e-stop and arm, retrying while refused (a fresh joint state inside the limits is needed,
        which a storm may withhold for a moment); the send time of the arm request that succeeded."""
        deadline = now() + timeout_s
        while now() < deadline:
            self.call(self.calls.reset)
            sent = now()
            reply = self.call(lambda: self.calls.arm(True))
            if reply is not None and reply.success:
                return sent
            self.pause(0.02)
        return None

    def _estop_cycle(self) -> EstopSample:
        armed = self._arm()
        self.phase = "dwell"
        if armed is not None:
            self.spin_until(lambda: self.recorder.tracking_since(armed) is not None, self.rng.uniform(0.3, MAX_DWELL_S))
            self.pause(self.rng.uniform(0.0, 0.3))
        self.phase = "resting"  # random calls stop: the e-stop comes while armed
        self.spin_until(lambda: not self.calls.busy, CALL_TIMEOUT_S + 1.0)
        if not self._commanding():
            self.call(lambda: self.calls.arm(True))
            self.spin_until(self._commanding, 1.0)
        commanding = self._commanding()
        self.phase = "stopping"
        sent = self.attacker.estop()
        acknowledged = self._confirm_estop(sent)
        self.phase = "resting"
        self.pause(STRAGGLERS_S)
        return EstopSample(sent, acknowledged, commanding)

    def _commanding(self) -> bool:
        last = self.recorder.last()
        return last is not None and now() - last.arrival < COMMANDING_WINDOW_S

    def _confirm_estop(self, sent: float) -> float | None:
        """Ask to arm until the executor refuses for the latched e-stop: from then on it must be silent."""
        while now() < sent + CONFIRM_TIMEOUT_S:
            reply = self.call(lambda: self.calls.arm(True))
            if reply is not None and not reply.success and "e-stop" in reply.message:
                return now()
            self.pause(PROBE_PERIOD_S)
        return None

    def _recover(self, run: ClassRun) -> None:
        """Valid inputs again, as an operator would restore them: disarm, a new episode (the storm may have left
        the arm where the policy was never trained, and it rightly refuses to plan from there) with its
        instruction, reset and arm; then wait for a chunk and for tracking."""
        chunks = self.watch.chunks_published()
        self.call(lambda: self.calls.arm(False))
        self.sim_reset()
        armed = self._arm(RECOVERY_TIMEOUT_S)
        if armed is None:
            return
        self.spin_until(
            lambda: (
                self.watch.chunk_after(run.storm_end, chunks) is not None
                and self.recorder.tracking_since(armed) is not None
            ),
            RECOVERY_TIMEOUT_S,
        )
        chunk, tracking = self.watch.chunk_after(run.storm_end, chunks), self.recorder.tracking_since(armed)
        run.policy_recovery_s = None if chunk is None else chunk - run.storm_end
        run.executor_recovery_s = None if tracking is None else tracking - run.storm_end

    def run(self, classes: list[MessageClass], seconds: float) -> None:
        end = now() + seconds
        for index, cls in enumerate(classes):
            storm_s = max(MIN_STORM_S, (end - now()) / (len(classes) - index) - RECOVERY_ALLOWANCE_S)
            print(f"  {cls.name:<30} storm {storm_s:5.1f} s", flush=True)
            try:
                self.run_class(cls, storm_s)
            except RuntimeError as error:
                if not self.processes.exited():
                    raise
                self.crash = f"during {cls.name}: {error}"  # a node exited: nothing after it would mean anything
                self.runs[-1].crashed = sorted(self.processes.exited())
                self.runs[-1].end = now()
                return
        self.call(lambda: self.calls.arm(False))

    def messages_sent(self) -> int:
        """Everything the campaign sent the nodes: storms, relayed frames, e-stops, service calls."""
        estops = sum(len(run.estops) for run in self.runs)
        return sum(run.sent for run in self.runs) + self.attacker.relayed + estops + self.calls.sent + self.sim_resets

    def close(self) -> None:
        self.recorder.close()
        self._executor.shutdown()
        self.node.destroy_node()
