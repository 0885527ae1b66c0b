"""The simulator's stand-in for a JointTrajectoryController: interpolation, holding, rejection."""

from __future__ import annotations

import numpy as np
import pytest

from fast_vla_ros.data.joint_trajectory import JointTrajectoryFollower

JOINTS = ("a", "b", "c")


def test_hermite_segments_pass_through_points_and_hold_after_the_last():
    follower = JointTrajectoryFollower(JOINTS)
    current = np.array([0.0, 1.0, 2.0])
    times = np.array([0.1, 0.2])
    positions = np.array([[0.1, 0.5], [0.2, 0.6]])
    velocities = np.array([[1.0, 1.0], [1.0, 1.0]])
    follower.set_trajectory(["a", "c"], 10.0, times, positions, velocities, current)
    assert follower.target(10.1, current) == pytest.approx([0.1, 1.0, 0.5])
    midway = follower.target(10.15, current)
    assert midway[0] == pytest.approx(0.15) and midway[1] == 1.0  # unnamed joint keeps its target
    assert follower.target(99.0, current) == pytest.approx([0.2, 1.0, 0.6])
    before = follower.target(10.05, current)
    assert 0.0 < before[0] < 0.1, "blends from where the arm was to the first point"


def test_linear_without_velocities_and_empty_trajectory_holds_current_position():
    follower = JointTrajectoryFollower(JOINTS)
    current = np.zeros(3)
    follower.set_trajectory(list(JOINTS), 0.0, np.array([1.0]), np.array([[1.0, 2.0, 3.0]]), None, current)
    assert follower.target(0.5, current) == pytest.approx([0.5, 1.0, 1.5])
    here = np.array([0.3, 0.2, 0.1])
    follower.set_trajectory(list(JOINTS), 0.0, np.zeros(0), np.zeros((0, 3)), None, here)
    assert follower.target(0.7, np.full(3, 9.0)) == pytest.approx(here)
    follower.clear()
    assert follower.target(0.7, np.full(3, 9.0)) == pytest.approx([9.0, 9.0, 9.0])


@pytest.mark.parametrize(
    ("names", "times", "positions", "reason"),
    [
        (["a", "zz"], [0.1], [[0.0, 0.0]], "unknown joints"),
        (["a"], [0.2, 0.1], [[0.0], [0.1]], "strictly increasing"),
        (["a"], [0.1], [[np.nan]], "NaN"),
    ],
)
def test_bad_trajectories_are_rejected_and_the_previous_motion_kept(names, times, positions, reason):
    follower = JointTrajectoryFollower(JOINTS)
    current = np.zeros(3)
    follower.set_trajectory(["a"], 0.0, np.array([1.0]), np.array([[1.0]]), None, current)
    with pytest.raises(ValueError, match=reason):
        follower.set_trajectory(names, 0.0, np.array(times), np.array(positions), None, current)
    assert follower.target(1.0, current)[0] == pytest.approx(1.0)
