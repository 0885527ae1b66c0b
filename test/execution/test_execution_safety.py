"""SafetyFilter: each kind of intervention, and braking that keeps every limit at once."""

import numpy as np
import pytest

from fast_vla_ros.execution import Intervention, SafetyConfig, SafetyFilter
from fast_vla_ros.execution.safety import MotionState

from .conftest import PERIOD, home


@pytest.fixture
def safety(limits) -> SafetyFilter:
    return SafetyFilter(limits, SafetyConfig(max_step=0.05), PERIOD)


def test_a_reachable_target_passes_unchanged(limits, safety):
    start = MotionState.at_rest(home(limits))
    target = start.position + 0.25 * safety.max_acceleration * PERIOD**2
    state, interventions = safety.step(start, target)
    np.testing.assert_allclose(state.position, target)
    np.testing.assert_allclose(state.velocity, (target - start.position) / PERIOD)
    assert interventions == set()


def test_position_limit_with_margin(limits, safety):
    margin = 0.02 * (limits.upper - limits.lower)
    np.testing.assert_allclose(safety.upper, limits.upper - margin)
    state = MotionState.at_rest(safety.upper - 1e-4)
    state, interventions = safety.step(state, limits.upper + 1.0)
    assert Intervention.POSITION_LIMIT in interventions
    assert np.all(state.position <= safety.upper + 1e-12)


def test_velocity_limit(limits):
    safety = SafetyFilter(limits, SafetyConfig(max_step=10.0), PERIOD)
    state = MotionState(home(limits), safety.max_velocity.copy())
    state, interventions = safety.step(state, state.position + 1.0)
    assert Intervention.VELOCITY_LIMIT in interventions
    revolute = slice(0, 6)  # the gripper brakes for its 4 cm of travel first
    np.testing.assert_allclose(state.velocity[revolute], safety.max_velocity[revolute])


def test_max_step_when_it_is_tighter_than_the_velocity_limit(limits):
    safety = SafetyFilter(limits, SafetyConfig(max_step=0.01), PERIOD)
    state = MotionState(home(limits), np.full(len(limits.joint_names), 0.5))
    moved, interventions = safety.step(state, state.position + 1.0)
    assert Intervention.MAX_STEP in interventions
    assert np.all(np.abs(moved.position - state.position) <= 0.01 + 1e-12)


def test_acceleration_limit(limits, safety):
    state = MotionState.at_rest(home(limits))
    moved, interventions = safety.step(state, state.position + 0.01)
    assert interventions == {Intervention.ACCELERATION_LIMIT}
    np.testing.assert_allclose(moved.velocity, safety.max_acceleration * PERIOD)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_target_stops_and_is_counted(limits, safety, bad):
    state = MotionState(home(limits), np.full(len(limits.joint_names), 0.1))
    target = state.position.copy()
    target[2] = bad
    moved, interventions = safety.step(state, target)
    assert Intervention.NON_FINITE in interventions
    assert np.all(np.isfinite(moved.position))
    assert np.all(np.abs(moved.velocity) < 0.1)


def test_non_finite_target_velocity_is_counted(limits, safety):
    state = MotionState.at_rest(home(limits))
    velocity = np.zeros(len(limits.joint_names))
    velocity[0] = np.nan
    _, interventions = safety.step(state, state.position, velocity)
    assert Intervention.NON_FINITE in interventions


def test_brakes_before_a_limit_instead_of_crossing_it(limits, safety):
    """Full speed toward the upper limit with a target beyond it: decelerate in time, never cross."""
    state = MotionState(safety.upper - 0.3, safety.max_velocity * 0.9)
    for _ in range(200):
        state, _ = safety.step(state, limits.upper + 5.0)
        assert np.all(state.position <= safety.upper + 1e-9)
    np.testing.assert_allclose(state.position, safety.upper, atol=1e-3)


def test_hold_decelerates_within_the_acceleration_limit(limits, safety):
    state = MotionState(home(limits), safety.max_velocity * 0.5)
    velocities = [state.velocity]
    for _ in range(100):
        state, interventions = safety.step(state, None)
        assert interventions == set()
        velocities.append(state.velocity)
    steps = np.abs(np.diff(velocities, axis=0))
    assert np.all(steps <= safety.max_acceleration * PERIOD + 1e-12)
    np.testing.assert_array_equal(velocities[-1], 0.0)


def test_catching_up_with_a_moving_target_does_not_oscillate(limits, safety):
    """A target that jumped ahead and keeps moving: approach it without a limit cycle."""
    speed = 0.5
    state = MotionState(home(limits), np.full(len(limits.joint_names), speed) * (safety.upper > 1))
    velocity = np.where(safety.upper > 1, speed, 0.0)
    target = home(limits) + 0.05 * (safety.upper > 1)
    errors = []
    for _ in range(150):
        target = target + velocity * PERIOD
        state, _ = safety.step(state, target, velocity)
        errors.append(target - state.position)
    errors = np.array(errors)
    assert np.all(np.abs(errors[-50:]) < 1e-9)
    # Before the approach-speed bound, a 5 cm catch-up overshot by 5 mm and rang for tens of ticks.
    overshoot = -errors.min(axis=0)
    assert np.all(overshoot <= safety.max_acceleration * PERIOD**2)
