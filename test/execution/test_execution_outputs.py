"""The three controller output forms: trajectory for a JointTrajectoryController, forward position vector per
tick, FollowJointTrajectory goal."""

import numpy as np
import pytest

from fast_vla_ros.execution import ChunkScheduler, forward_position_command

from .conftest import PERIOD, armed_scheduler, home, ramp_chunk, run_ticks


@pytest.fixture
def tracking(limits) -> ChunkScheduler:
    scheduler = armed_scheduler(limits)
    assert scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.0, 0.01, horizon=30), 0.0)
    run_ticks(scheduler, limits, 0.0, 3)
    return scheduler


def test_trajectory_has_an_explicit_start_and_strictly_increasing_times(limits, tracking):
    trajectory = tracking.plan()
    assert trajectory.joint_names == limits.joint_names
    assert trajectory.start_time == pytest.approx(2 * PERIOD)  # the last tick
    times = np.array([p.time_from_start for p in trajectory.points])
    assert times[0] == pytest.approx(PERIOD)
    assert np.all(np.diff(times) > 0)
    assert all(p.positions.shape == p.velocities.shape == (7,) for p in trajectory.points)


def test_trajectory_ends_at_rest(tracking):
    last = tracking.plan().points[-1]
    np.testing.assert_array_equal(last.velocities, 0.0)


def test_trajectory_is_what_the_ticks_will_command(limits, tracking):
    trajectory = tracking.plan()
    commands = run_ticks(tracking, limits, trajectory.start_time + PERIOD, len(trajectory.points))
    for point, command in zip(trajectory.points, commands, strict=True):
        np.testing.assert_allclose(point.positions, command.positions, atol=1e-12)


def test_trajectory_velocities_are_central_differences(tracking):
    points = tracking.plan().points
    positions = np.array([p.positions for p in points])
    central = (positions[2:] - positions[:-2]) / (2 * PERIOD)
    np.testing.assert_allclose([p.velocities for p in points[1:-1]], central, atol=1e-9)


def test_trajectory_is_capped_by_max_duration(limits):
    scheduler = armed_scheduler(limits, {"trajectory": {"max_duration": 0.1}, "watchdog": {"policy_timeout": 5.0}})
    scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.0, 0.001, horizon=200), 0.0)
    assert len(scheduler.plan().points) == 5


def test_trajectory_while_holding_at_rest_is_one_point(limits):
    scheduler = armed_scheduler(limits)
    trajectory = scheduler.plan()
    assert len(trajectory.points) == 1
    np.testing.assert_array_equal(trajectory.points[0].positions, home(limits))


def test_planning_changes_nothing(limits, tracking):
    before = tracking.tick(0.06).positions
    tracking.plan()
    twin = armed_scheduler(limits)
    twin.add_chunk(ramp_chunk(limits, home(limits), 0.0, 0.01, horizon=30), 0.0)
    run_ticks(twin, limits, 0.0, 3)
    np.testing.assert_array_equal(twin.tick(0.06).positions, before)
    np.testing.assert_array_equal(tracking.tick(0.08).positions, twin.tick(0.08).positions)


def test_forward_position_command_per_tick(limits, tracking):
    command = tracking.tick(0.06)
    forward = forward_position_command(command)
    assert forward.joint_names == limits.joint_names
    assert forward.data == tuple(command.positions) and all(isinstance(x, float) for x in forward.data)
    tracking.disarm()
    assert forward_position_command(tracking.tick(0.08)) is None


def test_follow_joint_trajectory_goal_carries_the_tolerances(limits):
    scheduler = armed_scheduler(
        limits,
        {
            "trajectory": {
                "path_position_tolerance": 0.2,
                "goal_position_tolerance": 0.01,
                "goal_velocity_tolerance": 0.03,
                "goal_time_tolerance": 0.7,
            }
        },
    )
    scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.0, 0.01, horizon=30), 0.0)
    goal = scheduler.trajectory_goal()
    assert goal.goal_time_tolerance == 0.7
    assert [t.name for t in goal.path_tolerance] == list(limits.joint_names)
    assert {(t.position, t.velocity) for t in goal.path_tolerance} == {(0.2, -1.0)}
    assert {(t.position, t.velocity) for t in goal.goal_tolerance} == {(0.01, 0.03)}
    assert len(goal.trajectory.points) > 1


def test_a_plan_request_taken_now_plans_the_same_after_the_scheduler_moved_on(limits, tracking):
    """The node plans off the control thread: the request is a copy, so ticks and chunks after it change nothing."""
    request = tracking.plan_request()
    expected = tracking.plan()
    run_ticks(tracking, limits, 0.06, 5)
    tracking.estop()
    planned = tracking.plan_from(request)
    assert planned.start_time == expected.start_time
    for ours, theirs in zip(planned.points, expected.points, strict=True):
        np.testing.assert_array_equal(ours.positions, theirs.positions)
