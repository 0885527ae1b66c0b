"""policy_node as a separate process with the shipped default policy, fed by the test: chunks flow for
valid inputs; each kind of bad input (those an adversarial campaign found included: a PNG declaring
20000x20000, duplicated joint names, 1e6 rad, stamps from 1970 and 2038, control characters in the
instruction) stops them with a clear status and log line while the node keeps running; a valid input
afterwards resumes."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String

from fast_vla_ros.demo.adversarial_inputs import png, png_bomb
from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.msg import PolicyStatus
from fast_vla_ros.nodes.conversions import rgb_to_image, seconds_to_stamp, stamp_to_seconds
from fast_vla_ros.sim.simulator import ArmSimulator

pytestmark = [pytest.mark.ros, pytest.mark.slow]

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
CHUNK_TIMEOUT_S = 120.0  # the child loads torch and warms the model up first
# The scene camera arrives compressed (PNG), the wrist camera raw: both conversions are exercised.
SCENE_TOPIC = "/camera/scene/image_raw/compressed"


@pytest.fixture(scope="module")
def scene():
    """Real frames and joint state of a simulated episode, so the policy sees what it was trained on."""
    with ArmSimulator() as sim:
        instruction = sim.reset("touch", 3)
        frames = {name: sim.render(name) for name in sim.camera_names}
        return frames, sim.joint_positions(), sim.joint_names, instruction


class Inputs:
    """Publishes the policy's inputs at their real rates from the test's own node, with one of them
    replaceable by a bad variant."""

    def __init__(self, harness, scene) -> None:
        self.frames, self.state, self.joint_names, self.instruction = scene
        node = harness.node
        self._node = node
        self._scene = node.create_publisher(CompressedImage, SCENE_TOPIC, qos_profile_sensor_data)
        self._scene_png = png(self.frames["scene"])
        self._wrist = node.create_publisher(Image, "/camera/wrist/image_raw", qos_profile_sensor_data)
        self._joint_states = node.create_publisher(JointState, "/joint_states", 10)
        self.instruction_pub = node.create_publisher(String, "/instruction", LATCHED)
        self.bad_scene: CompressedImage | None = None
        self.bad_wrist: Image | None = None
        self.bad_joint_state: JointState | None = None
        self.stamp_offset_s = 0.0  # added to the joint states' stamps
        node.create_timer(0.1, self._publish_images)
        node.create_timer(0.02, self._publish_joint_state)

    def _publish_images(self) -> None:
        stamp = self._node.get_clock().now().to_msg()
        self._scene.publish(self.bad_scene or self._scene_png)
        self._wrist.publish(self.bad_wrist or rgb_to_image(self.frames["wrist"], stamp, "wrist"))

    def _publish_joint_state(self) -> None:
        msg = self.bad_joint_state or JointState(name=list(self.joint_names), position=self.state.tolist())
        now = self._node.get_clock().now().nanoseconds * 1e-9
        msg.header.stamp = seconds_to_stamp(now + self.stamp_offset_s)
        self._joint_states.publish(msg)

    def reset(self) -> None:
        self.bad_joint_state = self.bad_scene = self.bad_wrist = None
        self.stamp_offset_s = 0.0


def test_policy_node_publishes_chunks_and_survives_bad_inputs(harness, spawn_python, scene):
    policy = spawn_python("-m", "fast_vla_ros.nodes.policy_node", "--ros-args", "--params-file", "config/sim.yaml",
                          "-p", f"camera_topics:=['{SCENE_TOPIC}', '/camera/wrist/image_raw']")  # fmt: skip
    inputs = Inputs(harness, scene)
    chunks: list[ActionChunkMsg] = harness.record(ActionChunkMsg, "/action_chunk")
    statuses: list[PolicyStatus] = harness.record(PolicyStatus, "/policy_node/status")
    inputs.instruction_pub.publish(String(data=inputs.instruction))

    def chunk_after(count: int, what: str, timeout_s: float = 60.0) -> ActionChunkMsg:
        harness.spin_until(lambda: len(chunks) > count, timeout_s, what=what)
        return chunks[-1]

    first = chunk_after(0, "the first chunk", CHUNK_TIMEOUT_S)
    assert list(first.joint_names) == list(inputs.joint_names)
    assert first.horizon == 50 and first.dt == pytest.approx(0.02) and first.tokenizer == "fast"
    assert len(first.positions) == 50 * 7 and np.all(np.isfinite(first.positions))
    assert 0 < first.inference_latency < 5.0
    assert abs(stamp_to_seconds(first.header.stamp) - harness.node.get_clock().now().nanoseconds * 1e-9) < 10.0

    names = list(inputs.joint_names)
    nan_state = JointState(name=names, position=[float("nan")] * 7)
    absurd = inputs.state.copy()
    absurd[0] = 1e6
    bad_inputs = [
        ("joint_state", nan_state, "non-finite positions"),
        ("joint_state", JointState(name=["mystery_joint"] * 7, position=[0.0] * 7), "missing"),
        ("joint_state", JointState(name=[*names, names[0]], position=[*inputs.state, 1e6]), "duplicated"),
        ("joint_state", JointState(name=names, position=absurd.tolist()), "far outside the range"),
        ("stamp_offset", 3e8, "ahead of this host's clock, more than max_clock_offset"),  # stamped in 2036
        ("stamp_offset", -1.7e9, "behind this host's clock"),  # stamped in 1973
        ("wrist", Image(height=224, width=224, encoding="32FC1", step=896, data=bytes(224 * 896)),
         "unsupported image encoding"),
        ("wrist", rgb_to_image(np.zeros((100, 120, 3), np.uint8), Time(), "wrist"), "expected 224x224"),
        ("scene", png_bomb(), "refused before decoding"),
        ("instruction", String(data="   "), "instruction is empty"),
        ("instruction", String(data="touch " * 300), "more than max_instruction_bytes"),
    ]  # fmt: skip
    for kind, bad, reason in bad_inputs:
        if kind == "joint_state":
            inputs.bad_joint_state = bad
        elif kind == "stamp_offset":
            inputs.stamp_offset_s = bad
        elif kind == "wrist":
            inputs.bad_wrist = bad
        elif kind == "scene":
            inputs.bad_scene = bad
        else:
            inputs.instruction_pub.publish(bad)
        harness.spin_until(
            lambda r=reason: statuses and statuses[-1].state == PolicyStatus.STATE_INPUT_ERROR
            and r in statuses[-1].message,
            what=f"an input error saying '{reason}'",
        )
        # While the bad input persists no chunk is published. One status later, a chunk published before
        # the error (another topic, so possibly delivered after it) has arrived; then watch two more.
        seen = len(statuses)
        harness.spin_until(lambda s=seen: len(statuses) > s, what="the next status")
        count, seen = len(chunks), len(statuses)
        harness.spin_until(lambda s=seen: len(statuses) >= s + 2, what="repeated input-error statuses")
        assert all(s.state == PolicyStatus.STATE_INPUT_ERROR for s in statuses[seen:])
        assert len(chunks) == count, f"a chunk was published despite: {reason}"
        inputs.reset()
        inputs.instruction_pub.publish(String(data=inputs.instruction))
        chunk_after(count, f"chunks to resume after '{reason}' was fixed")
        assert policy.poll() is None, "policy_node died"

    diagnostics = harness.next_diagnostics("policy_node")
    assert int(diagnostics["input_errors.instruction"]) >= 2 and int(diagnostics["input_errors.joint_states"]) >= 2
    assert diagnostics["worker_alive"] == "True" and int(diagnostics.get("input_errors.internal", 0)) == 0

    # A word the policy never saw is reported, in ~/status and the diagnostics, while it keeps acting.
    inputs.instruction_pub.publish(String(data="poke the red cube"))
    harness.spin_until(
        lambda: statuses[-1].state == PolicyStatus.STATE_RUNNING and "unknown words: poke" in statuses[-1].message,
        what="a running status naming the unknown word",
    )
    harness.spin_until(
        lambda: harness.diagnostics.get("policy_node", [{}])[-1].get("unknown_words") == "poke",
        what="diagnostics naming the unknown word",
    )

    # User text reaches the log with its control characters escaped: no forged lines, no terminal escapes.
    inputs.instruction_pub.publish(String(data="\x1b[31mtouch the red cube\r\n[ERROR] forged line"))
    harness.spin_until(lambda: "forged" in statuses[-1].instruction, what="the new instruction")
    policy.send_signal(signal.SIGINT)
    output, _ = policy.communicate(timeout=30)
    assert "\x1b[31m" not in output and not any(line.startswith("[ERROR] forged") for line in output.splitlines())
    assert "\\x1b[31mtouch the red cube\\r\\n[ERROR] forged line" in output


def test_a_640x480_camera_is_letterboxed_under_resize_with_pad(harness, spawn_python):
    """A RealSense-sized camera needs no extra node: image_preprocessing resize_with_pad fits its frames to the
    policy's 224x224 (the default, reject, refuses them: see the test above)."""
    with ArmSimulator(image_size=(480, 640)) as sim:
        instruction = sim.reset("touch", 3)
        scene = ({name: sim.render(name) for name in sim.camera_names}, sim.joint_positions(), sim.joint_names,
                 instruction)  # fmt: skip
    policy = spawn_python("-m", "fast_vla_ros.nodes.policy_node", "--ros-args", "--params-file", "config/sim.yaml",
                          "-p", f"camera_topics:=['{SCENE_TOPIC}', '/camera/wrist/image_raw']",
                          "-p", "image_preprocessing:=resize_with_pad")  # fmt: skip
    inputs = Inputs(harness, scene)
    chunks: list[ActionChunkMsg] = harness.record(ActionChunkMsg, "/action_chunk")
    statuses: list[PolicyStatus] = harness.record(PolicyStatus, "/policy_node/status")
    inputs.instruction_pub.publish(String(data=inputs.instruction))
    harness.spin_until(lambda: len(chunks) >= 2, CHUNK_TIMEOUT_S, what="chunks from 640x480 frames")
    assert statuses[-1].state == PolicyStatus.STATE_RUNNING, statuses[-1].message
    assert np.all(np.isfinite(chunks[-1].positions))
    assert policy.poll() is None
