"""Expert plan windows: shape, determinism by seed, smoothness and limits of the motion they carry."""

from __future__ import annotations

import numpy as np

from fast_vla_ros.sim.expert_chunks import expert_action_chunks
from fast_vla_ros.types import JointLimits


def test_expert_chunks_are_deterministic_smooth_and_within_limits():
    limits = JointLimits.from_yaml("config/sim_arm_limits.yaml")
    chunks = expert_action_chunks(40, horizon=50, seed=3)
    assert chunks.shape == (40, 50, 7)
    assert np.array_equal(chunks, expert_action_chunks(40, horizon=50, seed=3))
    assert not np.array_equal(chunks, expert_action_chunks(40, horizon=50, seed=4))
    assert np.all(chunks >= limits.lower - 1e-9) and np.all(chunks <= limits.upper + 1e-9)
    velocity = np.diff(chunks, axis=1) / 0.02
    assert np.all(np.abs(velocity) <= limits.max_velocity + 1e-6)
    assert np.ptp(chunks[:, :, :6], axis=(0, 1)).max() > 0.2, "the arm should actually move"
