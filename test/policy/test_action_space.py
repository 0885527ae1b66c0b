from __future__ import annotations

import numpy as np
import pytest

from fast_vla_ros.data.minimum_jerk import reaching_chunks
from fast_vla_ros.policy.action_space import ActionSpace

JOINTS = ("a", "b", "c", "gripper")


@pytest.fixture
def chunks() -> np.ndarray:
    return reaching_chunks(64, horizon=10, action_dim=4, seed=1, trajectory_steps=300)


@pytest.mark.parametrize("convention", ["absolute", "delta"])
def test_normalize_then_to_joint_targets_recovers_targets(chunks, convention):
    states = chunks[:, 0]
    space = ActionSpace.fit(states, chunks, JOINTS, 0.02, convention, absolute_joints=("gripper",))
    normalized = space.normalize_targets(chunks[5], states[5])
    assert np.all(np.abs(normalized) <= 1.0)
    recovered = space.to_joint_targets(normalized, states[5])
    inside = np.abs(normalized) < 1.0  # clipped values are allowed to differ
    assert np.allclose(recovered[inside], chunks[5][inside], atol=1e-9)


def test_delta_convention_is_relative_to_state_except_absolute_joints(chunks):
    states = chunks[:, 0]
    space = ActionSpace.fit(states, chunks, JOINTS, 0.02, "delta", absolute_joints=("gripper",))
    zero = np.zeros((10, 4))
    shifted = space.to_joint_targets(zero, states[0] + 0.1) - space.to_joint_targets(zero, states[0])
    assert np.allclose(shifted[:, :3], 0.1) and np.allclose(shifted[:, 3], 0.0)


def test_state_is_reordered_by_name_and_missing_joints_raise(chunks):
    space = ActionSpace.fit(chunks[:, 0], chunks, JOINTS, 0.02)
    reordered = space.state_from(("gripper", "c", "extra", "b", "a"), np.array([4.0, 3.0, 9.0, 2.0, 1.0]))
    assert reordered.tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(KeyError, match="lacks joints \\['gripper'\\]"):
        space.state_from(("a", "b", "c"), np.zeros(3))


def test_save_load_round_trip_and_bad_fields(chunks, tmp_path):
    space = ActionSpace.fit(chunks[:, 0], chunks, JOINTS, 0.02, "delta", ("gripper",))
    space.save(tmp_path / "space.json")
    loaded = ActionSpace.load(tmp_path / "space.json")
    assert loaded.to_dict() == space.to_dict()
    with pytest.raises(ValueError, match="missing fields"):
        ActionSpace.from_dict({"joint_names": ["a"]})
    with pytest.raises(ValueError, match="convention"):
        ActionSpace(JOINTS, 0.02, space.actions, space.state, convention="velocity")
