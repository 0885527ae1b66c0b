"""Seam strategies: the weights each one gives, and what the blended reference looks like."""

import numpy as np
import pytest

from fast_vla_ros.execution.blending import (
    CrossfadeBlender,
    ReplaceBlender,
    TemporalEnsembleBlender,
    crossfade_weight,
    ensemble_weights,
    smootherstep,
    smootherstep_slope,
)
from fast_vla_ros.execution.interpolation import ChunkTrack


def constant(value: float, t0: float, horizon: int = 50, dt: float = 0.02) -> ChunkTrack:
    return ChunkTrack(np.full((horizon, 2), value), t0, dt)


def test_smootherstep_ends_flat_and_is_monotone():
    x = np.linspace(0.0, 1.0, 101)
    w = np.array([smootherstep(v) for v in x])
    assert w[0] == 0.0 and w[-1] == 1.0 and smootherstep(0.5) == pytest.approx(0.5)
    assert np.all(np.diff(w) >= 0)
    assert smootherstep(-1.0) == 0.0 and smootherstep(2.0) == 1.0
    assert smootherstep_slope(0.0) == 0.0 and smootherstep_slope(1.0) == 0.0
    numeric = (smootherstep(0.3 + 1e-6) - smootherstep(0.3 - 1e-6)) / 2e-6
    assert smootherstep_slope(0.3) == pytest.approx(numeric, rel=1e-6)


def test_crossfade_weight_spans_the_window():
    assert crossfade_weight(1.0, start=1.0, window=0.2) == 0.0
    assert crossfade_weight(1.1, start=1.0, window=0.2) == pytest.approx(0.5)
    assert crossfade_weight(1.2, start=1.0, window=0.2) == pytest.approx(1.0)


def test_ensemble_weights_equal_act_when_a_chunk_arrives_every_tick():
    m, period = 0.01, 0.02
    observed = 5.0 + period * np.arange(8)
    act = np.exp(-m * np.arange(8))
    np.testing.assert_allclose(ensemble_weights(observed, m, period), act / act.sum())


def test_ensemble_coefficient_sign_chooses_old_or_new():
    observed = np.array([0.0, 0.2, 0.4])
    assert np.argmax(ensemble_weights(observed, 0.5, 0.02)) == 0
    assert np.argmax(ensemble_weights(observed, -0.5, 0.02)) == 2
    np.testing.assert_allclose(ensemble_weights(observed, 0.0, 0.02), [1 / 3] * 3)
    huge = ensemble_weights(observed, -1e6, 0.02)
    assert np.all(np.isfinite(huge)) and huge[2] == pytest.approx(1.0)


def test_replace_switches_at_once_and_ends_with_the_chunk():
    blender = ReplaceBlender()
    assert blender.reference(0.0) is None
    blender.add(constant(1.0, 0.0), 0.0)
    blender.add(constant(2.0, 0.1, horizon=5), 0.1)
    np.testing.assert_array_equal(blender.reference(0.12)[0], [2.0, 2.0])
    assert blender.reference(0.1 + 0.02 * 4 + 1e-9) is None


def test_crossfade_blends_old_into_new_over_the_window():
    window = 0.2
    blender = CrossfadeBlender(window)
    blender.add(constant(0.0, 0.0), 0.0)
    blender.add(constant(1.0, 0.1), 0.3)
    assert blender.reference(0.3)[0, 0] == pytest.approx(0.0)
    assert blender.reference(0.4)[0, 0] == pytest.approx(0.5)
    assert blender.reference(0.5)[0, 0] == pytest.approx(1.0)
    assert blender.reference(0.6)[0, 0] == pytest.approx(1.0)


def test_crossfade_velocity_includes_the_fade():
    blender = CrossfadeBlender(0.2)
    blender.add(constant(0.0, 0.0), 0.0)
    blender.add(ChunkTrack(np.linspace(1.0, 2.0, 50)[:, None] * np.ones(2), 0.1, 0.02), 0.3)
    for t in (0.33, 0.4, 0.47):
        numeric = (blender.reference(t + 1e-6)[0] - blender.reference(t - 1e-6)[0]) / 2e-6
        np.testing.assert_allclose(blender.reference(t)[1], numeric, rtol=1e-4)


def test_crossfade_is_continuous_when_chunks_arrive_faster_than_the_window():
    blender = CrossfadeBlender(0.2)
    blender.add(constant(0.0, 0.0), 0.0)
    times = np.arange(0.0, 1.0, 0.001)
    arrivals = {0.3: 1.0, 0.35: 3.0, 0.4: -1.0}
    positions = []
    for t in times:
        for arrival, value in list(arrivals.items()):
            if t >= arrival:
                blender.add(constant(value, arrival), arrival)
                del arrivals[arrival]
        positions.append(blender.reference(t)[0, 0])
        blender.prune(t)
    assert np.max(np.abs(np.diff(positions))) < 0.05
    assert positions[-1] == pytest.approx(-1.0)


def test_crossfade_prune_forgets_settled_layers():
    blender = CrossfadeBlender(0.2)
    blender.add(constant(0.0, 0.0), 0.0)
    blender.add(constant(1.0, 0.1), 0.1)
    blender.prune(0.31)
    assert len(blender._layers) == 1
    assert blender.reference(0.35)[0, 0] == 1.0


def test_crossfade_restart_fades_in_from_the_hold_position():
    blender = CrossfadeBlender(0.2)
    blender.add(constant(1.0, 0.0), 0.0)
    blender.restart(np.array([5.0, 5.0]), 0.5)
    assert blender.reference(0.5)[0, 0] == pytest.approx(5.0)
    assert blender.reference(0.6)[0, 0] == pytest.approx(3.0)
    assert blender.reference(0.7)[0, 0] == pytest.approx(1.0)


def test_temporal_ensemble_averages_covering_chunks_with_act_weights():
    m, period = 0.5, 0.02
    blender = TemporalEnsembleBlender(m, period, max_tracks=8)
    blender.add(constant(0.0, 0.00, horizon=20), 0.0)
    blender.add(constant(1.0, 0.02, horizon=20), 0.02)
    blender.add(constant(2.0, 0.04, horizon=3), 0.04)
    w = np.exp(-m * np.arange(3))
    assert blender.reference(0.06)[0, 0] == pytest.approx((w @ [0.0, 1.0, 2.0]) / w.sum())
    # The third chunk ends at 0.08: afterwards only the first two vote.
    assert blender.reference(0.1)[0, 0] == pytest.approx((w[:2] @ [0.0, 1.0]) / w[:2].sum())
    assert blender.reference(10.0) is None


def test_temporal_ensemble_velocity_is_the_weighted_velocity():
    blender = TemporalEnsembleBlender(0.0, 0.02, max_tracks=8)
    blender.add(ChunkTrack(np.linspace(0, 1, 30)[:, None] * np.ones(2), 0.0, 0.02), 0.0)  # 1.724 rad/s
    blender.add(constant(0.5, 0.0, horizon=30), 0.0)
    velocity = blender.reference(0.2)[1, 0]
    assert velocity == pytest.approx(0.5 * (1.0 / (29 * 0.02)), rel=1e-6)


def test_temporal_ensemble_keeps_at_most_max_tracks():
    blender = TemporalEnsembleBlender(0.0, 0.02, max_tracks=2)
    for k, value in enumerate([10.0, 0.0, 2.0]):
        blender.add(constant(value, 0.0 + 1e-3 * k), 0.0)
    assert blender.reference(0.1)[0, 0] == pytest.approx(1.0)
