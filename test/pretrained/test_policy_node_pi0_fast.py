"""policy_node runs a tiny LeRobot ``pi0_fast`` checkpoint with an embodiment file, over real DDS, and
publishes the taught chunk on the arm's joint names at the checkpoint's rate."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.nodes.conversions import rgb_to_image
from fast_vla_ros.policy.lerobot_checkpoint import read_checkpoint

from ..ros.conftest import Harness
from .conftest import FAST_PLUS, INSTRUCTION, STATE_JOINTS, embodiment, frames, observation, target_chunk

pytestmark = [pytest.mark.ros, pytest.mark.slow]

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
CHUNK_TIMEOUT_S = 120.0  # the child imports torch, loads and warms up first


@pytest.fixture
def harness(rclpy_context):
    harness = Harness(rclpy_context)
    try:
        yield harness
    finally:
        harness.close()


def test_policy_node_publishes_pi0_fast_chunks_on_the_arms_joints(
    harness, spawn_python, checkpoints, text_tokenizer_dir, tmp_path
) -> None:
    arm = embodiment(tmp_path / "arm.yaml")
    policy = spawn_python(
        "-m",
        "fast_vla_ros.nodes.policy_node",
        "--ros-args",
        "-p",
        f"policy_dir:={checkpoints['pi0_fast']}",
        "-p",
        f"embodiment_file:={arm}",
        "-p",
        f"text_tokenizer_dir:={text_tokenizer_dir}",
        "-p",
        f"action_tokenizer_dir:={FAST_PLUS.resolve()}",
        "-p",
        "device:=cpu",
        "-p",
        "replan_period:=0.2",
    )
    node = harness.node
    images = {"top": "/camera/scene/image_raw", "wrist": "/camera/wrist/image_raw"}
    cameras = {name: node.create_publisher(Image, topic, qos_profile_sensor_data) for name, topic in images.items()}
    joints = node.create_publisher(JointState, "/joint_states", 10)
    instruction = node.create_publisher(String, "/instruction", LATCHED)
    state = observation().state
    chunks: list[ActionChunkMsg] = harness.record(ActionChunkMsg, "/action_chunk")

    def publish() -> None:
        stamp = node.get_clock().now().to_msg()
        for name, publisher in cameras.items():
            publisher.publish(rgb_to_image(frames()[name], stamp, name))
        # An extra joint the checkpoint does not use, and a different order: joints are matched by name.
        names = ["base_yaw", *reversed(STATE_JOINTS)]
        msg = JointState(name=names, position=[0.5, *reversed(state.tolist())])
        msg.header.stamp = stamp
        joints.publish(msg)

    node.create_timer(0.05, publish)
    instruction.publish(String(data=INSTRUCTION))
    harness.spin_until(lambda: len(chunks) > 0 or policy.poll() is not None, CHUNK_TIMEOUT_S, what="a chunk")
    assert policy.poll() is None, policy.stdout.read()
    first = chunks[0]
    checkpoint = read_checkpoint(checkpoints["pi0_fast"])
    assert list(first.joint_names) == list(STATE_JOINTS) and first.tokenizer == "fast+"
    assert first.horizon == checkpoint.n_action_steps and first.dt == pytest.approx(0.1)
    expected = checkpoint.action_normalizer.unnormalize(target_chunk(checkpoint.decode_horizon))
    positions = np.asarray(first.positions).reshape(first.horizon, len(first.joint_names))
    np.testing.assert_allclose(positions, expected, atol=0.1)
