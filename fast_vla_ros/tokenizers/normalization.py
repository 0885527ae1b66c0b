"""Per-dimension quantile normalization of actions to [-1, 1], the units every tokenizer works in.

The 1st/99th percentiles rather than min/max (as in FAST and OpenVLA) keep a few outliers, such as a
teleoperation glitch, from squeezing the useful range of a dimension; values beyond them are clipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fast_vla_ros.tokenizers.base import Chunks


@dataclass(frozen=True)
class QuantileNormalizer:
    """Maps ``low`` to -1 and ``high`` to +1 per action dimension."""

    low: np.ndarray  # [D], in the data's own units
    high: np.ndarray  # [D]
    low_percentile: float = 1.0
    high_percentile: float = 99.0

    def __post_init__(self) -> None:
        low = np.asarray(self.low, dtype=np.float64)
        high = np.asarray(self.high, dtype=np.float64)
        if low.ndim != 1 or low.shape != high.shape:
            raise ValueError(f"low and high must be [D] of the same size, got {low.shape} and {high.shape}")
        if not (np.isfinite(low).all() and np.isfinite(high).all()) or np.any(high < low):
            raise ValueError("low and high must be finite with low <= high")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @classmethod
    def fit(cls, actions: Chunks, low_percentile: float = 1.0, high_percentile: float = 99.0) -> QuantileNormalizer:
        """Fit on any stack of actions whose last axis is the action dimension (steps, chunks, episodes)."""
        if isinstance(actions, np.ndarray):
            flat = np.asarray(actions, dtype=np.float64).reshape(-1, actions.shape[-1])
        else:
            flat = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1, np.shape(a)[-1]) for a in actions])
        if flat.shape[0] == 0:
            raise ValueError("cannot fit a normalizer on no actions")
        if not np.isfinite(flat).all():
            raise ValueError("actions contain NaN or Inf")
        low, high = np.percentile(flat, [low_percentile, high_percentile], axis=0)
        return cls(low, high, low_percentile, high_percentile)

    @property
    def action_dim(self) -> int:
        return int(self.low.shape[0])

    def normalize(self, actions: np.ndarray) -> np.ndarray:
        """To [-1, 1]; a dimension that never moved in the fit data maps to 0."""
        span = self.high - self.low
        moving = span > 0
        scaled = 2.0 * (np.asarray(actions, dtype=np.float64) - self.low) / np.where(moving, span, 1.0) - 1.0
        return np.clip(np.where(moving, scaled, 0.0), -1.0, 1.0)

    def denormalize(self, normalized: np.ndarray) -> np.ndarray:
        return self.low + (np.asarray(normalized, dtype=np.float64) + 1.0) * 0.5 * (self.high - self.low)

    def save(self, path: str | Path) -> None:
        document = {
            "type": "QuantileNormalizer",
            "low_percentile": self.low_percentile,
            "high_percentile": self.high_percentile,
            "low": self.low.tolist(),
            "high": self.high.tolist(),
        }
        Path(path).write_text(json.dumps(document, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> QuantileNormalizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"normalizer file not found: {path}")
        document = json.loads(path.read_text())
        if document.get("type") != "QuantileNormalizer":
            raise ValueError(f"{path} is not a QuantileNormalizer file")
        low, high = np.array(document["low"]), np.array(document["high"])
        return cls(low, high, document["low_percentile"], document["high_percentile"])
