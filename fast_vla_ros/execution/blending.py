"""Seam strategies: how the targets of a new chunk take over from those already being executed.

Consecutive chunks disagree where they overlap (each is a fresh, noisy prediction), so switching at once
puts a position step on the arm at every seam. ``crossfade`` spreads that difference over a window and
``temporal_ensemble`` averages all overlapping predictions as in ACT (Zhao et al. 2023).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from fast_vla_ros.execution.config import SchedulerConfig, Strategy
from fast_vla_ros.execution.interpolation import ChunkTrack, HoldTrack


def smootherstep(x: float) -> float:
    """Fade weight over a normalised window: zero slope and curvature at both ends, so a fade starts and
    ends without a velocity or acceleration step (the minimum-jerk profile)."""
    x = min(max(x, 0.0), 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


def crossfade_weight(t: float, start: float, window: float) -> float:
    """Weight of a chunk that began fading in at ``start``, ``window`` seconds long."""
    return smootherstep((t - start) / window)


def ensemble_weights(observation_times: np.ndarray, coefficient: float, period: float) -> np.ndarray:
    """Normalised ACT weights ``exp(-m i)`` where ``i`` is a chunk's observation time after the oldest one,
    in control periods: equal to ACT's per-step index when a chunk arrives every tick, and still meaningful
    when chunks arrive irregularly."""
    age = (observation_times - observation_times.min()) / period
    weights = np.exp(-coefficient * (age - (age.max() if coefficient < 0 else 0.0)))
    return weights / weights.sum()


class SeamBlender(Protocol):
    """The reference position at time ``t``: ``None`` when no chunk covers ``t`` (the executor then holds)."""

    def add(self, track: ChunkTrack, t: float) -> None: ...

    def restart(self, position: np.ndarray, t: float) -> None:
        """Continue from ``position`` after a hold."""

    def reference(self, t: float) -> np.ndarray | None: ...

    def prune(self, t: float) -> None:
        """Forget what can no longer contribute at ``t`` or later."""

    def clear(self) -> None: ...


class ReplaceBlender:
    """The newest chunk wins at once: the baseline every other strategy is measured against."""

    def __init__(self) -> None:
        self._track: ChunkTrack | None = None

    def add(self, track: ChunkTrack, t: float) -> None:
        self._track = track

    def restart(self, position: np.ndarray, t: float) -> None:
        pass

    def reference(self, t: float) -> np.ndarray | None:
        if self._track is None or t > self._track.t_end:
            return None
        return self._track(t)

    def prune(self, t: float) -> None:
        pass

    def clear(self) -> None:
        self._track = None


class CrossfadeBlender:
    """Each new chunk fades in over ``window`` seconds from whatever was being executed, itself possibly
    a fade still in progress, so chunks arriving faster than the window still blend continuously."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._layers: list[tuple[ChunkTrack | HoldTrack, float]] = []
        self._newest: ChunkTrack | None = None

    def add(self, track: ChunkTrack, t: float) -> None:
        self._layers.append((track, t if self._layers else -math.inf))
        self._newest = track

    def restart(self, position: np.ndarray, t: float) -> None:
        self._layers = [(HoldTrack(position), -math.inf)]
        if self._newest is not None:
            self._layers.append((self._newest, t))

    def _settled(self, t: float) -> int:
        """Index of the newest layer whose fade is complete at ``t``: nothing below it contributes."""
        for i in range(len(self._layers) - 1, 0, -1):
            if t - self._layers[i][1] >= self._window:
                return i
        return 0

    def reference(self, t: float) -> np.ndarray | None:
        if self._newest is None or t > self._newest.t_end:
            return None
        first = self._settled(t)
        position = self._layers[first][0](t)
        for track, start in self._layers[first + 1 :]:
            position = position + crossfade_weight(t, start, self._window) * (track(t) - position)
        return position

    def prune(self, t: float) -> None:
        del self._layers[: self._settled(t)]

    def clear(self) -> None:
        self._layers = []
        self._newest = None


class TemporalEnsembleBlender:
    """ACT temporal ensembling: every chunk that covers ``t`` votes, weighted by its observation time."""

    def __init__(self, coefficient: float, period: float, max_tracks: int) -> None:
        self._coefficient = coefficient
        self._period = period
        self._max_tracks = max_tracks
        self._tracks: list[ChunkTrack] = []

    def add(self, track: ChunkTrack, t: float) -> None:
        self._tracks.append(track)
        del self._tracks[: -self._max_tracks]

    def restart(self, position: np.ndarray, t: float) -> None:
        pass

    def reference(self, t: float) -> np.ndarray | None:
        covering = [track for track in self._tracks if track.covers(t)]
        if not covering:
            return None
        if len(covering) == 1:
            return covering[0](t)
        weights = ensemble_weights(np.array([track.t0 for track in covering]), self._coefficient, self._period)
        return weights @ np.stack([track(t) for track in covering])

    def prune(self, t: float) -> None:
        self._tracks = [track for track in self._tracks if track.t_end >= t]

    def clear(self) -> None:
        self._tracks = []


def make_blender(config: SchedulerConfig) -> SeamBlender:
    if config.strategy is Strategy.REPLACE:
        return ReplaceBlender()
    if config.strategy is Strategy.CROSSFADE:
        return CrossfadeBlender(config.crossfade_steps * config.control_period)
    return TemporalEnsembleBlender(config.ensemble_coefficient, config.control_period, config.max_active_chunks)
