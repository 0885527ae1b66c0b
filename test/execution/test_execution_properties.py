"""Property tests: whatever sequence of chunks (NaN, huge values, out-of-order or future stamps, empty, wrong
joint names, too many steps, absurd dt), ticks, stale, future-stamped or absurd joint states, arming attempts
and e-stops arrives, every command stays within the position, velocity and acceleration limits, is finite,
never steps more than max_step, and holds when it must."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fast_vla_ros.execution import ChunkScheduler, ExecutionConfig, HoldReason, RejectReason, Status
from fast_vla_ros.types import ActionChunk, JointLimits

from .conftest import LIMITS_FILE, PERIOD

LIMITS = JointLimits.from_yaml(LIMITS_FILE)
NAMES = LIMITS.joint_names
SPAN = LIMITS.upper - LIMITS.lower
TOLERANCE = 1e-9

# Half the chunks carry one defect, the others are accepted, so that commands are also tracked.
DEFECTS = [
    "nan", "inf", "huge", "missing", "unknown", "duplicated", "empty", "inf_dt", "future", "stale", "expired",
    "too_long", "tiny_dt", "huge_dt",
]  # fmt: skip
chunks = st.fixed_dictionaries(
    {
        "horizon": st.integers(1, 40),
        "dt": st.sampled_from([0.005, 0.02, 0.05, 0.1]),
        "t0_offset": st.floats(-0.3, 0.0),
        "values": st.sampled_from(["near", "spread", "beyond"]),
        "permuted": st.booleans(),
        "defect": st.sampled_from([None] * len(DEFECTS) + DEFECTS),
        "seed": st.integers(0, 2**16),
    }
)
# Each step: maybe a chunk arrives, then some ticks pass (with or without joint states), then maybe a mode change.
steps = st.lists(
    st.fixed_dictionaries(
        {
            "chunk": st.one_of(st.none(), chunks, chunks, chunks),
            "ticks": st.integers(1, 12),
            "joint_states": st.sampled_from(["fresh"] * 6 + ["none", "future_stamp", "absurd"]),
            "event": st.sampled_from([None] * 12 + ["estop", "reset_and_arm", "disarm_and_arm", "arm_outside"]),
        }
    ),
    min_size=1,
    max_size=30,
)
configs = st.fixed_dictionaries(
    {
        "scheduler": st.fixed_dictionaries(
            {
                "strategy": st.sampled_from(["replace", "crossfade", "temporal_ensemble"]),
                "crossfade_steps": st.integers(1, 20),
                "ensemble_coefficient": st.floats(-0.5, 0.5),
                "lookahead": st.floats(0.0, 0.05),
            }
        ),
        "safety": st.fixed_dictionaries({"max_step": st.floats(0.005, 0.1)}),
    }
)


def make_chunk(spec: dict, now: float, commanded: np.ndarray) -> ActionChunk:
    rng = np.random.default_rng(spec["seed"])
    defect = spec["defect"]
    horizon, dt, t0 = spec["horizon"], spec["dt"], now + spec["t0_offset"]
    if defect == "too_long":
        horizon = 1001  # scheduler.max_chunk_steps is 1000
    shape = (0 if defect == "empty" else horizon, len(NAMES))
    if spec["values"] == "near":
        actions = commanded + rng.normal(0.0, 0.05, shape) * SPAN
    elif spec["values"] == "spread":
        actions = rng.uniform(LIMITS.lower, LIMITS.upper, shape)
    else:
        actions = rng.uniform(LIMITS.lower - 0.4 * SPAN, LIMITS.upper + 0.4 * SPAN, shape)
    if defect in ("nan", "inf", "huge"):
        actions[rng.integers(horizon), rng.integers(len(NAMES))] = {"huge": 1e300, "nan": np.nan, "inf": -np.inf}[
            defect
        ]
    names = list(NAMES)
    if spec["permuted"]:
        order = rng.permutation(len(NAMES))
        actions, names = actions[:, order], [NAMES[i] for i in order]
    if defect == "missing":
        actions, names = actions[:, 1:], names[1:]
    elif defect == "unknown":
        names[2] = "tool_changer_joint"
    elif defect == "duplicated":
        names[3] = names[0]
    elif defect in ("inf_dt", "tiny_dt", "huge_dt"):
        dt = {"inf_dt": float("inf"), "tiny_dt": 5e-324, "huge_dt": 1e9}[defect]
    elif defect == "future":
        t0 = now + 1.0
    elif defect == "stale":
        t0 = now - 5.0
    elif defect == "expired":
        t0 = now - 0.1 - dt * horizon
    return ActionChunk(actions, t0, dt, tuple(names))


class Checker:
    """Follows the command stream and asserts the invariants on every command."""

    def __init__(self, scheduler: ChunkScheduler) -> None:
        self.filter = scheduler._filter
        self.previous: np.ndarray | None = None
        self.velocity: np.ndarray | None = None

    def start(self, position: np.ndarray) -> None:
        self.previous, self.velocity = position.copy(), np.zeros_like(position)

    def check(self, command, estopped: bool, joint_state_fresh: bool) -> None:
        if command.status is Status.DISARMED:
            assert command.positions is None and command.velocities is None
            return
        position, velocity = command.positions, command.velocities
        assert np.all(np.isfinite(position)) and np.all(np.isfinite(velocity))
        assert np.all(position >= self.filter.lower - TOLERANCE) and np.all(position <= self.filter.upper + TOLERANCE)
        step = position - self.previous
        assert np.all(np.abs(step) <= self.filter.max_step + TOLERANCE)
        np.testing.assert_allclose(velocity, step / PERIOD, atol=1e-6)
        assert np.all(np.abs(velocity) <= self.filter.max_velocity + TOLERANCE)
        assert np.all(np.abs(velocity - self.velocity) <= self.filter.max_acceleration * PERIOD + 1e-6)
        if estopped:
            assert command.hold_reason is HoldReason.ESTOP
        elif not joint_state_fresh:
            assert command.hold_reason is HoldReason.JOINT_STATE_STALE
        if command.status is Status.HOLDING:
            assert command.reference is None
            assert np.all(np.abs(velocity) <= np.abs(self.velocity) + TOLERANCE), "a hold must not speed up"
        self.previous, self.velocity = position.copy(), velocity.copy()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, start_fraction=st.floats(0.05, 0.95), steps=steps)
def test_commands_respect_every_limit_whatever_arrives(config, start_fraction, steps):
    scheduler = ChunkScheduler(LIMITS, ExecutionConfig.from_mapping(config))
    checker = Checker(scheduler)
    now = 100.0
    measured = checker.filter.lower + start_fraction * (checker.filter.upper - checker.filter.lower)
    last_state_time, estopped = now, False

    def arm() -> None:
        nonlocal last_state_time
        scheduler.update_joint_state(NAMES, measured, now)
        last_state_time = now
        assert scheduler.arm(now)
        checker.start(measured)

    arm()
    for step in steps:
        spec = step["chunk"]
        if spec is not None:
            verdict = scheduler.add_chunk(make_chunk(spec, now, checker.previous), now)
            if spec["defect"] is not None:
                assert not verdict, spec["defect"]
        for _ in range(step["ticks"]):
            now += PERIOD
            command = scheduler.tick(now)
            fresh = now - last_state_time <= scheduler.config.watchdog.joint_state_timeout
            checker.check(command, estopped, fresh)
            if command.positions is not None:
                measured = command.positions
            if step["joint_states"] == "fresh":
                scheduler.update_joint_state(NAMES, measured, now)
                last_state_time = now
            elif step["joint_states"] == "future_stamp":  # must not keep a stopped stream looking fresh
                assert not scheduler.update_joint_state(NAMES, measured, now + 1e6, received=now)
            elif step["joint_states"] == "absurd":  # a finite, impossible measurement: taken, never commanded
                assert scheduler.update_joint_state(NAMES, measured + 1e6 * (np.arange(len(NAMES)) == 0), now)
                last_state_time = now
        if step["event"] == "estop":
            scheduler.estop()
            estopped = True
        elif step["event"] == "reset_and_arm":
            scheduler.reset()
            estopped = False
            arm()
        elif step["event"] == "disarm_and_arm" and not estopped:
            scheduler.disarm()
            assert scheduler.tick(now).positions is None
            arm()
        elif step["event"] == "arm_outside" and not estopped:
            scheduler.disarm()
            outside = measured.copy()
            outside[1] = LIMITS.upper[1] + 0.02 * SPAN[1]  # beyond safety.arming_tolerance_fraction (0.01)
            assert scheduler.update_joint_state(NAMES, outside, now)
            verdict = scheduler.arm(now)
            assert not verdict and verdict.reason is RejectReason.OUT_OF_RANGE and NAMES[1] in verdict.message
            assert scheduler.tick(now).positions is None
            arm()
