"""Resampling a chunk: exact at its steps, smooth between them, clamped outside."""

import numpy as np
import pytest

from fast_vla_ros.execution.interpolation import ChunkTrack, HoldTrack


def test_passes_through_every_step():
    rng = np.random.default_rng(0)
    actions = rng.normal(size=(9, 3))
    track = ChunkTrack(actions, t0=1.0, dt=0.1)
    for k, row in enumerate(actions):
        np.testing.assert_allclose(track(1.0 + 0.1 * k)[0], row, atol=1e-12)


def test_recovers_a_cubic_between_steps_unlike_a_zero_order_hold():
    times = 0.1 * np.arange(12)
    signal = np.sin(2.0 * times)[:, None]
    track = ChunkTrack(signal, t0=0.0, dt=0.1)
    fine = np.linspace(0.2, 0.9, 36)  # away from the natural ends, where the spline is exact to O(h^4)
    positions = np.array([track(t)[0, 0] for t in fine])
    velocities = np.array([track(t)[1, 0] for t in fine])
    np.testing.assert_allclose(positions, np.sin(2.0 * fine), atol=2e-4)
    np.testing.assert_allclose(velocities, 2.0 * np.cos(2.0 * fine), atol=1e-2)


def test_velocity_is_continuous_across_steps():
    actions = np.array([[0.0], [1.0], [0.0], [1.0], [0.0]])
    track = ChunkTrack(actions, t0=0.0, dt=1.0)
    for k in (1, 2, 3):
        before, after = track(k - 1e-9)[1, 0], track(k + 1e-9)[1, 0]
        assert before == pytest.approx(after, abs=1e-6)


def test_clamps_to_the_first_and_last_step_with_zero_velocity():
    actions = np.array([[0.0, 1.0], [1.0, 2.0], [3.0, 5.0]])
    track = ChunkTrack(actions, t0=2.0, dt=0.5)
    np.testing.assert_array_equal(track(0.0), [[0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(track(9.0), [[3.0, 5.0], [0.0, 0.0]])
    assert track.covers(2.0) and track.covers(3.0) and not track.covers(3.01)


@pytest.mark.parametrize("horizon", [1, 2])
def test_short_chunks_are_constant_or_linear(horizon):
    actions = np.arange(horizon, dtype=float)[:, None]
    track = ChunkTrack(actions, t0=0.0, dt=0.5)
    assert track(0.25)[0, 0] == pytest.approx(0.0 if horizon == 1 else 0.5)


def test_hold_track_is_constant():
    np.testing.assert_array_equal(HoldTrack(np.array([1.0, 2.0]))(123.0), [[1.0, 2.0], [0.0, 0.0]])


def test_long_chunks_fit_in_linear_memory():
    """A dense solve of the spline system needed (n-2)^2 floats: 80 GB at 100 000 steps. The banded one
    takes a few MB and matches the dense solution where that one is affordable."""
    steps = np.random.default_rng(3).normal(size=(100_000, 2))
    track = ChunkTrack(steps, 0.0, 0.02)
    np.testing.assert_allclose(track(0.02 * 54_321)[0], steps[54_321], atol=1e-9)
    short = steps[:40]
    n = len(short)
    dense = np.linalg.solve(
        4.0 * np.eye(n - 2) + np.eye(n - 2, k=1) + np.eye(n - 2, k=-1),
        6.0 * (short[2:] - 2.0 * short[1:-1] + short[:-2]),
    )
    np.testing.assert_allclose(ChunkTrack(short, 0.0, 0.02).coefficients[1:, 2] * 2.0, dense, atol=1e-12)
