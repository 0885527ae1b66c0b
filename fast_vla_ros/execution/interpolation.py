"""Resampling a chunk to arbitrary times with a natural cubic spline.

Policies emit chunks at their own rate (10-50 Hz) while the executor ticks at 50 Hz with jitter, so a
chunk is looked up at times between its steps. A zero-order hold would put a velocity spike on every
step; a natural cubic spline passes through every target and keeps velocity and acceleration continuous
within the chunk, so the only discontinuities left are at seams, where the blending strategies act.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_banded

# The spline system's diagonals ``[1 4 1]`` in scipy's banded storage (rows: super-, main, sub-diagonal):
# the banded solve is linear in the horizon, where a dense one was quadratic in memory (1.6 GB at 10 000 steps).
_TRIDIAGONAL = np.array([1.0, 4.0, 1.0])[:, None]


def _spline_coefficients(values: np.ndarray) -> np.ndarray:
    """Per-segment polynomial coefficients ``[segments, 4, D]`` in the step-normalised variable ``u``.

    Uniform knots with unit spacing: the second derivatives ``M`` solve
    ``M[i-1] + 4 M[i] + M[i+1] = 6 (y[i+1] - 2 y[i] + y[i-1])`` with ``M = 0`` at both ends (natural).
    """
    n, dims = values.shape
    if n == 1:
        return np.concatenate([values[None], np.zeros((1, 3, dims))], axis=1)
    second = np.zeros((n, dims))
    if n > 2:
        banded = np.repeat(_TRIDIAGONAL, n - 2, axis=1)
        rhs = 6.0 * (values[2:] - 2.0 * values[1:-1] + values[:-2])
        second[1:-1] = solve_banded((1, 1), banded, rhs, overwrite_ab=True, check_finite=False)
    slope = values[1:] - values[:-1] - (2.0 * second[:-1] + second[1:]) / 6.0
    return np.stack([values[:-1], slope, second[:-1] / 2.0, (second[1:] - second[:-1]) / 6.0], axis=1)


class ChunkTrack:
    """One chunk's targets as a function of time, in the arm's joint order.

    Before the first step the first target is returned and after the last step the last one, so a blend
    that still weighs a finished chunk holds its final target instead of extrapolating past it.
    """

    def __init__(self, actions: np.ndarray, t0: float, dt: float) -> None:
        self.t0 = float(t0)
        self.dt = float(dt)
        self.t_end = self.t0 + self.dt * (actions.shape[0] - 1)
        self.last_step = actions.shape[0] - 1
        self.coefficients = _spline_coefficients(np.asarray(actions, dtype=np.float64))  # [segments, 4, D]

    def covers(self, t: float) -> bool:
        return self.t0 <= t <= self.t_end

    def __call__(self, t: float) -> np.ndarray:
        """``[2, D]``: position (row 0) and velocity (row 1) at ``t``; zero velocity outside the chunk."""
        x = (t - self.t0) / self.dt
        inside = 0.0 <= x <= self.last_step
        x = min(max(x, 0.0), float(self.last_step))
        k = min(int(x), self.coefficients.shape[0] - 1)
        u = x - k
        slope = 1.0 / self.dt if inside else 0.0
        basis = np.array(((1.0, u, u * u, u * u * u), (0.0, slope, 2.0 * u * slope, 3.0 * u * u * slope)))
        return basis @ self.coefficients[k]


class HoldTrack:
    """A constant position: what a crossfade fades out of when it starts from a hold."""

    def __init__(self, position: np.ndarray) -> None:
        position = np.array(position, dtype=np.float64)
        self._reference = np.stack([position, np.zeros_like(position)])

    def __call__(self, t: float) -> np.ndarray:
        return self._reference
