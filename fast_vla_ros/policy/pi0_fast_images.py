"""Camera frames -> SigLIP pixels exactly as each LeRobot pi0-FAST format prepares them.

Both scale the frame to [0, 1], shrink it to fit the model's square input keeping its aspect ratio
(bilinear, ``align_corners=False``, no antialiasing), pad the rest with black and map to [-1, 1]. They
differ in where the padding goes: ``pi0_fast`` (openpi's ``resize_with_pad_torch``) centres the image
and clamps the interpolated values to [0, 1]; the legacy ``pi0fast`` pads on the left and top only and
does not clamp. This differs from our own ``images.to_pixels`` (plain resize with antialiasing), which
is why these checkpoints get their own function: a few pixels of shift are a different input.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fast_vla_ros.policy.images import check_frame


def resize_with_pad(frame: np.ndarray, size: int, centred: bool, camera: str = "camera") -> torch.Tensor:
    """uint8 HxWx3 -> float [3, size, size] in [0, 1], aspect kept, padded with 0."""
    frame = check_frame(camera, frame)
    pixels = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0
    height, width = pixels.shape[-2:]
    ratio = max(width / size, height / size)
    resized_height, resized_width = int(height / ratio), int(width / ratio)
    resized = F.interpolate(pixels, size=(resized_height, resized_width), mode="bilinear", align_corners=False)
    pad_height, pad_width = size - resized_height, size - resized_width
    if centred:
        resized = resized.clamp(0.0, 1.0)
        top, left = pad_height // 2, pad_width // 2
    else:
        top, left = pad_height, pad_width
    padded = F.pad(resized, (left, pad_width - left, top, pad_height - top), value=0.0)
    return padded[0]


def to_siglip_pixels(
    frames: list[np.ndarray | None], size: int, centred: bool, cameras: list[str] | None = None
) -> torch.Tensor:
    """Frames -> [N, 3, size, size] in [-1, 1]; ``None`` stands for an empty camera (all -1, as LeRobot fills it)."""
    names = cameras or [f"camera {i}" for i in range(len(frames))]
    pixels = [
        torch.zeros(3, size, size) if frame is None else resize_with_pad(frame, size, centred, name)
        for frame, name in zip(frames, names, strict=True)
    ]
    return torch.stack(pixels) * 2.0 - 1.0
