"""Episodes as something a person can look at: an MP4 or GIF, and a PNG contact sheet.

Frames come either from a live expert rollout or from a recorded data set, so the same pictures check
the simulator and what was written to disk. Cameras are laid side by side in each video frame.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.sim.demonstrations import FPS, run_expert_episode
from fast_vla_ros.sim.expert import ScriptedExpert
from fast_vla_ros.sim.simulator import ArmSimulator

VIDEO_SUFFIXES = (".mp4", ".gif")


def expert_frames(
    task: str, seed: int, cameras: tuple[str, ...], image_size: tuple[int, int]
) -> tuple[np.ndarray, str, bool]:
    """``[T, H, W * cameras, 3]`` frames of one expert episode at 50 Hz, its instruction and success."""
    frames: list[np.ndarray] = []
    with ArmSimulator(image_size=image_size) as sim:
        success = run_expert_episode(
            sim,
            ScriptedExpert(sim.arm),
            task,
            seed,
            lambda s, _action: frames.append(np.concatenate([s.render(c) for c in cameras], axis=1)),
        )
        return np.stack(frames), sim.instruction, success


def recorded_frames(root: str | Path, episode: int, cameras: tuple[str, ...] | None = None) -> tuple[np.ndarray, str]:
    """``[T, H, W * cameras, 3]`` frames of a recorded episode and its instruction."""
    dataset = EpisodeDataset(root)
    if not 0 <= episode < len(dataset):
        raise IndexError(f"episode {episode} is not in {root} (it has {len(dataset)} episodes)")
    cameras = dataset.cameras if cameras is None else cameras
    length = dataset.episodes[episode].length
    frames = [np.concatenate([dataset.image(episode, t, c) for c in cameras], axis=1) for t in range(length)]
    return np.stack(frames), dataset.episodes[episode].instruction


def write_video(path: Path, frames: np.ndarray, every: int = 2) -> None:
    """MP4 (H.264 via imageio-ffmpeg) or GIF by suffix, keeping every ``every``-th 50 Hz frame."""
    frames, fps = frames[::every], FPS / every
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        iio.imwrite(path, frames, plugin="pillow", duration=1000 / fps, loop=0)
    else:
        iio.imwrite(path, frames, plugin="FFMPEG", fps=fps, macro_block_size=8)


def contact_sheet(frames: np.ndarray, count: int = 8, columns: int = 4) -> np.ndarray:
    """``count`` evenly spaced frames tiled ``columns`` wide, with a 4-pixel white border between tiles."""
    picks = frames[np.linspace(0, len(frames) - 1, count).round().astype(int)]
    height, width = picks.shape[1:3]
    rows = -(-count // columns)
    sheet = np.full((rows * (height + 4) + 4, columns * (width + 4) + 4, 3), 255, np.uint8)
    for i, frame in enumerate(picks):
        r, c = divmod(i, columns)
        sheet[
            4 + r * (height + 4) : 4 + r * (height + 4) + height, 4 + c * (width + 4) : 4 + c * (width + 4) + width
        ] = frame
    return sheet
