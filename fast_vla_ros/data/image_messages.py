"""Camera messages (sensor_msgs/Image and CompressedImage) to RGB arrays, without importing ROS.

The nodes decode live messages and the rosbag2 import decodes the ``rosbags`` library's copies of the
same messages; both have the same fields, so one decoder serves both. Every function raises
``InvalidInput`` with a message a user can act on (which encoding, which size) instead of letting a
malformed frame reach the model or a data set.
"""

from __future__ import annotations

import io
import unicodedata
from typing import Any

import numpy as np


class InvalidInput(ValueError):
    """A message that cannot be used as it is; the text says what is wrong with it."""


# Channels of each raw encoding we accept, and where R, G, B sit; everything becomes RGB uint8.
_RAW_ENCODINGS: dict[str, tuple[int, tuple[int, int, int]]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, (0, 0, 0)),
}


# Largest frame a compressed camera topic may declare when no expected size is set: 4K.
MAX_DECODED_PIXELS = 3840 * 2160


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe to put in a log line: control characters (ANSI escapes, CR/LF that forge log lines)
    escaped, and cut at ``limit`` characters, since the text comes from whoever publishes on a topic."""
    escaped = "".join(
        char if unicodedata.category(char)[0] != "C" else char.encode("unicode_escape").decode("ascii")
        for char in text[: limit + 1]
    )
    return escaped if len(text) <= limit else f"{escaped[:limit]}... ({len(text)} characters)"


def image_to_rgb(msg: Any, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """An ``HxWx3`` uint8 RGB copy of a raw ``sensor_msgs/Image``.

    ``expected_shape`` (height, width) guards against a camera reconfigured behind the policy's
    back: the model was trained on one size and silently resizing would change what it sees.
    """
    if msg.encoding not in _RAW_ENCODINGS:
        raise InvalidInput(f"unsupported image encoding '{msg.encoding}'; use one of {sorted(_RAW_ENCODINGS)}")
    channels, rgb = _RAW_ENCODINGS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if expected_shape is not None and (height, width) != tuple(expected_shape):
        raise InvalidInput(f"image is {height}x{width}, expected {expected_shape[0]}x{expected_shape[1]}")
    if height == 0 or width == 0:
        raise InvalidInput("image is empty (height or width 0)")
    if step < width * channels or len(msg.data) < step * height:
        raise InvalidInput(
            f"image data too short: {len(msg.data)} bytes for {height} rows of step {step} "
            f"({width} px x {channels} channels)"
        )
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8, count=step * height).reshape(height, step)
    pixels = rows[:, : width * channels].reshape(height, width, channels)
    return np.ascontiguousarray(pixels[:, :, list(rgb)])


def compressed_image_to_rgb(
    msg: Any, expected_shape: tuple[int, int] | None = None, max_pixels: int = MAX_DECODED_PIXELS
) -> np.ndarray:
    """An ``HxWx3`` uint8 RGB array from a JPEG or PNG ``sensor_msgs/CompressedImage``.

    The size the header declares is checked before any pixel is decoded: a few hundred bytes of PNG can
    declare 20000x20000 and make the decoder allocate gigabytes (PIL then raises DecompressionBombError).
    """
    from PIL import Image as PilImage

    try:
        with PilImage.open(io.BytesIO(bytes(msg.data))) as image:
            width, height = image.size  # read from the header only
            if expected_shape is not None and (height, width) != tuple(expected_shape):
                raise InvalidInput(
                    f"compressed image declares {height}x{width}, expected {expected_shape[0]}x{expected_shape[1]}"
                )
            if height * width > max_pixels:
                raise InvalidInput(f"compressed image declares {height}x{width}, more than {max_pixels} pixels")
            pixels = np.asarray(image.convert("RGB"))
    except InvalidInput:
        raise
    except PilImage.DecompressionBombError as error:  # raised by open(), from the header, before decoding
        raise InvalidInput(f"compressed image ('{printable(msg.format)}') refused before decoding: {error}") from error
    except Exception as error:  # any decoder failure (PIL raises several unrelated types) is bad input
        raise InvalidInput(f"compressed image ('{printable(msg.format)}') does not decode: {error}") from error
    return pixels
