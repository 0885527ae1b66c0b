"""ROS messages <-> numpy, with the validation that turns bad input into one clear error.

Every function here raises ``InvalidInput`` with a message a user can act on (which joint, which
encoding, which size) instead of letting a malformed message reach the model or the arm. The nodes
catch it, log it, publish a diagnostic and keep running with the last good state.
"""

from __future__ import annotations

import io
import unicodedata

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image, JointState

from fast_vla_ros.execution.joint_order import JointNameError, JointOrder
from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.nodes.image_encodings import ImageEncodingError, decode_image
from fast_vla_ros.types import ActionChunk

# Largest frame a compressed camera topic may declare when no expected size is set: 4K.
MAX_DECODED_PIXELS = 3840 * 2160


class InvalidInput(ValueError):
    """A message that cannot be used as it is; the text says what is wrong with it."""


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe to put in a log line: control characters (ANSI escapes, CR/LF that forge log lines)
    escaped, and cut at ``limit`` characters, since the text comes from whoever publishes on a topic."""
    escaped = "".join(
        char if unicodedata.category(char)[0] != "C" else char.encode("unicode_escape").decode("ascii")
        for char in text[: limit + 1]
    )
    return escaped if len(text) <= limit else f"{escaped[:limit]}... ({len(text)} characters)"


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    sec = int(np.floor(seconds))
    nanosec = min(int(round((seconds - sec) * 1e9)), 999_999_999)
    return Time(sec=sec, nanosec=nanosec)


def joint_positions(msg: JointState, joint_names: tuple[str, ...]) -> np.ndarray:
    """Positions of ``joint_names`` in that order, looked up by name in ``msg``.

    Extra joints in the message (another arm, a mobile base) are ignored; missing, duplicated or non-finite
    ones are an error, because guessing a joint's position is how arms hit tables.
    """
    if len(msg.position) != len(msg.name):
        raise InvalidInput(f"JointState has {len(msg.name)} names but {len(msg.position)} positions")
    try:
        rows = JointOrder(joint_names).select(list(msg.name))
    except JointNameError as error:
        raise InvalidInput(f"JointState {error}") from error
    positions = np.asarray(msg.position, dtype=np.float64)[rows]
    bad = [name for name, value in zip(joint_names, positions, strict=True) if not np.isfinite(value)]
    if bad:
        raise InvalidInput(f"JointState has non-finite positions for joints {bad}")
    return positions


def image_to_rgb(msg: Image, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """An ``HxWx3`` uint8 RGB copy of a raw ``sensor_msgs/Image`` in any colour encoding cv_bridge converts
    to rgb8, with its semantics (``image_encodings.py``).

    ``expected_shape`` (height, width), when given, is checked from the header before any pixel is read:
    the cheap refusal for ``image_preprocessing: reject``.
    """
    height, width = int(msg.height), int(msg.width)
    if expected_shape is not None and (height, width) != tuple(expected_shape):
        raise InvalidInput(f"image is {height}x{width}, expected {expected_shape[0]}x{expected_shape[1]}")
    try:
        return decode_image(msg)
    except ImageEncodingError as error:
        raise InvalidInput(str(error)) from error


def compressed_image_to_rgb(
    msg: CompressedImage, expected_shape: tuple[int, int] | None = None, max_pixels: int = MAX_DECODED_PIXELS
) -> np.ndarray:
    """An ``HxWx3`` uint8 RGB array from a JPEG or PNG ``sensor_msgs/CompressedImage``, decoded by OpenCV as
    cv_bridge does (16-bit PNG to 8 bit, grey and palette to RGB).

    The size the header declares is checked first, with PIL, which reads it without decoding: a few hundred
    bytes of PNG can declare 20000x20000 and make a decoder allocate gigabytes (PIL raises
    DecompressionBombError; OpenCV's own limit is 2^30 pixels).
    """
    from PIL import Image as PilImage

    try:
        with PilImage.open(io.BytesIO(bytes(msg.data))) as image:
            width, height = image.size  # read from the header only
    except PilImage.DecompressionBombError as error:  # raised by open(), from the header, before decoding
        raise InvalidInput(f"compressed image ('{printable(msg.format)}') refused before decoding: {error}") from error
    except Exception as error:  # any header failure (PIL raises several unrelated types) is bad input
        raise InvalidInput(f"compressed image ('{printable(msg.format)}') does not decode: {error}") from error
    if expected_shape is not None and (height, width) != tuple(expected_shape):
        raise InvalidInput(
            f"compressed image declares {height}x{width}, expected {expected_shape[0]}x{expected_shape[1]}"
        )
    if height * width > max_pixels:
        raise InvalidInput(f"compressed image declares {height}x{width}, more than {max_pixels} pixels")
    try:
        pixels = cv2.imdecode(np.frombuffer(msg.data, dtype=np.uint8), cv2.IMREAD_COLOR_RGB)
    except cv2.error as error:
        raise InvalidInput(f"compressed image ('{printable(msg.format)}') does not decode: {error}") from error
    if pixels is None or pixels.shape[:2] != (height, width):
        raise InvalidInput(f"compressed image ('{printable(msg.format)}') does not decode to its declared size")
    return pixels


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
