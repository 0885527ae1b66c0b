"""ROS messages <-> numpy, with the validation that turns bad input into one clear error.

Every function here raises ``InvalidInput`` with a message a user can act on (which joint, which
encoding, which size) instead of letting a malformed message reach the model or the arm. The nodes
catch it, log it, publish a diagnostic and keep running with the last good state. Image decoding lives
in ``fast_vla_ros.data.image_messages`` (re-exported here): the rosbag2 import decodes the same
messages without ROS installed.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image, JointState

from fast_vla_ros.data.arm_messages import joint_state_arrays
from fast_vla_ros.data.image_messages import InvalidInput, compressed_image_to_rgb, image_to_rgb, printable
from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.types import ActionChunk

__all__ = [
    "InvalidInput",
    "action_chunk_to_msg",
    "compressed_image_to_rgb",
    "image_to_rgb",
    "joint_positions",
    "msg_to_action_chunk",
    "printable",
    "rgb_to_image",
    "seconds_to_stamp",
    "stamp_to_seconds",
]


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    sec = int(np.floor(seconds))
    nanosec = min(int(round((seconds - sec) * 1e9)), 999_999_999)
    return Time(sec=sec, nanosec=nanosec)


def joint_positions(msg: JointState, joint_names: tuple[str, ...]) -> np.ndarray:
    """Positions of ``joint_names`` in that order, looked up by name in ``msg`` (see ``joint_state_arrays``)."""
    return joint_state_arrays(msg, joint_names)[0]


def rgb_to_image(pixels: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """A raw rgb8 ``Image``; ``tobytes`` because assigning an array to ``data`` is 100x slower."""
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = "rgb8"
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    return msg


def action_chunk_to_msg(
    chunk: ActionChunk, tokens: list[int], tokenizer: str, inference_latency: float
) -> ActionChunkMsg:
    msg = ActionChunkMsg()
    msg.header.stamp = seconds_to_stamp(chunk.t0)
    msg.joint_names = list(chunk.joint_names)
    msg.dt = float(chunk.dt)
    msg.horizon = chunk.horizon
    msg.positions = chunk.actions.ravel().tolist()
    msg.tokens = [int(t) for t in tokens]
    msg.tokenizer = tokenizer
    msg.inference_latency = float(inference_latency)
    return msg


def msg_to_action_chunk(msg: ActionChunkMsg) -> ActionChunk:
    """The chunk a message carries; shape and dt checked, values left to the safety filter."""
    joints = len(msg.joint_names)
    if joints == 0 or msg.horizon == 0:
        raise InvalidInput("action chunk is empty (no joint names or horizon 0)")
    if len(msg.positions) != msg.horizon * joints:
        raise InvalidInput(
            f"action chunk has {len(msg.positions)} positions, expected horizon {msg.horizon} x {joints} joints"
        )
    if not (np.isfinite(msg.dt) and msg.dt > 0):
        raise InvalidInput(f"action chunk dt must be positive, got {msg.dt}")
    actions = np.asarray(msg.positions, dtype=np.float64).reshape(msg.horizon, joints)
    return ActionChunk(actions=actions, t0=stamp_to_seconds(msg.header.stamp), dt=msg.dt,
                       joint_names=tuple(msg.joint_names))
