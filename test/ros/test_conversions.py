"""Message <-> numpy conversions: exact round trips and one clear error for each kind of bad input."""

from __future__ import annotations

import io

import imageio.v3 as iio
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image, JointState

from fast_vla_ros.demo.adversarial_inputs import png_bomb
from fast_vla_ros.nodes.conversions import (
    InvalidInput,
    action_chunk_to_msg,
    compressed_image_to_rgb,
    image_to_rgb,
    joint_positions,
    msg_to_action_chunk,
    printable,
    rgb_to_image,
    seconds_to_stamp,
    stamp_to_seconds,
)
from fast_vla_ros.types import ActionChunk

ARM = ("shoulder_pan_joint", "elbow_joint", "gripper_joint")


def joint_state(names, positions) -> JointState:
    return JointState(name=list(names), position=[float(p) for p in positions])


def test_joint_positions_resolved_by_name_not_order():
    msg = joint_state(["gripper_joint", "base_caster", "elbow_joint", "shoulder_pan_joint"], [0.01, 9.0, -1.0, 0.5])
    assert joint_positions(msg, ARM).tolist() == [0.5, -1.0, 0.01]


@pytest.mark.parametrize(
    ("names", "positions", "reason"),
    [
        (["shoulder_pan_joint", "elbow_joint"], [0.0, 0.0], "missing ['gripper_joint']"),
        ([*ARM, "elbow_joint"], [0.0, 0.0, 0.0, 1e6], "duplicated ['elbow_joint']"),
        (list(ARM), [0.0, float("nan"), 0.0], "non-finite positions for joints ['elbow_joint']"),
        (list(ARM), [0.0, 0.0, float("inf")], "non-finite positions for joints ['gripper_joint']"),
        (list(ARM), [0.0, 0.0], "3 names but 2 positions"),
    ],
)
def test_joint_positions_rejects_bad_states(names, positions, reason):
    msg = JointState(name=names, position=positions)
    with pytest.raises(InvalidInput, match=reason.replace("[", r"\[").replace("]", r"\]")):
        joint_positions(msg, ARM)


def test_raw_image_round_trip_and_encodings():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    msg = rgb_to_image(rgb, seconds_to_stamp(1.5), "scene_camera")
    assert np.array_equal(image_to_rgb(msg, expected_shape=(6, 5)), rgb)
    bgr = Image(height=6, width=5, encoding="bgr8", step=15, data=rgb[:, :, ::-1].tobytes())
    assert np.array_equal(image_to_rgb(bgr), rgb)
    padded = np.zeros((6, 24), np.uint8)  # rows padded to 24 bytes, as some drivers do
    padded[:, :20] = np.dstack([rgb, np.full((6, 5), 255, np.uint8)]).reshape(6, 20)
    rgba = Image(height=6, width=5, encoding="rgba8", step=24, data=padded.tobytes())
    assert np.array_equal(image_to_rgb(rgba), rgb)


@pytest.mark.parametrize(
    ("msg", "expected_shape", "reason"),
    [
        (Image(height=4, width=4, encoding="32FC1", step=16, data=bytes(64)), None, "unsupported image encoding"),
        (Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(47)), None, "47 bytes, expected height 4"),
        (Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(48)), (8, 8), "is 4x4, expected 8x8"),
        (Image(height=0, width=4, encoding="rgb8", step=12, data=b""), None, "empty"),
    ],
)
def test_raw_image_rejects_bad_frames(msg, expected_shape, reason):
    with pytest.raises(InvalidInput, match=reason):
        image_to_rgb(msg, expected_shape)


def test_compressed_png_decodes_and_garbage_is_rejected():
    rgb = np.random.default_rng(1).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    iio.imwrite(buffer, rgb, extension=".png")
    msg = CompressedImage(format="png", data=buffer.getvalue())
    assert np.array_equal(compressed_image_to_rgb(msg, expected_shape=(8, 9)), rgb)
    with pytest.raises(InvalidInput, match="does not decode"):
        compressed_image_to_rgb(CompressedImage(format="jpeg", data=b"not an image"))
    with pytest.raises(InvalidInput, match="expected 4x4"):
        compressed_image_to_rgb(msg, expected_shape=(4, 4))


def test_stamp_conversion_is_exact_to_the_nanosecond():
    stamp = seconds_to_stamp(1_700_000_123.25)
    assert (stamp.sec, stamp.nanosec) == (1_700_000_123, 250_000_000)
    assert stamp_to_seconds(stamp) == pytest.approx(1_700_000_123.25, abs=1e-9)


def test_action_chunk_message_round_trip():
    actions = np.arange(12, dtype=np.float64).reshape(4, 3) / 10
    chunk = ActionChunk(actions=actions, t0=12.5, dt=0.02, joint_names=ARM)
    msg = action_chunk_to_msg(chunk, tokens=[3, 4], tokenizer="fast", inference_latency=0.05)
    back = msg_to_action_chunk(msg)
    assert np.array_equal(back.actions, actions) and back.joint_names == ARM
    assert (back.t0, back.dt) == pytest.approx((12.5, 0.02))
    assert list(msg.tokens) == [3, 4] and msg.tokenizer == "fast"


def test_malformed_action_chunk_messages_are_rejected():
    msg = action_chunk_to_msg(ActionChunk(np.zeros((2, 3)), 0.0, 0.02, ARM), [], "fast", 0.0)
    msg.positions = [0.0] * 5
    with pytest.raises(InvalidInput, match="expected horizon 2 x 3 joints"):
        msg_to_action_chunk(msg)
    msg.positions, msg.dt = [0.0] * 6, 0.0
    with pytest.raises(InvalidInput, match="dt must be positive"):
        msg_to_action_chunk(msg)
    msg.horizon = 0
    with pytest.raises(InvalidInput, match="empty"):
        msg_to_action_chunk(msg)


def test_a_compressed_image_is_refused_by_its_declared_size_before_decoding():
    """A few dozen bytes of PNG declaring 20000x20000 used to raise DecompressionBombError in the worker."""
    with pytest.raises(InvalidInput, match=r"refused before decoding: Image size \(400000000 pixels\)"):
        compressed_image_to_rgb(png_bomb(), expected_shape=(224, 224))  # PIL's own limit, read from the header
    with pytest.raises(InvalidInput, match="declares 5000x5000, expected 224x224"):
        compressed_image_to_rgb(png_bomb(5000), expected_shape=(224, 224))
    with pytest.raises(InvalidInput, match="declares 5000x5000, more than 8294400 pixels"):
        compressed_image_to_rgb(png_bomb(5000))


def test_printable_escapes_control_characters_and_bounds_the_length():
    assert printable("go\x1b[31m\r\n[ERROR] x") == "go\\x1b[31m\\r\\n[ERROR] x"
    assert printable("héllo") == "héllo"
    assert printable("a" * 500, limit=10) == "aaaaaaaaaa... (500 characters)"
