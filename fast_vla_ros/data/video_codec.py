"""Camera streams as MP4 files (H.264, yuv420p), the way LeRobot stores ``dtype: video`` features.

Encoded and decoded by the ffmpeg binary that ``imageio-ffmpeg`` ships, through pipes: no frame touches
the disk uncompressed. One key frame every ``GOP`` frames (as LeRobot's own encoder settings), so a tool
that seeks to one frame decodes at most one other; this package decodes whole episodes at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import imageio_ffmpeg
import numpy as np

CODEC = "h264"  # info.json's video.codec
ENCODER = "libx264"
PIX_FMT = "yuv420p"  # what every player and LeRobot's decoders read
CRF = 20  # x264 constant quality: visually lossless on these scenes, about the size of JPEG at quality 90
GOP = 2


def encode_video(path: Path, frames: Iterable[np.ndarray], fps: int, size: tuple[int, int]) -> None:
    """Write HxWx3 uint8 RGB ``frames`` (``size``: height, width) as an MP4 at ``path`` (any file name:
    the container is named, so a temporary name works)."""
    height, width = size
    if height % 2 or width % 2:
        raise ValueError(f"{PIX_FMT} video needs an even height and width, got {height}x{width}")
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec=ENCODER,
        pix_fmt_out=PIX_FMT,
        quality=None,
        macro_block_size=1,
        output_params=["-crf", str(CRF), "-g", str(GOP), "-preset", "veryfast", "-f", "mp4"],
    )
    writer.send(None)  # starts ffmpeg
    try:
        for frame in frames:
            if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                raise ValueError(f"frames must be {height}x{width}x3 uint8, got {frame.shape} {frame.dtype}")
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()


def decode_video(path: Path) -> np.ndarray:
    """Every frame of the MP4 at ``path`` as ``[T, H, W, 3]`` uint8 RGB."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
        width, height = meta["size"]
        frames = [np.frombuffer(data, np.uint8).reshape(height, width, 3) for data in reader]
    finally:
        reader.close()
    return np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8)
