"""policy_node as a separate process with the shipped default policy, fed by the test: chunks flow for
valid inputs; each kind of bad input stops them with a clear status and log line while the node keeps
running; a valid input afterwards resumes."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.msg import PolicyStatus
from fast_vla_ros.nodes.conversions import rgb_to_image, stamp_to_seconds
from fast_vla_ros.sim.simulator import ArmSimulator

pytestmark = [pytest.mark.ros, pytest.mark.slow]

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
CHUNK_TIMEOUT_S = 120.0  # the child loads torch and warms the model up first


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
        self._cameras = {name: node.create_publisher(Image, f"/camera/{name}/image_raw", qos_profile_sensor_data)
                         for name in self.frames}
        self._joint_states = node.create_publisher(JointState, "/joint_states", 10)
        self.instruction_pub = node.create_publisher(String, "/instruction", LATCHED)
        self.bad_image: Image | None = None
        self.bad_joint_state: JointState | None = None
        node.create_timer(0.1, self._publish_images)
        node.create_timer(0.02, self._publish_joint_state)

    def _publish_images(self) -> None:
        stamp = self._node.get_clock().now().to_msg()
        for name, publisher in self._cameras.items():
            msg = self.bad_image if (self.bad_image is not None and name == "scene") else None
            publisher.publish(msg or rgb_to_image(self.frames[name], stamp, name))

    def _publish_joint_state(self) -> None:
        msg = self.bad_joint_state or JointState(name=list(self.joint_names), position=self.state.tolist())
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._joint_states.publish(msg)


def test_policy_node_publishes_chunks_and_survives_bad_inputs(harness, spawn_python, scene):
    policy = spawn_python("-m", "fast_vla_ros.nodes.policy_node", "--ros-args", "--params-file", "config/sim.yaml")
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

    nan_state = JointState(name=list(inputs.joint_names), position=[float("nan")] * 7)
    bad_inputs = [
        ("joint_state", nan_state, "non-finite positions"),
        ("joint_state", JointState(name=["mystery_joint"] * 7, position=[0.0] * 7), "lacks joints"),
        ("image", Image(height=224, width=224, encoding="32FC1", step=896, data=bytes(224 * 896)),
         "unsupported image encoding"),
        ("image", rgb_to_image(np.zeros((100, 120, 3), np.uint8), Time(), "scene"), "expected 224x224"),
        ("instruction", String(data="   "), "instruction is empty"),
        ("instruction", String(data="touch " * 300), "more than max_instruction_bytes"),
    ]
    for kind, bad, reason in bad_inputs:
        if kind == "joint_state":
            inputs.bad_joint_state = bad
        elif kind == "image":
            inputs.bad_image = bad
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
        inputs.bad_joint_state = inputs.bad_image = None
        inputs.instruction_pub.publish(String(data=inputs.instruction))
        chunk_after(count, f"chunks to resume after '{reason}' was fixed")
        assert policy.poll() is None, "policy_node died"

    diagnostics = harness.next_diagnostics("policy_node")
    assert int(diagnostics["input_errors.instruction"]) >= 2 and int(diagnostics["input_errors.joint_states"]) >= 2
