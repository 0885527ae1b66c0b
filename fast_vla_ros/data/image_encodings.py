"""Raw ``sensor_msgs/Image`` pixels to RGB uint8 with ROS 2 cv_bridge's semantics, on OpenCV (no ROS import:
the rosbag2 import decodes the ``rosbags`` library's copies of the same messages).

A ROS 2 machine has cv_bridge (C++ with Python bindings) from its distribution; PyPI has no ROS 2 cv_bridge,
and its ``cv-bridge`` 1.13.0.post0 is a 2020 pure-Python port of ROS 1's. Measured here with numpy 2.4 (see
docs/images.md): under OpenCV 5 it misreads the channel count of every encoding (``buffer is too small`` for
rgb8); under OpenCV 4.13 rgb8/bgr8 work but mono16 and 16-bit colour cannot be converted to rgb8, 16UC1 is
read as 8-bit, ``bayer_grbg8`` is missing from its table, ``step`` padding is ignored, big-endian data
crashes (``ndarray.newbyteorder``, removed in numpy 2) and so does every message it builds
(``ndarray.tostring``). So the conversion is done here, on OpenCV, the same on both installs, following
what ``cv_bridge::toCvCopy(msg, "rgb8")`` does:

- colour encodings only: mono, rgb, bgr, rgba, bgra (8 and 16 bit), yuv422 (UYVY) and yuv422_yuy2 (YUYV),
  Bayer rggb/bggr/gbrg/grbg (8 and 16 bit); generic ones (``8UC3``, ``32FC1`` ...) carry no colour
  meaning and are refused, as cv_bridge refuses converting them to rgb8;
- ``step`` may pad rows, but ``len(data)`` must equal ``height * step``; big-endian 16-bit data is swapped;
- the colour conversion runs at the source depth (Bayer demosaicing included), then 16 bit becomes 8 bit
  scaled by 255/65535 with rounding, as cv_bridge's ``convertTo``;
- OpenCV names Bayer patterns by the second row: ROS ``rggb`` is OpenCV's ``BayerBG``, as in cv_bridge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


class ImageEncodingError(ValueError):
    """The frame cannot be read as its encoding says; the text says why."""


@dataclass(frozen=True)
class Encoding:
    channels: int
    bytes_per_channel: int
    to_rgb: int | None  # OpenCV colour conversion code; None when the channels already are R, G, B


def _table() -> dict[str, Encoding]:
    table: dict[str, Encoding] = {}
    for bits in (8, 16):
        size = bits // 8
        table[f"mono{bits}"] = Encoding(1, size, cv2.COLOR_GRAY2RGB)
        table[f"rgb{bits}"] = Encoding(3, size, None)
        table[f"bgr{bits}"] = Encoding(3, size, cv2.COLOR_BGR2RGB)
        table[f"rgba{bits}"] = Encoding(4, size, cv2.COLOR_RGBA2RGB)
        table[f"bgra{bits}"] = Encoding(4, size, cv2.COLOR_BGRA2RGB)
        table[f"bayer_rggb{bits}"] = Encoding(1, size, cv2.COLOR_BayerBG2RGB)
        table[f"bayer_bggr{bits}"] = Encoding(1, size, cv2.COLOR_BayerRG2RGB)
        table[f"bayer_gbrg{bits}"] = Encoding(1, size, cv2.COLOR_BayerGR2RGB)
        table[f"bayer_grbg{bits}"] = Encoding(1, size, cv2.COLOR_BayerGB2RGB)
    table["yuv422"] = Encoding(2, 1, cv2.COLOR_YUV2RGB_UYVY)
    table["yuv422_yuy2"] = Encoding(2, 1, cv2.COLOR_YUV2RGB_YUY2)
    return table


ENCODINGS = _table()
_SIXTEEN_TO_EIGHT_BITS = 255.0 / 65535.0


def decode_image(msg: Any) -> np.ndarray:
    """An ``HxWx3`` uint8 RGB copy of ``msg``'s pixels; :class:`ImageEncodingError` naming what is wrong."""
    encoding = ENCODINGS.get(msg.encoding)
    if encoding is None:
        raise ImageEncodingError(
            f"unsupported image encoding '{msg.encoding}'; colour encodings are {sorted(ENCODINGS)}"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageEncodingError("image is empty (height or width 0)")
    row_bytes = width * encoding.channels * encoding.bytes_per_channel
    if step < row_bytes:
        raise ImageEncodingError(
            f"image step {step} is less than {width} px x {encoding.channels} channels x "
            f"{encoding.bytes_per_channel} bytes = {row_bytes}"
        )
    if len(msg.data) != height * step:
        raise ImageEncodingError(f"image data is {len(msg.data)} bytes, expected height {height} x step {step}")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    if encoding.bytes_per_channel == 2:
        order = ">" if msg.is_bigendian else "<"
        pixels = np.ascontiguousarray(rows).view(f"{order}u2").astype(np.uint16)
    else:
        pixels = np.ascontiguousarray(rows)
    pixels = pixels.reshape(height, width, encoding.channels)
    if encoding.to_rgb is not None:
        pixels = cv2.cvtColor(pixels if encoding.channels > 1 else pixels[:, :, 0], encoding.to_rgb)
    if pixels.dtype == np.uint16:
        pixels = cv2.convertScaleAbs(pixels, alpha=_SIXTEEN_TO_EIGHT_BITS)
    return np.ascontiguousarray(pixels)
