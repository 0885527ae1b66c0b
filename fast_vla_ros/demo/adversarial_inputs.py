"""Valid, malformed and extreme variants of every message the nodes take, for adversarial campaigns
(benchmarks/fuzz.py) and the nodes' tests.

Each message class of a topic is a function of a valid message of that topic (what the simulator or the
policy would send now) and a random generator, returning the messages to publish for one shot: a malformed
variant keeps everything of the valid one except what it breaks, so the node under test meets exactly one
fault at a time. No rclpy node here: only message types, so the builders run anywhere.
"""

from __future__ import annotations

import copy
import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image as PilImage
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String

from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.nodes.conversions import seconds_to_stamp, stamp_to_seconds
from fast_vla_ros.types import JointLimits

Rng = np.random.Generator
# One shot of a message class: the messages to publish (``bytes`` are already serialized, for inputs too
# large to rebuild at a storm's rate).
ChunkClass = Callable[[ActionChunkMsg, Rng, JointLimits], list[ActionChunkMsg | bytes]]
JointStateClass = Callable[[JointState, Rng], list[JointState | bytes]]
ImageClass = Callable[[Image, Rng], list[Image]]
CompressedImageClass = Callable[[CompressedImage, Rng], list[CompressedImage]]
InstructionClass = Callable[[str, Rng], list[String]]

HUGE_JOINT_STATE_NAMES = 100_000
HUGE_CHUNK_STEPS = 10_000
# Seconds added to a stamp: far future and far past (1e6 s is 11 days), and a plausible clock offset.
STAMP_OFFSETS_S = (1e6, 1.0, -10.0, -1.7e9)


def png(pixels: np.ndarray) -> CompressedImage:
    buffer = io.BytesIO()
    PilImage.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return CompressedImage(format="png", data=buffer.getvalue())


def png_bomb(side: int = 20_000) -> CompressedImage:
    """A valid PNG header declaring side x side pixels in a few dozen bytes: decoding it allocates gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    return CompressedImage(format="png", data=data)


def huge_joint_state(count: int = HUGE_JOINT_STATE_NAMES) -> bytes:
    """``count`` joints at 1e6 rad, serialized once (2.4 MB for 100 000): publishing it costs the sender nothing."""
    names = [f"joint_{i}" for i in range(count)]
    return serialize_message(JointState(name=names, position=[1e6] * count))


def _restamped(msg, seconds: float):
    out = copy.deepcopy(msg)
    out.header.stamp = seconds_to_stamp(seconds)
    return out


# -- action_chunk -----------------------------------------------------------------------------------


def _with_positions(valid: ActionChunkMsg, positions: np.ndarray) -> ActionChunkMsg:
    out = copy.deepcopy(valid)
    out.positions = positions.ravel().tolist()
    return out


def _rows(valid: ActionChunkMsg) -> np.ndarray:
    return np.asarray(valid.positions, dtype=np.float64).reshape(valid.horizon, len(valid.joint_names))


def chunk_nan_inf(valid: ActionChunkMsg, rng: Rng, limits: JointLimits) -> list[ActionChunkMsg | bytes]:
    rows = _rows(valid)
    rows[rng.integers(len(rows)), rng.integers(rows.shape[1])] = rng.choice([np.nan, np.inf, -np.inf])
    return [_with_positions(valid, rows)]


def chunk_huge_values(valid: ActionChunkMsg, rng: Rng, limits: JointLimits) -> list[ActionChunkMsg | bytes]:
    """One of: values far outside any limit (refused); targets just outside the limits (taken, and clipped by
    the safety filter); targets jumping between the limits at every step (taken: the filter must hold the
    velocity and acceleration limits while it chases them)."""
    rows = _rows(valid)
    kind = rng.integers(3)
    if kind == 0:
        rows[:, rng.integers(rows.shape[1])] = rng.choice([1e300, -1e300, 1e6, -1e6])
    elif kind == 1:
        span = limits.upper - limits.lower
        beyond = np.where(rng.random(rows.shape[1]) < 0.5, limits.lower - 0.4 * span, limits.upper + 0.4 * span)
        rows[:] = beyond
    else:
        rows[:] = np.where(np.arange(len(rows))[:, None] % 2 == 0, limits.lower, limits.upper)
    return [_with_positions(valid, rows)]


def chunk_unknown_joints(valid: ActionChunkMsg, rng: Rng, limits: JointLimits) -> list[ActionChunkMsg | bytes]:
    out = copy.deepcopy(valid)
    out.joint_names[rng.integers(len(out.joint_names))] = str(rng.choice(["no_such_joint", "\x1b[31mred\r\n", ""]))
    return [out]


def chunk_duplicated_joints(valid: ActionChunkMsg, rng: Rng, limits: JointLimits) -> list[ActionChunkMsg | bytes]:
    out = copy.deepcopy(valid)
    out.joint_names[-1] = out.joint_names[0]
    return [out]


def chunk_missing_joints(valid: ActionChunkMsg, rng: Rng, limits: JointLimits) -> list[ActionChunkMsg | bytes]:
    dropped = rng.integers(len(valid.joint_names))
    out = _with_positions(valid, np.delete(_rows(valid), dropped, axis=1))
    out.joint_names = [name for k, name in enumerate(valid.joint_names) if k != dropped]
    return [out]


def huge_chunk(valid: ActionChunkMsg, steps: int = HUGE_CHUNK_STEPS) -> bytes:
    """``steps`` rows holding the valid chunk's first row (inside the limits throughout), serialized once:
    such a chunk once froze the executor for 16 s."""
    out = _with_positions(valid, np.tile(_rows(valid)[:1], (steps, 1)))
    out.horizon = steps
    return serialize_message(out)


def chunk_bad_dt(valid: ActionChunkMsg, rng: Rng, limits: JointLimits) -> list[ActionChunkMsg | bytes]:
    out = copy.deepcopy(valid)
    out.dt = float(rng.choice([1e9, 1e300, 5e-324, 0.0, -0.02, np.nan, np.inf]))
    return [out]


def chunk_bad_stamps(valid: ActionChunkMsg, rng: Rng, limits: JointLimits) -> list[ActionChunkMsg | bytes]:
    """Stale, from the future, from 1970, and out of order (older than a chunk sent just before it)."""
    now = stamp_to_seconds(valid.header.stamp)
    kind = rng.integers(4)
    if kind == 0:
        return [_restamped(valid, now - 5.0)]
    if kind == 1:
        return [_restamped(valid, now + float(rng.choice([1.0, 1e6])))]
    if kind == 2:
        return [_restamped(valid, 0.0)]
    return [valid, _restamped(valid, now - 0.1)]


def chunk_empty(valid: ActionChunkMsg, rng: Rng, limits: JointLimits) -> list[ActionChunkMsg | bytes]:
    no_rows = copy.deepcopy(valid)
    no_rows.horizon, no_rows.positions = 0, []
    nothing = ActionChunkMsg(header=copy.deepcopy(valid.header))
    short = copy.deepcopy(valid)
    short.positions = short.positions[:-3]
    claims_max = copy.deepcopy(valid)
    claims_max.horizon = 2**32 - 1
    return [no_rows, nothing, short, claims_max]


CHUNK_CLASSES: dict[str, ChunkClass] = {
    "chunk_valid": lambda valid, rng, limits: [valid],
    "chunk_nan_inf": chunk_nan_inf,
    "chunk_huge_values": chunk_huge_values,
    "chunk_unknown_joints": chunk_unknown_joints,
    "chunk_duplicated_joints": chunk_duplicated_joints,
    "chunk_missing_joints": chunk_missing_joints,
    "chunk_bad_dt": chunk_bad_dt,
    "chunk_bad_stamps": chunk_bad_stamps,
    "chunk_empty": chunk_empty,
}


# -- joint_states -----------------------------------------------------------------------------------


def _with_joint_positions(valid: JointState, positions: list[float]) -> JointState:
    out = copy.deepcopy(valid)
    out.position = positions
    return out


def joint_state_nan(valid: JointState, rng: Rng) -> list[JointState | bytes]:
    positions = list(valid.position)
    positions[rng.integers(len(positions))] = float(rng.choice([np.nan, np.inf, -np.inf]))
    return [_with_joint_positions(valid, positions)]


def joint_state_duplicated_names(valid: JointState, rng: Rng) -> list[JointState | bytes]:
    out = _with_joint_positions(valid, [*valid.position, 1e6])
    out.name = [*valid.name, valid.name[0]]
    return [out]


def joint_state_1e6_rad(valid: JointState, rng: Rng) -> list[JointState | bytes]:
    positions = list(valid.position)
    positions[rng.integers(len(positions))] = float(rng.choice([1e6, -1e6]))
    return [_with_joint_positions(valid, positions)]


def joint_state_bad_stamps(valid: JointState, rng: Rng) -> list[JointState | bytes]:
    return [_restamped(valid, stamp_to_seconds(valid.header.stamp) + float(rng.choice(STAMP_OFFSETS_S)))]


def joint_state_length_mismatch(valid: JointState, rng: Rng) -> list[JointState | bytes]:
    positions = list(valid.position)
    return [_with_joint_positions(valid, positions[:3]), _with_joint_positions(valid, positions * 10)]


JOINT_STATE_CLASSES: dict[str, JointStateClass] = {
    "joint_state_valid": lambda valid, rng: [valid],
    "joint_state_nan": joint_state_nan,
    "joint_state_duplicated_names": joint_state_duplicated_names,
    "joint_state_1e6_rad": joint_state_1e6_rad,
    "joint_state_bad_stamps": joint_state_bad_stamps,
    "joint_state_length_mismatch": joint_state_length_mismatch,
}


# -- camera images ----------------------------------------------------------------------------------


def _raw(valid: Image, **fields) -> Image:
    out = copy.deepcopy(valid)
    for name, value in fields.items():
        setattr(out, name, value)
    return out


def image_wrong_size(valid: Image, rng: Rng) -> list[Image]:
    """A VGA frame with all its bytes, and one declaring 20000x20000 over a few bytes."""
    vga = _raw(valid, height=480, width=640, step=640 * 3, data=bytes(480 * 640 * 3))
    return [vga, _raw(valid, height=20_000, width=20_000, step=60_000, data=bytes(16))]


def image_wrong_encoding(valid: Image, rng: Rng) -> list[Image]:
    return [_raw(valid, encoding=str(rng.choice(["32FC1", "yuv422", "bgr16", "", "\x1b[31m"])))]


def image_truncated(valid: Image, rng: Rng) -> list[Image]:
    return [_raw(valid, data=bytes(valid.data[: len(valid.data) // 2])), _raw(valid, step=valid.width)]


def compressed_wrong_size(valid: CompressedImage, rng: Rng) -> list[CompressedImage]:
    return [png(np.zeros((100, 120, 3), np.uint8))]


def compressed_wrong_encoding(valid: CompressedImage, rng: Rng) -> list[CompressedImage]:
    garbage = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    jpeg_start = b"\xff\xd8\xff\xe0" + garbage
    return [
        CompressedImage(format=str(rng.choice(["tiff", "jpeg", "png", ""])), data=data)
        for data in (garbage, jpeg_start, b"")
    ]


def compressed_truncated(valid: CompressedImage, rng: Rng) -> list[CompressedImage]:
    return [CompressedImage(format=valid.format, data=bytes(valid.data[: len(valid.data) // 2]))]


RAW_IMAGE_CLASSES: dict[str, ImageClass] = {
    "image_wrong_size": image_wrong_size,
    "image_wrong_encoding": image_wrong_encoding,
    "image_truncated": image_truncated,
}
COMPRESSED_IMAGE_CLASSES: dict[str, CompressedImageClass] = {
    "compressed_wrong_size": compressed_wrong_size,
    "compressed_wrong_encoding": compressed_wrong_encoding,
    "compressed_truncated": compressed_truncated,
    "compressed_png_bomb": lambda valid, rng: [png_bomb()],
}


# -- instruction ------------------------------------------------------------------------------------

INSTRUCTION_CLASSES: dict[str, InstructionClass] = {
    "instruction_empty": lambda valid, rng: [String(data=str(rng.choice(["", "   ", "\n\t"])))],
    "instruction_oversized": lambda valid, rng: [String(data=(valid + " ") * int(rng.choice([100, 5_000])))],
    "instruction_control_chars": lambda valid, rng: [
        String(data=f"\x1b[31m{valid}\r\n[ERROR] forged line\x00\x07"),
    ],
}
