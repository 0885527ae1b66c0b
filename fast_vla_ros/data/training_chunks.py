"""Training pairs cut from episodes: the observation at frame t and the actions of frames t..t+H-1.

This is what policy training consumes (``fast_vla_ros.training.train_loop``: a re-iterable source of
``(Observation, targets [H, D])``) and what the tokenizer benchmarks fit on (``action_windows``).
Near an episode's end the chunk is padded by repeating the last action: the arm holds its final
target, which is exactly what the executor does when a chunk runs out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.types import ActionChunk, Observation

TrainingPair = tuple[Observation, np.ndarray]


def _window(actions: np.ndarray, start: int, horizon: int) -> np.ndarray:
    rows = np.minimum(np.arange(start, start + horizon), len(actions) - 1)
    return actions[rows].astype(np.float64)


class TrainingChunks:
    """Re-iterable ``(Observation, actions [horizon, D])`` pairs over a data set, for any horizon.

    ``stride`` spaces the observation frames; ``shuffle`` visits the frames in a new seeded order on every
    pass, ``interleave`` episodes at a time: their frames are mixed, so consecutive samples come from that
    many different scenes, while only those episodes' compressed frames need to be in memory (give the
    data set at least that many ``cached_episodes``). ``episodes`` selects a subset, e.g. for a
    train/validation split; ``cameras`` selects which images go in the observation.

    ``start_frames`` and ``start_repeats`` add every one of an episode's first ``start_frames`` frames
    ``start_repeats`` more times per pass. Before the arm moves, only the images and the instruction say
    where to go (once it moves, the joint state gives the direction away), and those few frames are the
    ones a policy needs to learn to find the named object from.
    """

    def __init__(
        self,
        dataset: EpisodeDataset | str | Path,
        horizon: int,
        *,
        stride: int = 1,
        shuffle: bool = False,
        interleave: int = 1,
        start_frames: int = 0,
        start_repeats: int = 0,
        seed: int = 0,
        episodes: Sequence[int] | None = None,
        cameras: Sequence[str] | None = None,
    ) -> None:
        self.dataset = dataset if isinstance(dataset, EpisodeDataset) else EpisodeDataset(dataset)
        if horizon < 1 or stride < 1 or interleave < 1:
            raise ValueError(
                f"horizon, stride and interleave must be positive, got {horizon}, {stride} and {interleave}"
            )
        if start_frames < 0 or start_repeats < 0:
            raise ValueError(f"start_frames and start_repeats must be >= 0, got {start_frames} and {start_repeats}")
        self.horizon, self.stride, self.shuffle, self.interleave, self.seed = horizon, stride, shuffle, interleave, seed
        self.start_frames, self.start_repeats = start_frames, start_repeats
        self.episodes = list(range(len(self.dataset))) if episodes is None else list(episodes)
        self.cameras = tuple(self.dataset.cameras if cameras is None else cameras)
        unknown = sorted(set(self.cameras) - set(self.dataset.cameras))
        if unknown:
            raise KeyError(f"unknown cameras {unknown}; this data set has {list(self.dataset.cameras)}")
        self._passes = 0

    @property
    def dt(self) -> float:
        return 1.0 / self.dataset.fps

    def __len__(self) -> int:
        return sum(len(self.frames(e)) for e in self.episodes)

    def frames(self, episode: int) -> list[int]:
        """The observation frames one pass visits in ``episode``, in order (a start frame may recur)."""
        length = self.dataset.episodes[episode].length
        return [*range(0, length, self.stride), *(list(range(min(self.start_frames, length))) * self.start_repeats)]

    def __iter__(self) -> Iterator[TrainingPair]:
        rng = np.random.default_rng((self.seed, self._passes))
        self._passes += 1
        if not self.shuffle:
            for episode in self.episodes:
                for frame in self.frames(episode):
                    yield self.pair(episode, frame)
            return
        order = rng.permutation(self.episodes)
        for start in range(0, len(order), self.interleave):
            pairs = [
                (int(episode), frame)
                for episode in order[start : start + self.interleave]
                for frame in self.frames(int(episode))
            ]
            for index in rng.permutation(len(pairs)):
                yield self.pair(*pairs[index])

    def pair(self, episode: int, frame: int) -> TrainingPair:
        """The observation at ``frame`` of ``episode`` and the ``horizon`` actions from that frame on."""
        return self.observation(episode, frame), self.chunk(episode, frame).actions

    def observation(self, episode: int, frame: int) -> Observation:
        rows = self.dataset.frame_rows(episode)
        return Observation(
            images={c: self.dataset.image(episode, frame, c) for c in self.cameras},
            state=self.dataset.state[rows][frame].astype(np.float64),
            joint_names=self.dataset.joint_names,
            instruction=self.dataset.episodes[episode].instruction,
            stamp=float(self.dataset.timestamp[rows][frame]),
        )

    def chunk(self, episode: int, frame: int) -> ActionChunk:
        """Actions of frames ``frame .. frame + horizon - 1`` anchored at the observation's time."""
        rows = self.dataset.frame_rows(episode)
        return ActionChunk(
            actions=_window(self.dataset.action[rows], frame, self.horizon),
            t0=float(self.dataset.timestamp[rows][frame]),
            dt=self.dt,
            joint_names=self.dataset.joint_names,
        )


def action_windows(dataset: EpisodeDataset | str | Path, horizon: int, stride: int = 1) -> np.ndarray:
    """``[N, horizon, D]`` action windows lying wholly inside episodes (no padding, no images decoded),
    for fitting and measuring action tokenizers on expert motion."""
    dataset = dataset if isinstance(dataset, EpisodeDataset) else EpisodeDataset(dataset)
    windows = []
    for episode in range(len(dataset)):
        actions = dataset.action[dataset.frame_rows(episode)].astype(np.float64)
        windows.extend(actions[s : s + horizon] for s in range(0, len(actions) - horizon + 1, stride))
    if not windows:
        return np.zeros((0, horizon, len(dataset.joint_names)))
    return np.stack(windows)
