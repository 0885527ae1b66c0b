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

import cv2
import numpy as np

from fast_vla_ros.data.image_encodings import ImageEncodingError, decode_image


class InvalidInput(ValueError):
    """A message that cannot be used as it is; the text says what is wrong with it."""


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
    msg: Any, expected_shape: tuple[int, int] | None = None, max_pixels: int = MAX_DECODED_PIXELS
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
