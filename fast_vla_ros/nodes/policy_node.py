"""policy_node: camera images, joint states and an instruction in, timed action chunks out.

Callbacks only store the newest message of each input; a worker thread takes a snapshot, validates
and converts it, runs the model and publishes the chunk stamped with the observation's time, so the
executor can skip the steps that passed during inference. Inference never runs in a ROS callback.
When an input is missing, stale or malformed the node publishes no chunk (the executor then holds the
arm) and says why in the log, in ``~/status`` and in the diagnostics; a valid input resumes. Any other
failure of the worker is caught, counted and reported (``STATE_INTERNAL_ERROR``) and the worker goes on;
a worker that stops finishing cycles turns the diagnostics to ERROR.

Interfaces:
  subscribes  camera topics (sensor_msgs/Image in any colour encoding cv_bridge converts to rgb8, or
              CompressedImage when the topic ends in /compressed; sensor-data QoS; a frame of another size than
              expected_image_size is refused, stretched or letterboxed as image_preprocessing says),
              joint_states (sensor_msgs/JointState), instruction (std_msgs/String,
              reliable + transient local so a node started late still gets the last instruction)
  publishes   action_chunk (fast_vla_ros/ActionChunk), ~/status (fast_vla_ros/PolicyStatus),
              /diagnostics (diagnostic_msgs/DiagnosticArray, 1 Hz)
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String

from fast_vla_ros.execution.config import REPLAN_PERIOD_S
from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.msg import PolicyStatus
from fast_vla_ros.nodes.clock_offset import ClockOffset
from fast_vla_ros.nodes.conversions import (
    InvalidInput,
    action_chunk_to_msg,
    compressed_image_to_rgb,
    image_to_rgb,
    joint_positions,
    printable,
    stamp_to_seconds,
)
from fast_vla_ros.nodes.diagnostics import diagnostic_array
from fast_vla_ros.nodes.image_preprocessing import ImagePreprocessing, ImageSizeError, fit_to_size
from fast_vla_ros.nodes.node_main import run_node
from fast_vla_ros.package_files import package_file
from fast_vla_ros.types import Observation

# s of clock offset between the robot's stamps and this host worth a log line (and a new one when it moves).
CLOCK_OFFSET_REPORTED_S = 0.05
# Joint positions more than this many training ranges (the policy's 1st..99th percentile state statistics)
# beyond that range are refused: the model cannot make sense of them, and 1e6 rad is a broken driver.
STATE_RANGE_SLACK = 1.0
INSTRUCTION_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


@dataclass
class Received:
    """The newest message of one input and when it arrived (this node's clock, seconds)."""

    msg: object
    arrival: float


class PolicyNode(Node):
    def __init__(self) -> None:
        super().__init__("policy_node")
        self._shutdown = threading.Event()
        self._worker: threading.Thread | None = None
        policy_dir = self.declare_parameter("policy_dir", "").value or str(package_file("models/default"))
        # A LeRobot pi0-FAST policy_dir also needs the arm's adapter and the tokenizers it names (docs/pretrained.md).
        embodiment_file = self.declare_parameter("embodiment_file", "").value or None
        text_tokenizer_dir = self.declare_parameter("text_tokenizer_dir", "").value
        action_tokenizer_dir = self.declare_parameter("action_tokenizer_dir", "").value
        device = self.declare_parameter("device", "auto").value
        cpu_threads = int(self.declare_parameter("cpu_threads", 1).value)
        self._replan_period = float(self.declare_parameter("replan_period", REPLAN_PERIOD_S).value)
        self._input_timeout = float(self.declare_parameter("input_timeout", 0.5).value)
        self._max_instruction_bytes = int(self.declare_parameter("max_instruction_bytes", 1024).value)
        # s the robot's joint-state stamps may differ from this host's clock (hosts not synchronised): within it
        # the offset is measured and reported, beyond it the stamps are refused (a broken driver, a 1970 clock).
        self._max_clock_offset = float(self.declare_parameter("max_clock_offset", 5.0).value)
        self._clock_offset = ClockOffset()
        self._reported_offset = 0.0
        # s without a finished worker cycle before the diagnostics say ERROR (inference included).
        self._worker_timeout = float(self.declare_parameter("worker_timeout", 5.0).value)
        image_size = list(self.declare_parameter("expected_image_size", [224, 224]).value)
        if len(image_size) not in (0, 2) or any(int(side) <= 0 for side in image_size):
            raise ValueError(f"expected_image_size must be [height, width] (positive) or [], got {image_size}")
        self._expected_image_size = (int(image_size[0]), int(image_size[1])) if image_size else None
        preprocessing = self.declare_parameter("image_preprocessing", ImagePreprocessing.REJECT.value).value
        try:
            self._preprocessing = ImagePreprocessing(preprocessing)
        except ValueError:
            known = [how.value for how in ImagePreprocessing]
            raise ValueError(f"image_preprocessing must be one of {known}, got '{preprocessing}'") from None

        import torch

        from fast_vla_ros.policy.checkpoint import load_policy

        # On a CPU shared with the simulator and the executor, one thread is faster than contending ones.
        torch.set_num_threads(max(1, cpu_threads))
        self.get_logger().info(f"loading policy from {policy_dir}")
        self._policy = load_policy(
            policy_dir,
            device=None if device == "auto" else device,
            embodiment_file=embodiment_file,
            text_tokenizer_dirs=[text_tokenizer_dir] if text_tokenizer_dir else [],
            fast_processor_dirs=[action_tokenizer_dir] if action_tokenizer_dir else [],
        )
        self._tokenizer_name = self._policy.config.action_tokenizer
        camera_names = list(self.declare_parameter("camera_names", list(self._policy.config.cameras)).value)
        camera_topics = list(
            self.declare_parameter("camera_topics", self._default_topics(camera_names)).value
        )
        if len(camera_topics) != len(camera_names):
            raise ValueError(f"camera_topics has {len(camera_topics)} entries but camera_names {len(camera_names)}")
        missing = set(self._policy.config.cameras) - set(camera_names)
        if missing:
            raise ValueError(f"the policy needs cameras {sorted(missing)}, which camera_names does not list")
        self._joint_names = self._policy.action_space.joint_names

        self._lock = threading.Lock()
        self._inputs: dict[str, Received] = {}
        self._new_input = threading.Event()
        for name, topic in zip(camera_names, camera_topics, strict=True):
            msg_type = CompressedImage if topic.rstrip("/").endswith("/compressed") else Image
            self.create_subscription(msg_type, topic, self._store(f"camera:{name}"), qos_profile_sensor_data)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, qos_profile_sensor_data)
        self.create_subscription(String, "instruction", self._store("instruction"), INSTRUCTION_QOS)
        self._chunks = self.create_publisher(ActionChunkMsg, "action_chunk", 10)
        self._status_pub = self.create_publisher(PolicyStatus, "~/status", 10)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._cameras = camera_names

        self._status = PolicyStatus(state=PolicyStatus.STATE_WAITING_FOR_INPUTS, message="starting")
        self._cycle_finished = time.monotonic()
        self._status_lock = threading.Lock()
        self._latencies: deque[float] = deque(maxlen=100)
        self._chunk_times: deque[float] = deque(maxlen=100)
        self._problems: Counter[str] = Counter()
        self._instruction = ""
        self._unknown_words: list[str] = []

        self.get_logger().info(f"warming up on {self._policy.device} ({self._policy.dtype})")
        self._policy.warmup()
        self.create_timer(1.0, self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, name="policy_inference", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"ready: cameras {dict(zip(camera_names, camera_topics, strict=True))}, joints {list(self._joint_names)}, "
            f"tokenizer {self._tokenizer_name}, replanning every {self._replan_period:g} s"
        )

    def _default_topics(self, camera_names: list[str]) -> list[str]:
        """The embodiment's topics for a pretrained policy's cameras, ``camera/<name>/image_raw`` otherwise."""
        known = dict(zip(self._policy.config.cameras, getattr(self._policy.config, "camera_topics", ()), strict=False))
        return [known.get(name, f"camera/{name}/image_raw") for name in camera_names]

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _store(self, key: str):
        def callback(msg: object) -> None:
            with self._lock:
                self._inputs[key] = Received(msg, self._now())
            self._new_input.set()

        return callback

    def _on_joint_state(self, msg: JointState) -> None:
        arrival = self._now()
        stamp = stamp_to_seconds(msg.header.stamp)
        with self._lock:
            self._inputs["joint_states"] = Received(msg, arrival)
            if stamp != 0.0 and abs(arrival - stamp) <= self._max_clock_offset:
                self._clock_offset.add(arrival, stamp)
        self._new_input.set()

    # -- worker thread --------------------------------------------------------------------------------

    def _work(self) -> None:
        next_start = -np.inf
        while not self._shutdown.is_set():
            self._new_input.wait(timeout=0.1)
            self._new_input.clear()
            # Pace replanning on this node's clock, simulated time under use_sim_time: at most one inference
            # start per replan_period (back to back when slower), at the first input after it has passed.
            now = self._now()
            if now < next_start - self._replan_period:
                next_start = now  # the clock jumped back (a simulator reset): plan on the new timeline now
            if now >= next_start:
                next_start = now + self._replan_period
                self._guarded_cycle()
            self._cycle_finished = time.monotonic()  # waiting for a paused /clock is not a stall

    def _guarded_cycle(self) -> None:
        try:
            self._cycle()
        except Exception as error:  # any: counted and reported, and the next cycle must still run
            with self._lock:
                self._problems["internal"] += 1
            message = printable(f"inference worker failed: {type(error).__name__}: {error}", limit=1000)
            if message != self._status.message:  # once per distinct failure, not once per cycle
                self.get_logger().error(f"{message}\n{traceback.format_exc()}")
            self._set_status(PolicyStatus.STATE_INTERNAL_ERROR, message)

    def _cycle(self) -> None:
        try:
            observation = self._observation()
        except InvalidInput as error:
            self._set_status(PolicyStatus.STATE_INPUT_ERROR, str(error))
            return
        if observation is not None:
            self._infer(observation)

    def _observation(self) -> Observation | None:
        with self._lock:
            inputs = dict(self._inputs)
        needed = ["instruction", "joint_states", *[f"camera:{name}" for name in self._cameras]]
        missing = [key for key in needed if key not in inputs]
        if missing:
            self._set_status(PolicyStatus.STATE_WAITING_FOR_INPUTS, f"waiting for {', '.join(missing)}")
            return None
        now = self._now()
        # An arrival after now is from before the clock jumped back (a simulator reset): not fresh either.
        stale = [key for key in needed[1:] if not 0.0 <= now - inputs[key].arrival <= self._input_timeout]
        if stale:
            raise self._problem("stale", f"no fresh {', '.join(stale)} within {self._input_timeout:g} s")
        instruction = self._validate_instruction(inputs["instruction"].msg.data)
        state_msg = inputs["joint_states"].msg
        state = self._convert("joint_states", lambda: self._joint_state(state_msg))
        images = {
            name: self._convert(f"camera:{name}", lambda m=inputs[f"camera:{name}"].msg: self._image(m))
            for name in self._cameras
        }
        stamp = self._observation_time(state_msg, inputs["joint_states"].arrival)
        return Observation(images, state, self._joint_names, instruction, stamp)

    def _joint_state(self, msg: JointState) -> np.ndarray:
        state = joint_positions(msg, self._joint_names)
        # Our checkpoints keep the trained state's percentiles in joint order; a pi0-FAST checkpoint's are per
        # state dimension of its own robot, mapped by the embodiment file, and are not checked here.
        statistics = getattr(self._policy.action_space, "state", None)
        if statistics is None:
            return state
        slack = STATE_RANGE_SLACK * (statistics.high - statistics.low)
        outside = (state < statistics.low - slack) | (state > statistics.high + slack)
        if outside.any():
            joints = ", ".join(
                f"{name} = {value:g} (trained on [{low:.3g}, {high:.3g}])"
                for name, value, low, high, bad in zip(
                    self._joint_names, state, statistics.low, statistics.high, outside, strict=True
                )
                if bad
            )
            raise InvalidInput(f"joint positions far outside the range the policy was trained on: {joints}")
        return state

    def _observation_time(self, msg: JointState, arrival: float) -> float:
        """The joint state's stamp, which the chunk carries to the executor: on the robot's clock, so the
        executor compensates latency right even when this host's clock differs (measured and reported, up to
        ``max_clock_offset``). Refused: a stamp farther from this host's clock (1970, 2038), and one that
        arrived later than its stream's stamps allow by more than ``input_timeout`` (a stale message)."""
        stamp = stamp_to_seconds(msg.header.stamp)
        if stamp == 0.0:
            return arrival  # some drivers leave the stamp at zero
        offset = arrival - stamp
        if abs(offset) > self._max_clock_offset:
            side = "behind" if offset > 0 else "ahead of"
            raise self._problem(
                "joint_states",
                f"joint state stamped {abs(offset):.3f} s {side} this host's clock, more than max_clock_offset "
                f"({self._max_clock_offset:g} s): synchronise the hosts' clocks (chrony, PTP) or fix the driver's "
                "stamps",
            )
        with self._lock:
            late = self._clock_offset.delay(arrival, stamp)
            estimate = self._clock_offset.estimate or 0.0
        if late > self._input_timeout:
            raise self._problem(
                "joint_states",
                f"joint state arrived {late:.3f} s later than its stream's stamps allow (input_timeout "
                f"{self._input_timeout:g} s): a stale message",
            )
        if abs(estimate - self._reported_offset) > CLOCK_OFFSET_REPORTED_S:
            self._reported_offset = estimate
            self.get_logger().warning(
                f"the joint states' stamps lie {estimate:+.3f} s from this host's clock (transport delay included): "
                "the hosts' clocks differ. Chunks carry the robot's stamps, so the executor is unaffected; "
                "synchronise the clocks anyway (chrony, PTP)"
            )
        return stamp

    def _image(self, msg: object) -> np.ndarray:
        size = self._expected_image_size
        refuse_other_sizes = size if self._preprocessing is ImagePreprocessing.REJECT else None  # before decoding
        if isinstance(msg, CompressedImage):
            pixels = compressed_image_to_rgb(msg, refuse_other_sizes)
        else:
            pixels = image_to_rgb(msg, refuse_other_sizes)
        return pixels if size is None else fit_to_size(pixels, size, self._preprocessing)

    def _convert(self, key: str, convert):
        try:
            return convert()
        except (InvalidInput, ImageSizeError) as error:
            raise self._problem(key, f"{key}: {error}") from error

    def _validate_instruction(self, text: str) -> str:
        size = len(text.encode("utf-8"))
        if not text.strip():
            raise self._problem("instruction", "instruction is empty; publish a task on /instruction")
        if size > self._max_instruction_bytes:
            limit = self._max_instruction_bytes
            raise self._problem("instruction", f"instruction is {size} bytes, more than max_instruction_bytes={limit}")
        if text != self._instruction:
            self.get_logger().info(f'instruction: "{printable(text)}"')
            self._instruction = text
            # A word the policy never saw reaches the model as <unk>: say so rather than act on half the task.
            self._unknown_words = self._policy.vocab.unknown_words(text)
            if self._unknown_words:
                self.get_logger().warning(
                    f"words unknown to the policy (it sees <unk>): {printable(', '.join(self._unknown_words))}; "
                    "fine-tuning on demonstrations that use them adds them (docs/data.md)"
                )
        return text

    def _problem(self, kind: str, message: str) -> InvalidInput:
        with self._lock:
            self._problems[kind] += 1
        return InvalidInput(message)

    def _infer(self, observation: Observation) -> None:
        from fast_vla_ros.policy.errors import ObservationError

        try:
            result = self._policy.predict(observation)
        except ObservationError as error:
            with self._lock:
                self._problems["observation"] += 1
            self._set_status(PolicyStatus.STATE_INPUT_ERROR, f"observation rejected by the policy: {error}")
            return
        latency = result.timing.total_s
        with self._lock:
            self._latencies.append(latency)
            if not result.ok:
                self._problems["decode"] += 1
        if not result.ok:
            self._set_status(PolicyStatus.STATE_DECODE_ERROR, f"chunk dropped: {result.status}", latency)
            return
        self._chunks.publish(action_chunk_to_msg(result.chunk, result.action_tokens, self._tokenizer_name, latency))
        with self._lock:
            self._chunk_times.append(time.monotonic())
        self._status.chunks_published += 1
        unknown = f"; unknown words: {', '.join(self._unknown_words)}" if self._unknown_words else ""
        self._set_status(PolicyStatus.STATE_RUNNING, printable(result.status + unknown, limit=1000), latency)

    def _set_status(self, state: int, message: str, latency: float | None = None) -> None:
        """Called from the worker and the diagnostics timer: one message at a time. Internal errors are logged
        where they are found, with what the log needs (a traceback, the stall's length)."""
        with self._status_lock:
            changed = (state, message) != (self._status.state, self._status.message)
            if changed and state in (PolicyStatus.STATE_INPUT_ERROR, PolicyStatus.STATE_DECODE_ERROR):
                self.get_logger().warning(printable(message, limit=1000))
            elif changed and state == PolicyStatus.STATE_WAITING_FOR_INPUTS:
                self.get_logger().info(message)
            self._status.state, self._status.message = state, message
            self._status.instruction = self._instruction
            if latency is not None:
                self._status.last_inference_latency = latency
            self._status.header.stamp = self.get_clock().now().to_msg()
            self._status_pub.publish(self._status)

    # -- reporting ------------------------------------------------------------------------------------

    def _worker_fault(self) -> str:
        """Why the worker cannot be trusted to publish, or ''."""
        if self._worker is None or not self._worker.is_alive():
            return "the inference worker thread is not running"
        idle = time.monotonic() - self._cycle_finished
        if idle > self._worker_timeout:
            limit = self._worker_timeout
            return f"the inference worker has not finished a cycle for {idle:.1f} s (worker_timeout {limit:g} s)"
        return ""

    def _publish_diagnostics(self) -> None:
        fault = self._worker_fault()
        if fault:
            if self._status.state != PolicyStatus.STATE_INTERNAL_ERROR:
                self.get_logger().error(fault)
            self._set_status(PolicyStatus.STATE_INTERNAL_ERROR, fault)
        now = self._now()
        with self._lock:
            ages = {f"{key}_age_s": now - received.arrival for key, received in self._inputs.items()}
            latencies = np.asarray(self._latencies) * 1e3 if self._latencies else np.zeros(1)
            chunk_times = np.asarray(self._chunk_times)
            problems = dict(self._problems)
            clock_offset = self._clock_offset.estimate
        recent = chunk_times[chunk_times > time.monotonic() - 10.0]
        state = {
            PolicyStatus.STATE_WAITING_FOR_INPUTS: "waiting_for_inputs",
            PolicyStatus.STATE_RUNNING: "running",
            PolicyStatus.STATE_INPUT_ERROR: "input_error",
            PolicyStatus.STATE_DECODE_ERROR: "decode_error",
            PolicyStatus.STATE_INTERNAL_ERROR: "internal_error",
        }[self._status.state]
        values: dict[str, object] = {
            "state": state,
            "message": self._status.message,
            "instruction": self._instruction,
            "unknown_words": ", ".join(self._unknown_words),
            "chunks_published": self._status.chunks_published,
            "chunk_rate_hz": len(recent) / 10.0,
            "inference_latency_ms_mean": float(np.mean(latencies)),
            "inference_latency_ms_p99": float(np.percentile(latencies, 99)),
            "device": str(self._policy.device),
            "worker_alive": not fault,
            "clock_offset_s": float("nan") if clock_offset is None else clock_offset,
            **ages,
            **{f"input_errors.{kind}": count for kind, count in problems.items()},
        }
        level = "error" if fault or state == "internal_error" else "ok" if state == "running" else "warn"
        self._diagnostics.publish(diagnostic_array(self, level, f"{state}: {self._status.message}", values))

    def destroy_node(self) -> None:
        self._shutdown.set()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(PolicyNode, "policy_node", args)


if __name__ == "__main__":
    sys.exit(main())
