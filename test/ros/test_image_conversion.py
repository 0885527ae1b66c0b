"""Camera frames the ROS way: every colour encoding cv_bridge converts to rgb8, with its semantics (16 bit
scaled by 255/65535, Bayer named as ROS names it, row padding, big-endian data), refusals with a reason, and
the three ways to meet a frame of another size (reject, resize, resize_with_pad)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PilImage
from sensor_msgs.msg import CompressedImage, Image

from fast_vla_ros.data.image_encodings import ENCODINGS
from fast_vla_ros.nodes.conversions import InvalidInput, compressed_image_to_rgb, image_to_rgb
from fast_vla_ros.nodes.image_preprocessing import ImagePreprocessing, ImageSizeError, fit_to_size

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)


def message(encoding: str, pixels: np.ndarray, pad: int = 0, bigendian: bool = False) -> Image:
    """``pixels`` (H x W x C, uint8 or uint16) as an Image, each row padded by ``pad`` bytes."""
    dtype = ">u2" if bigendian else "<u2"
    raw = pixels.astype(dtype) if pixels.dtype == np.uint16 else pixels
    rows = raw.reshape(pixels.shape[0], -1).view(np.uint8)
    rows = np.hstack([rows, np.zeros((rows.shape[0], pad), np.uint8)])
    return Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding, is_bigendian=bigendian,
                 step=rows.shape[1], data=rows.tobytes())  # fmt: skip


@pytest.mark.parametrize(
    ("encoding", "channels"),
    [("rgb8", [0, 1, 2]), ("bgr8", [2, 1, 0]), ("rgba8", [0, 1, 2, 0]), ("bgra8", [2, 1, 0, 0])],
)
def test_eight_bit_colour_encodings_give_the_same_rgb(encoding, channels):
    pixels = RGB[:, :, channels].copy()
    if len(channels) == 4:
        pixels[:, :, 3] = 200  # alpha is dropped
    assert np.array_equal(image_to_rgb(message(encoding, pixels, pad=3)), RGB)


@pytest.mark.parametrize("encoding", ["rgb16", "bgr16", "rgba16", "bgra16"])
@pytest.mark.parametrize("bigendian", [False, True])
def test_sixteen_bit_colour_is_scaled_to_eight_bits_as_cv_bridge_does(encoding, bigendian):
    order = {"rgb16": [0, 1, 2], "bgr16": [2, 1, 0], "rgba16": [0, 1, 2, 0], "bgra16": [2, 1, 0, 0]}[encoding]
    wide = RGB.astype(np.uint16) * 257  # k * 257 / 65535 * 255 is exactly k
    assert np.array_equal(image_to_rgb(message(encoding, wide[:, :, order], pad=2, bigendian=bigendian)), RGB)


def test_mono_encodings_become_grey_rgb_with_rounding():
    grey = RGB[:, :, 0]
    assert np.array_equal(image_to_rgb(message("mono8", grey[:, :, None])), np.dstack([grey] * 3))
    values = np.array([[0, 128, 32767, 65535]], dtype=np.uint16)
    converted = image_to_rgb(message("mono16", values[:, :, None], bigendian=True))
    assert converted[0, :, 0].tolist() == [0, 0, 127, 255]  # round(v * 255 / 65535): 0.498 -> 0, 127.498 -> 127
    assert np.array_equal(converted[:, :, 0], converted[:, :, 2])


def bayer_mosaic(pattern: str, colour: tuple[int, int, int], bits: int) -> np.ndarray:
    """A uniform ``colour`` as a sensor with the ROS ``pattern`` (e.g. 'rggb': R G on even rows) sees it."""
    value = {"r": colour[0], "g": colour[1], "b": colour[2]}
    scale = 257 if bits == 16 else 1
    mosaic = np.zeros((8, 8), np.uint16 if bits == 16 else np.uint8)
    for row in (0, 1):
        for column in (0, 1):
            mosaic[row::2, column::2] = value[pattern[2 * row + column]] * scale
    return mosaic[:, :, None]


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
@pytest.mark.parametrize("bits", [8, 16])
def test_bayer_patterns_are_demosaiced_to_the_colour_the_sensor_saw(pattern, bits):
    colour = (200, 90, 30)
    rgb = image_to_rgb(message(f"bayer_{pattern}{bits}", bayer_mosaic(pattern, colour, bits)))
    assert rgb.shape == (8, 8, 3)
    np.testing.assert_allclose(rgb[2:6, 2:6].reshape(-1, 3), np.tile(colour, (16, 1)), atol=1)


@pytest.mark.parametrize(("encoding", "layout"), [("yuv422", "UYVY"), ("yuv422_yuy2", "YUYV")])
def test_yuv422_layouts(encoding, layout):
    """Video-range BT.601, as OpenCV's YUV422 conversions (and so cv_bridge) read it."""
    y, u, v = 100, 90, 170
    expected = [1.164 * (y - 16) + 1.596 * (v - 128),
                1.164 * (y - 16) - 0.813 * (v - 128) - 0.391 * (u - 128),
                1.164 * (y - 16) + 2.018 * (u - 128)]  # fmt: skip
    pair = {"UYVY": [u, y, v, y], "YUYV": [y, u, y, v]}[layout]
    packed = np.tile(np.array(pair, np.uint8), (4, 4)).reshape(4, 8, 2)  # 4 rows of 8 px, 2 bytes each
    rgb = image_to_rgb(message(encoding, packed))
    assert rgb.shape == (4, 8, 3)
    np.testing.assert_allclose(rgb.reshape(-1, 3), np.tile(expected, (32, 1)), atol=2)


def test_every_table_entry_decodes():
    for encoding, spec in ENCODINGS.items():
        width = 4
        data = np.zeros((4, width, spec.channels), np.uint16 if spec.bytes_per_channel == 2 else np.uint8)
        assert image_to_rgb(message(encoding, data)).shape == (4, width, 3), encoding


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (Image(height=4, width=4, encoding="32FC1", step=16, data=bytes(64)), "unsupported image encoding '32FC1'"),
        (Image(height=4, width=4, encoding="8UC3", step=12, data=bytes(48)), "unsupported image encoding '8UC3'"),
        (Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(47)), "47 bytes, expected height 4 x step 12"),
        (Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(49)), "49 bytes, expected height 4 x step 12"),
        (Image(height=4, width=4, encoding="mono16", step=6, data=bytes(24)), "step 6 is less than"),
        (Image(height=0, width=4, encoding="rgb8", step=12, data=b""), "empty"),
    ],
)
def test_bad_frames_are_refused_with_the_reason(msg, reason):
    with pytest.raises(InvalidInput, match=reason):
        image_to_rgb(msg)


def encoded(pixels: np.ndarray, fmt: str) -> CompressedImage:
    buffer = io.BytesIO()
    PilImage.fromarray(pixels).save(buffer, format=fmt)
    return CompressedImage(format=fmt.lower(), data=buffer.getvalue())


def test_compressed_frames_decode_with_opencv():
    assert np.array_equal(compressed_image_to_rgb(encoded(RGB, "PNG"), expected_shape=(6, 10)), RGB)
    smooth = np.dstack([np.full((48, 64), c, np.uint8) for c in (40, 150, 230)])
    jpeg = compressed_image_to_rgb(encoded(smooth, "JPEG"))
    assert np.abs(jpeg.astype(int) - smooth).max() <= 3
    grey = compressed_image_to_rgb(encoded(RGB[:, :, 0], "PNG"))
    assert np.array_equal(grey, np.dstack([RGB[:, :, 0]] * 3))
    with pytest.raises(InvalidInput, match="does not decode"):
        compressed_image_to_rgb(CompressedImage(format="jpeg", data=b"not an image"))


def test_reject_names_both_sizes_and_the_parameter():
    with pytest.raises(ImageSizeError, match=r"image is 480x640, expected 224x224 \(image_preprocessing: reject"):
        fit_to_size(np.zeros((480, 640, 3), np.uint8), (224, 224), ImagePreprocessing.REJECT)
    same = np.zeros((224, 224, 3), np.uint8)
    assert fit_to_size(same, (224, 224), ImagePreprocessing.REJECT) is same


def test_resize_stretches_and_resize_with_pad_letterboxes_in_the_middle():
    white = np.full((480, 640, 3), 255, np.uint8)
    stretched = fit_to_size(white, (224, 224), ImagePreprocessing.RESIZE)
    assert stretched.shape == (224, 224, 3) and stretched.min() == 255
    boxed = fit_to_size(white, (224, 224), ImagePreprocessing.RESIZE_WITH_PAD)
    # 640x480 scaled by 224/640 is 224x168: 28 black rows above and below, every column used.
    rows = boxed[:, :, 0].max(axis=1)
    assert rows[:28].max() == 0 and rows[196:].max() == 0 and rows[28:196].min() == 255
    tall = fit_to_size(np.full((300, 100, 3), 255, np.uint8), (224, 224), ImagePreprocessing.RESIZE_WITH_PAD)
    columns = tall[:, :, 0].max(axis=0)  # 100x300 scaled by 224/300 is 75 wide: columns 74..148
    assert columns[:74].max() == 0 and columns[149:].max() == 0 and columns[74:149].min() == 255
    upscaled = fit_to_size(RGB, (12, 20), ImagePreprocessing.RESIZE_WITH_PAD)
    assert upscaled.shape == (12, 20, 3)
