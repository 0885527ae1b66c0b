"""Camera frames -> the vision tower's pixels: fixed camera order, resize, SigLIP's [-1, 1] scaling."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from fast_vla_ros.policy.errors import ObservationError


def check_frame(camera: str, frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ObservationError(f"camera {camera!r}: expected an HxWx3 RGB image, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ObservationError(f"camera {camera!r}: expected uint8 pixels, got {frame.dtype}")
    return frame


def stack_cameras(images: Mapping[str, np.ndarray], cameras: tuple[str, ...]) -> list[np.ndarray]:
    """Frames in the policy's camera order; a missing camera is an error, extra cameras are ignored."""
    missing = [c for c in cameras if c not in images]
    if missing:
        raise ObservationError(f"missing camera images {missing}; the policy needs {list(cameras)}, got {list(images)}")
    return [check_frame(c, images[c]) for c in cameras]


def to_pixels(frames: list[np.ndarray], image_size: int) -> torch.Tensor:
    """uint8 HxWx3 frames -> float [N, 3, S, S] in [-1, 1] (SigLIP: mean 0.5, std 0.5)."""
    resized = []
    for frame in frames:
        pixels = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float()
        if pixels.shape[-2:] != (image_size, image_size):
            # Antialiasing matters when shrinking 224 px camera frames to the tiny model's 96 px.
            pixels = F.interpolate(pixels, size=(image_size, image_size), mode="bilinear", antialias=True)
        resized.append(pixels)
    return torch.cat(resized) / 127.5 - 1.0
