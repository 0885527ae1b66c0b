"""ChunkScheduler: time lookup, modes (disarmed, armed, e-stop), watchdog holds, input checks by name."""

import numpy as np
import pytest

from fast_vla_ros.execution import ChunkScheduler, ExecutionConfig, HoldReason, Intervention, RejectReason, Status
from fast_vla_ros.types import ActionChunk

from .conftest import PERIOD, armed_scheduler, home, ramp_chunk, run_ticks

SLOW = 0.001  # rad per 20 ms row: 0.05 rad/s, well inside every limit


def test_time_lookup_skips_the_steps_that_passed_during_inference(limits):
    """A chunk computed from an observation 100 ms old: the first tick commands row 6 (now + lookahead)."""
    t0, now = 10.0, 10.1
    chunk = ramp_chunk(limits, home(limits), t0, SLOW)
    scheduler = ChunkScheduler(limits, _config("replace"))
    scheduler.update_joint_state(limits.joint_names, chunk.actions[5], now)
    assert scheduler.arm(now)
    assert scheduler.add_chunk(chunk, now)
    commands = run_ticks(scheduler, limits, now, 3)
    for k, command in enumerate(commands):
        assert command.status is Status.TRACKING and command.interventions == frozenset()
        assert command.target_time == pytest.approx(now + k * PERIOD + 0.02)
        np.testing.assert_allclose(command.positions, chunk.actions[6 + k], atol=1e-12)


def test_time_lookup_resamples_a_slower_chunk(limits):
    """A 10 Hz chunk is interpolated at 50 Hz: between two rows, not a copy of one."""
    chunk = ramp_chunk(limits, home(limits), 0.0, 5 * SLOW, horizon=10, dt=0.1)
    scheduler = ChunkScheduler(limits, _config("replace"))
    first, second = chunk.actions[0], chunk.actions[1]
    scheduler.update_joint_state(limits.joint_names, first + 0.2 * (second - first), 0.02)
    scheduler.arm(0.02)
    scheduler.add_chunk(chunk, 0.02)
    command = scheduler.tick(0.02)  # target time 0.04: 40 % of the way from row 0 to row 1
    np.testing.assert_allclose(command.positions, first + 0.4 * (second - first), atol=1e-9)


def _config(strategy: str) -> ExecutionConfig:
    return ExecutionConfig.from_mapping({"scheduler": {"strategy": strategy}})


def test_disarmed_at_start_and_commands_nothing(limits):
    scheduler = ChunkScheduler(limits)
    scheduler.update_joint_state(limits.joint_names, home(limits), 0.0)
    command = scheduler.tick(0.0)
    assert command.status is Status.DISARMED and command.positions is None and command.velocities is None
    verdict = scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.0, SLOW), 0.0)
    assert not verdict and verdict.reason is RejectReason.DISARMED
    assert scheduler.plan() is None and scheduler.trajectory_goal() is None


def test_arming_needs_a_fresh_joint_state_and_holds_it(limits):
    scheduler = ChunkScheduler(limits)
    verdict = scheduler.arm(0.0)
    assert not verdict and verdict.reason is RejectReason.NO_JOINT_STATE
    scheduler.update_joint_state(limits.joint_names, home(limits), 0.0)
    assert not scheduler.arm(5.0)
    assert scheduler.arm(0.05)
    command = scheduler.tick(0.06)
    assert command.status is Status.HOLDING and command.hold_reason is HoldReason.NO_CHUNK
    np.testing.assert_array_equal(command.positions, home(limits))
    np.testing.assert_array_equal(command.velocities, 0.0)


def test_chunk_exhausted_decelerates_then_holds(limits):
    scheduler = armed_scheduler(limits, {"scheduler": {"strategy": "replace"}})
    step = 0.02  # 1 rad/s: stopping from it at 8 rad/s^2 takes several ticks
    assert scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.0, step, horizon=25), 0.0)
    commands = run_ticks(scheduler, limits, 0.0, 45)  # the chunk ends at 0.48 s, the policy times out at 1 s
    held = [c for c in commands if c.status is Status.HOLDING]
    assert held and all(c.hold_reason is HoldReason.CHUNK_EXHAUSTED for c in held)
    assert np.any(held[2].velocities != 0.0), "a hold after motion must decelerate, not stop dead"
    speeds = np.array([np.abs(c.velocities) for c in commands])
    accelerations = np.abs(np.diff(speeds, axis=0)) / PERIOD
    assert np.all(accelerations <= scheduler._filter.max_acceleration + 1e-9)
    np.testing.assert_array_equal(commands[-1].velocities, 0.0)
    np.testing.assert_array_equal(commands[-1].positions, commands[-2].positions)


def test_stale_joint_state_holds_and_recovers(limits):
    scheduler = armed_scheduler(limits, {"watchdog": {"joint_state_timeout": 0.1}})
    scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.0, SLOW, horizon=200), 0.0)
    assert scheduler.tick(0.02).status is Status.TRACKING
    command = scheduler.tick(0.2)  # last joint state at 0.0
    assert command.hold_reason is HoldReason.JOINT_STATE_STALE
    scheduler.update_joint_state(limits.joint_names, command.positions, 0.22)
    assert scheduler.tick(0.22).status is Status.TRACKING


def test_stalled_policy_holds(limits):
    scheduler = armed_scheduler(limits, {"watchdog": {"policy_timeout": 0.5}})
    scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.0, SLOW, horizon=200), 0.0)
    commands = run_ticks(scheduler, limits, 0.0, 30)
    assert commands[20].status is Status.TRACKING
    assert commands[27].hold_reason is HoldReason.POLICY_STALE  # 0.54 s after the observation
    assert scheduler.counters()["hold.policy_stale"] == 1


def test_estop_latches_until_reset_and_reset_disarms(limits):
    scheduler = armed_scheduler(limits)
    scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.0, SLOW, horizon=200), 0.0)
    run_ticks(scheduler, limits, 0.0, 5)
    scheduler.estop()
    commands = run_ticks(scheduler, limits, 0.1, 10)
    assert all(c.status is Status.HOLDING and c.hold_reason is HoldReason.ESTOP for c in commands)
    assert commands[-1].positions is not None  # the hold is commanded, not left to chance
    np.testing.assert_array_equal(commands[-1].velocities, 0.0)
    rejected = scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.3, SLOW), 0.3)
    assert rejected.reason is RejectReason.ESTOPPED
    assert scheduler.arm(0.3).reason is RejectReason.ESTOPPED
    assert scheduler.tick(0.32).hold_reason is HoldReason.ESTOP
    scheduler.reset()
    assert not scheduler.estopped and not scheduler.armed
    assert scheduler.tick(0.34).status is Status.DISARMED


def test_disarm_stops_commanding(limits):
    scheduler = armed_scheduler(limits)
    scheduler.disarm()
    assert scheduler.tick(0.02).positions is None


def test_joint_order_is_resolved_by_name(limits):
    names = limits.joint_names
    order = [6, 0, 5, 1, 4, 2, 3]
    chunk = ramp_chunk(limits, home(limits), 0.0, SLOW)
    shuffled = ActionChunk(chunk.actions[:, order], 0.0, chunk.dt, tuple(names[i] for i in order))
    reference = armed_scheduler(limits, {"scheduler": {"strategy": "replace"}})
    permuted = armed_scheduler(limits, {"scheduler": {"strategy": "replace"}})
    assert reference.add_chunk(chunk, 0.0) and permuted.add_chunk(shuffled, 0.0)
    for now in (0.02, 0.04):
        np.testing.assert_array_equal(reference.tick(now).positions, permuted.tick(now).positions)


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        (lambda n: n[:-1] + ("no_such_joint",), "unknown ['no_such_joint']"),
        (lambda n: n[:-1] + (n[0],), "duplicated ['shoulder_pan_joint']"),
    ],
)
def test_chunks_with_wrong_joint_names_are_rejected_with_the_names(limits, names, fragment):
    scheduler = armed_scheduler(limits)
    chunk = ramp_chunk(limits, home(limits), 0.0, SLOW)
    verdict = scheduler.add_chunk(ActionChunk(chunk.actions, 0.0, chunk.dt, names(limits.joint_names)), 0.0)
    assert verdict.reason is RejectReason.JOINT_NAMES and fragment in verdict.message
    assert scheduler.counters()["rejected.chunk.joint_names"] == 1


def test_chunk_missing_a_joint_is_rejected(limits):
    scheduler = armed_scheduler(limits)
    actions = np.tile(home(limits)[:6], (5, 1))
    verdict = scheduler.add_chunk(ActionChunk(actions, 0.0, PERIOD, limits.joint_names[:6]), 0.0)
    assert verdict.reason is RejectReason.JOINT_NAMES and "missing ['gripper_joint']" in verdict.message


def test_joint_state_may_have_extra_joints_but_not_miss_any(limits):
    scheduler = ChunkScheduler(limits)
    names = ("camera_pan", *reversed(limits.joint_names))
    positions = [9.0, *reversed(home(limits))]
    assert scheduler.update_joint_state(names, positions, 0.0)
    scheduler.arm(0.0)
    np.testing.assert_array_equal(scheduler.tick(0.0).positions, home(limits))
    missing = scheduler.update_joint_state(limits.joint_names[1:], home(limits)[1:], 0.0)
    assert missing.reason is RejectReason.JOINT_NAMES
    bad = home(limits)
    bad[0] = np.nan
    assert scheduler.update_joint_state(limits.joint_names, bad, 0.0).reason is RejectReason.NON_FINITE
    short = scheduler.update_joint_state(limits.joint_names, home(limits)[:3], 0.0)
    assert short.reason is RejectReason.JOINT_NAMES and "shape" in short.message
    assert scheduler.counters()["rejected.joint_state.joint_names"] == 2


def _chunk(limits, t0=0.0, value=None, horizon=20, dt=PERIOD):
    actions = np.tile(home(limits) if value is None else value, (horizon, 1))
    return ActionChunk(actions, t0, dt, limits.joint_names)


@pytest.mark.parametrize(
    ("make", "now", "reason"),
    [
        (lambda lim: _chunk(lim, horizon=0), 0.0, RejectReason.EMPTY),
        (lambda lim: _chunk(lim, t0=float("nan")), 0.0, RejectReason.NON_FINITE_TIME),
        (lambda lim: _chunk(lim, dt=float("inf")), 0.0, RejectReason.NON_FINITE_TIME),
        (lambda lim: _chunk(lim, value=np.where(np.arange(7) == 3, np.nan, home(lim))), 0.0, RejectReason.NON_FINITE),
        (lambda lim: _chunk(lim, value=np.full(7, 1e300)), 0.0, RejectReason.OUT_OF_RANGE),
        (lambda lim: _chunk(lim, t0=1.0), 0.0, RejectReason.FROM_FUTURE),
        (lambda lim: _chunk(lim, t0=-5.0), 0.0, RejectReason.STALE),
        (lambda lim: _chunk(lim, t0=-0.5, horizon=5), 0.0, RejectReason.EXPIRED),
    ],
)
def test_bad_chunks_are_rejected_with_a_reason(limits, make, now, reason):
    scheduler = armed_scheduler(limits)
    verdict = scheduler.add_chunk(make(limits), now)
    assert not verdict and verdict.reason is reason and verdict.message
    assert scheduler.counters()[f"rejected.chunk.{reason.value}"] == 1
    assert scheduler.tick(now).hold_reason is HoldReason.NO_CHUNK


def test_out_of_order_chunks_are_rejected(limits):
    scheduler = armed_scheduler(limits)
    assert scheduler.add_chunk(_chunk(limits, t0=0.1), 0.2)
    for t0 in (0.1, 0.05):
        assert scheduler.add_chunk(_chunk(limits, t0=t0), 0.2).reason is RejectReason.OUT_OF_ORDER


def test_targets_slightly_outside_the_limits_are_clipped_and_counted(limits):
    scheduler = armed_scheduler(limits, {"scheduler": {"strategy": "replace"}})
    value = home(limits)
    value[0] = limits.upper[0] + 0.1
    assert scheduler.add_chunk(_chunk(limits, value=value, horizon=400), 0.0)
    commands = run_ticks(scheduler, limits, 0.0, 300)
    assert Intervention.POSITION_LIMIT in commands[0].interventions
    assert max(c.positions[0] for c in commands) <= scheduler._filter.upper[0] + 1e-12
    assert scheduler.counters()["intervention.position_limit"] >= 1


def test_counters_have_every_key_from_the_start(limits):
    counters = ChunkScheduler(limits).counters()
    assert counters["chunks_accepted"] == 0
    for key in ("rejected.chunk.out_of_order", "intervention.max_step", "hold.estop"):
        assert counters[key] == 0


def test_tick_refuses_a_non_finite_clock(limits):
    with pytest.raises(ValueError, match="finite"):
        armed_scheduler(limits).tick(float("nan"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"horizon": 1001}, RejectReason.TOO_LARGE),  # scheduler.max_chunk_steps is 1000
        ({"dt": 1e9}, RejectReason.BAD_DT),
        ({"dt": 1e300}, RejectReason.BAD_DT),
        ({"dt": 5e-324}, RejectReason.BAD_DT),
    ],
)
def test_chunks_beyond_the_work_bounds_are_refused_before_any_work(limits, change, reason):
    scheduler = armed_scheduler(limits)
    chunk = ramp_chunk(limits, home(limits), 0.0, 0.0, horizon=change.get("horizon", 20), dt=change.get("dt", PERIOD))
    verdict = scheduler.add_chunk(chunk, 0.0)
    assert not verdict and verdict.reason is reason, verdict


def test_arming_is_refused_from_a_measurement_outside_the_limits(limits):
    scheduler = ChunkScheduler(limits, ExecutionConfig())
    absurd = home(limits)
    absurd[0] = 1e6
    assert scheduler.update_joint_state(limits.joint_names, absurd, 0.0)
    verdict = scheduler.arm(0.0)
    assert not verdict and verdict.reason is RejectReason.OUT_OF_RANGE
    assert limits.joint_names[0] in verdict.message and "1e+06" in verdict.message
    assert scheduler.tick(0.02).positions is None


def test_arming_just_outside_a_limit_holds_inside_it(limits):
    """An encoder reading a hair past a hard stop (within safety.arming_tolerance_fraction) arms, and the
    first hold is clipped into the limits: no command ever leaves them."""
    scheduler = ChunkScheduler(limits, ExecutionConfig())
    measured = home(limits)
    measured[-1] = limits.lower[-1] - 0.005 * (limits.upper[-1] - limits.lower[-1])
    assert scheduler.update_joint_state(limits.joint_names, measured, 0.0)
    assert scheduler.arm(0.0)
    for command in run_ticks(scheduler, limits, 0.02, 5):
        assert np.all(command.positions >= limits.lower) and np.all(command.positions <= limits.upper)
    assert command.positions[-1] == limits.lower[-1]


def test_a_future_stamp_neither_passes_nor_keeps_the_joint_state_fresh(limits):
    """Freshness is judged by arrival: one state stamped now + 1e6 s used to keep a paused arm 'fresh' forever."""
    scheduler = armed_scheduler(limits, {"watchdog": {"joint_state_timeout": 0.1}})
    scheduler.add_chunk(ramp_chunk(limits, home(limits), 0.0, SLOW, horizon=200), 0.0)
    assert scheduler.tick(0.02).status is Status.TRACKING
    verdict = scheduler.update_joint_state(limits.joint_names, home(limits), 0.04 + 1e6, received=0.04)
    assert not verdict and verdict.reason is RejectReason.FROM_FUTURE and "clocks differ" in verdict.message
    # Within scheduler.future_tolerance a stamp is taken, but counts as no newer than its arrival.
    assert scheduler.update_joint_state(limits.joint_names, home(limits), 0.05, received=0.04)
    assert scheduler.tick(0.14).status is Status.TRACKING
    assert scheduler.tick(0.16).hold_reason is HoldReason.JOINT_STATE_STALE


def test_a_clock_jumping_back_holds_without_a_jump_and_recovers_on_the_new_timeline(limits):
    """A simulator reset rewinds /clock from 100 s to 0.5 s while the arm tracks: the executor drops the old
    timeline's chunks, decelerates to a hold within the step limits, refuses the old timeline's chunks as
    from the future, and tracks again once joint states and a chunk of the new timeline arrive."""
    scheduler = armed_scheduler(limits, now=100.0)
    moving = ramp_chunk(limits, home(limits), 100.0, 5 * SLOW, horizon=100)
    assert scheduler.add_chunk(moving, 100.0)
    commands = run_ticks(scheduler, limits, 100.0, 20)
    assert commands[-1].status is Status.TRACKING
    jumped = scheduler.tick(0.5)
    assert jumped.status is Status.HOLDING and jumped.hold_reason is HoldReason.CLOCK_JUMPED_BACK
    assert scheduler.counters()["clock_jumped_back"] == 1
    assert np.abs(jumped.positions - commands[-1].positions).max() <= 5 * SLOW + 1e-9, "the hold jumped"
    old = ramp_chunk(limits, home(limits), 100.3, SLOW)
    verdict = scheduler.add_chunk(old, 0.52)
    assert not verdict and verdict.reason is RejectReason.FROM_FUTURE
    held = scheduler.tick(0.52)
    assert held.status is Status.HOLDING and held.hold_reason is HoldReason.JOINT_STATE_STALE
    assert scheduler.update_joint_state(limits.joint_names, held.positions, 0.54)
    assert scheduler.tick(0.54).hold_reason is HoldReason.NO_CHUNK
    assert scheduler.add_chunk(ramp_chunk(limits, held.positions, 0.54, SLOW, horizon=50), 0.55)
    resumed = run_ticks(scheduler, limits, 0.56, 30)
    assert resumed[-1].status is Status.TRACKING
    steps = np.diff(np.stack([c.positions for c in [commands[-1], jumped, held, *resumed]]), axis=0)
    assert np.abs(steps).max() <= scheduler.config.safety.max_step + 1e-9


def test_a_disarmed_executor_cannot_arm_from_a_joint_state_of_the_old_timeline(limits):
    scheduler = ChunkScheduler(limits)
    assert scheduler.update_joint_state(limits.joint_names, home(limits), 100.0)
    scheduler.tick(100.0)
    scheduler.tick(0.5)
    verdict = scheduler.arm(0.5)
    assert not verdict and verdict.reason is RejectReason.NO_JOINT_STATE
