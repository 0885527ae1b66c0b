"""A camera frame of another size than the policy was trained on: refuse it, stretch it, or letterbox it.

``reject`` is the safe default: a policy trained on 224x224 sees something else in a 640x480 frame squeezed
to 224x224, and the user should decide that knowingly. ``resize`` stretches to the size (the aspect ratio
changes); ``resize_with_pad`` scales to fit keeping the aspect ratio and centres the result on black, as
openpi's ``image_tools.resize_with_pad`` (after ``tf.image.resize_with_pad``) prepares pi0 inputs. Shrinking
uses OpenCV's area interpolation, which averages the source pixels a target pixel covers (bilinear would
alias a 640 px frame down to 224); enlarging uses bilinear.
"""

from __future__ import annotations

from enum import Enum

import cv2
import numpy as np


class ImagePreprocessing(str, Enum):
    REJECT = "reject"
    RESIZE = "resize"
    RESIZE_WITH_PAD = "resize_with_pad"


class ImageSizeError(ValueError):
    """A frame of another size under ``reject``; the text names both sizes and the parameter."""


def _resized(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    shrinking = height * width < pixels.shape[0] * pixels.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(pixels, (width, height), interpolation=interpolation)


def fit_to_size(pixels: np.ndarray, size: tuple[int, int], how: ImagePreprocessing) -> np.ndarray:
    """``pixels`` (``HxWx3`` uint8) at ``size`` (height, width), made so as ``how`` says."""
    height, width = size
    if pixels.shape[:2] == (height, width):
        return pixels
    if how is ImagePreprocessing.REJECT:
        raise ImageSizeError(
            f"image is {pixels.shape[0]}x{pixels.shape[1]}, expected {height}x{width} "
            "(image_preprocessing: reject; resize or resize_with_pad accept other sizes)"
        )
    if how is ImagePreprocessing.RESIZE:
        return _resized(pixels, height, width)
    scale = min(height / pixels.shape[0], width / pixels.shape[1])
    inner_height = max(1, min(height, round(pixels.shape[0] * scale)))
    inner_width = max(1, min(width, round(pixels.shape[1] * scale)))
    top, left = (height - inner_height) // 2, (width - inner_width) // 2
    padded = np.zeros((height, width, pixels.shape[2]), dtype=pixels.dtype)
    padded[top : top + inner_height, left : left + inner_width] = _resized(pixels, inner_height, inner_width)
    return padded
