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


def smootherstep_slope(x: float) -> float:
    """Derivative of :func:`smootherstep` with respect to ``x``."""
    if not 0.0 < x < 1.0:
        return 0.0
    return 30.0 * x * x * (x - 1.0) * (x - 1.0)


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
    """The reference at time ``t``, ``[2, D]``: position (row 0) and velocity (row 1), both rad and rad/s;
    ``None`` when no chunk covers ``t`` (the executor then holds)."""

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
        blend = self._layers[first][0](t)
        for track, start in self._layers[first + 1 :]:
            incoming = track(t)
            phase = (t - start) / self._window
            # d/dt [(1 - w) old + w new] = (1 - w) old' + w new' + w' (new - old)
            change = (smootherstep_slope(phase) / self._window) * (incoming[0] - blend[0])
            blend = blend + smootherstep(phase) * (incoming - blend)
            blend[1] += change
        return blend

    def prune(self, t: float) -> None:
        del self._layers[: self._settled(t)]

    def clear(self) -> None:
        self._layers = []
        self._newest = None


_POWERS = np.arange(4)
_SLOPE_POWERS = np.array([0, 0, 1, 2])
_SLOPE_FACTORS = np.arange(4.0)


class TemporalEnsembleBlender:
    """ACT temporal ensembling: every chunk that covers ``t`` votes, weighted by its observation time.

    The chunks' spline coefficients are kept stacked, so a tick costs the same few array operations
    whether three chunks overlap or thirty.
    """

    def __init__(self, coefficient: float, period: float, max_tracks: int) -> None:
        self._coefficient = coefficient
        self._period = period
        self._max_tracks = max_tracks
        self._tracks: list[ChunkTrack] = []
        self._stack()

    def _stack(self) -> None:
        tracks = self._tracks
        self._t0 = np.array([track.t0 for track in tracks])
        self._dt = np.array([track.dt for track in tracks])
        self._last_step = np.array([track.last_step for track in tracks], dtype=np.int64)
        segments = max((track.coefficients.shape[0] for track in tracks), default=1)
        dims = tracks[0].coefficients.shape[2] if tracks else 0
        self._coefficients = np.zeros((len(tracks), segments, 4, dims))
        for i, track in enumerate(tracks):
            self._coefficients[i, : track.coefficients.shape[0]] = track.coefficients

    def add(self, track: ChunkTrack, t: float) -> None:
        # Finished chunks are dropped here, in the chunk callback, so that ticks never restack.
        self._tracks = [kept for kept in self._tracks if kept.t_end >= t]
        self._tracks.append(track)
        del self._tracks[: -self._max_tracks]
        self._stack()

    def restart(self, position: np.ndarray, t: float) -> None:
        pass

    def reference(self, t: float) -> np.ndarray | None:
        x = (t - self._t0) / self._dt
        covering = np.flatnonzero((x >= 0.0) & (x <= self._last_step))
        if covering.size == 0:
            return None
        x = x[covering]
        k = np.minimum(x.astype(np.int64), np.maximum(self._last_step[covering] - 1, 0))
        weights = ensemble_weights(self._t0[covering], self._coefficient, self._period)[:, None]
        # Rows of the weighted spline basis: [1, u, u^2, u^3] for position, its derivative for velocity.
        powers = (x - k)[:, None] ** _POWERS
        slopes = powers[:, _SLOPE_POWERS] * _SLOPE_FACTORS / self._dt[covering, None]
        basis = np.stack([powers * weights, slopes * weights]).reshape(2, -1)
        return basis @ self._coefficients[covering, k].reshape(basis.shape[1], -1)

    def prune(self, t: float) -> None:
        """Nothing: finished chunks no longer cover ``t`` and cost one comparison each until the next add."""

    def clear(self) -> None:
        self._tracks = []
        self._stack()


def make_blender(config: SchedulerConfig) -> SeamBlender:
    if config.strategy is Strategy.REPLACE:
        return ReplaceBlender()
    if config.strategy is Strategy.CROSSFADE:
        return CrossfadeBlender(config.crossfade_steps * config.control_period)
    return TemporalEnsembleBlender(config.ensemble_coefficient, config.control_period, config.max_active_chunks)
