"""QuantileNormalizer: percentiles to the ends of [-1, 1], clipping, JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fast_vla_ros.tokenizers import QuantileNormalizer


def test_percentiles_map_to_the_ends_and_outliers_are_clipped() -> None:
    actions = np.random.default_rng(0).normal(0, [1.0, 5.0, 0.1], (10_000, 3))
    normalizer = QuantileNormalizer.fit(actions)
    low, high = np.percentile(actions, [1, 99], axis=0)
    np.testing.assert_allclose(normalizer.normalize(np.stack([low, high])), [[-1] * 3, [1] * 3], atol=1e-12)
    normalized = normalizer.normalize(actions)
    assert normalized.min() == -1.0 and normalized.max() == 1.0
    inside = (actions >= low) & (actions <= high)
    np.testing.assert_allclose(normalizer.denormalize(normalized)[inside], actions[inside], atol=1e-12)


def test_a_dimension_that_never_moves_maps_to_zero() -> None:
    actions = np.column_stack([np.linspace(-1, 1, 100), np.full(100, 0.3)])
    assert np.all(QuantileNormalizer.fit(actions).normalize(actions)[:, 1] == 0.0)


def test_json_round_trip(tmp_path: Path) -> None:
    normalizer = QuantileNormalizer.fit(np.random.default_rng(1).uniform(-2, 3, (4, 50, 7)))
    normalizer.save(tmp_path / "normalizer.json")
    loaded = QuantileNormalizer.load(tmp_path / "normalizer.json")
    np.testing.assert_array_equal(loaded.low, normalizer.low)
    np.testing.assert_array_equal(loaded.high, normalizer.high)


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        QuantileNormalizer.fit(np.array([[0.0, np.nan]]))
