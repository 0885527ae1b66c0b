"""LeRobot's per-feature normalization modes, as its normalizer and unnormalizer steps compute them.

A pi0-FAST checkpoint discretizes the *normalized* state into its prompt and predicts *normalized*
actions, so the statistics and the exact formula (where the epsilon goes, no clipping) decide which
bins the model sees and which radians come out. numpy only.

    MEAN_STD     (x - mean) / (std + eps)            inverse: y * std + mean
    MIN_MAX      2 (x - min) / (max - min) - 1       inverse: (y + 1) / 2 (max - min) + min
    QUANTILES    2 (x - q01) / (q99 - q01) - 1       inverse: (y + 1) (q99 - q01) / 2 + q01
    QUANTILE10   as QUANTILES with q10 / q90
    IDENTITY     x

LeRobot >= 0.4 replaces a zero span by ``eps`` for MIN_MAX and the quantile modes; the legacy
``pi0fast`` (0.3) adds ``eps`` to the span instead (``legacy_span=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The statistics each mode needs, in (low, high) or (centre, scale) order.
MODE_STATISTICS: dict[str, tuple[str, ...]] = {
    "MEAN_STD": ("mean", "std"),
    "MIN_MAX": ("min", "max"),
    "QUANTILES": ("q01", "q99"),
    "QUANTILE10": ("q10", "q90"),
    "IDENTITY": (),
}
DEFAULT_EPS = 1e-8


@dataclass(frozen=True)
class FeatureNormalizer:
    """One feature's normalization (``observation.state`` or ``action``) in one of ``MODE_STATISTICS``."""

    mode: str
    first: np.ndarray | None = None  # mean, min, q01 or q10
    second: np.ndarray | None = None  # std, max, q99 or q90
    eps: float = DEFAULT_EPS
    legacy_span: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODE_STATISTICS:
            raise ValueError(f"unknown normalization mode {self.mode!r}; known: {sorted(MODE_STATISTICS)}")
        if self.mode == "IDENTITY":
            return
        if self.first is None or self.second is None:
            raise ValueError(f"{self.mode} needs {MODE_STATISTICS[self.mode]}")
        first = np.asarray(self.first, dtype=np.float64).reshape(-1)
        second = np.asarray(self.second, dtype=np.float64).reshape(-1)
        if first.shape != second.shape:
            raise ValueError(f"{self.mode} statistics disagree in size: {first.shape} vs {second.shape}")
        if not (np.isfinite(first).all() and np.isfinite(second).all()):
            raise ValueError(f"{self.mode} statistics contain NaN or Inf")
        object.__setattr__(self, "first", first)
        object.__setattr__(self, "second", second)

    @classmethod
    def from_stats(
        cls, mode: str, stats: dict[str, np.ndarray], eps: float = DEFAULT_EPS, legacy_span: bool = False
    ) -> FeatureNormalizer:
        """``stats`` maps statistic names (``mean``, ``q01``, ...) to arrays; missing ones raise ``KeyError``."""
        if mode not in MODE_STATISTICS:
            raise ValueError(f"unknown normalization mode {mode!r}; known: {sorted(MODE_STATISTICS)}")
        if mode == "IDENTITY":
            return cls(mode)
        first, second = MODE_STATISTICS[mode]
        missing = [name for name in (first, second) if name not in stats]
        if missing:
            raise KeyError(f"{mode} normalization needs the statistics {missing}")
        return cls(mode, stats[first], stats[second], eps, legacy_span)

    @property
    def size(self) -> int | None:
        """Dimensions the statistics cover; ``None`` for IDENTITY (any size)."""
        return None if self.first is None else int(self.first.shape[0])

    def _span(self) -> np.ndarray:
        span = self.second - self.first
        if self.legacy_span:
            return span + self.eps
        return np.where(span == 0, self.eps, span)

    def normalize(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.mode == "IDENTITY":
            return values
        if self.mode == "MEAN_STD":
            return (values - self.first) / (self.second + self.eps)
        return 2.0 * (values - self.first) / self._span() - 1.0

    def unnormalize(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.mode == "IDENTITY":
            return values
        if self.mode == "MEAN_STD":
            return values * self.second + self.first
        span = self.second - self.first if self.legacy_span else self._span()
        return (values + 1.0) / 2.0 * span + self.first
