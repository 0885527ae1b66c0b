"""The last gate before the arm: every commanded position passes here.

Limits are enforced on the commanded stream itself (position, its per-tick change, and the change of that
change), assuming one tick per control period. Position limits are kept with a braking envelope: the
velocity toward a limit never exceeds what the acceleration limit can stop before it, so the filter can
always satisfy every limit at once instead of choosing which one to break.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from fast_vla_ros.execution.config import SafetyConfig
from fast_vla_ros.types import JointLimits


class Intervention(str, Enum):
    """What the filter changed in a target, counted per tick by the executor."""

    NON_FINITE = "non_finite"  # NaN/Inf target: replaced by a stop
    POSITION_LIMIT = "position_limit"  # target outside the limits (with margin), or braking before a limit
    VELOCITY_LIMIT = "velocity_limit"
    ACCELERATION_LIMIT = "acceleration_limit"
    MAX_STEP = "max_step"


@dataclass(frozen=True)
class MotionState:
    """The last commanded position and the velocity of the step that reached it (arm joint order)."""

    position: np.ndarray
    velocity: np.ndarray

    @classmethod
    def at_rest(cls, position: np.ndarray) -> MotionState:
        position = np.array(position, dtype=np.float64)
        return cls(position, np.zeros_like(position))


class SafetyFilter:
    """Maps a target (or ``None``: stop) and the previous command to the next command within limits."""

    def __init__(self, limits: JointLimits, config: SafetyConfig, period: float) -> None:
        margin = config.position_margin_fraction * (limits.upper - limits.lower)
        self.lower = limits.lower + margin
        self.upper = limits.upper - margin
        self.max_velocity = limits.max_velocity * config.velocity_scale
        self.max_acceleration = limits.max_acceleration * config.acceleration_scale
        self.max_step = np.minimum(config.max_step, self.max_velocity * period)
        self._period = period
        self._speed = self.max_step / period
        self._step_binds = config.max_step < self.max_velocity * period
        self._accelerate = self.max_acceleration * period
        self._zero = np.zeros_like(self.lower)
        # Row 0 toward the upper limit, row 1 toward the lower one, so both braking speeds cost one pass.
        self._toward = np.array([1.0, -1.0])[:, None]
        self._limit = np.stack([self.upper, -self.lower])

    def _approach_speed(self, distance: np.ndarray) -> np.ndarray:
        """Closing speed on a target ``distance`` away that half the acceleration limit can still brake.

        Never below half a tick's velocity change: a target moving within the limits can step that much
        more or less in a tick than its velocity says, and a target being followed must pass unchanged.
        """
        a_t = 0.5 * self._accelerate
        return np.maximum(np.sqrt(a_t * a_t + self.max_acceleration * distance) - a_t, a_t)

    def _braking_speeds(self, position: np.ndarray) -> np.ndarray:
        """Largest speeds toward the upper (row 0) and lower (row 1) limit such that, after this step, full
        deceleration still stops before it: the positive root of ``v^2 / (2 a) + v T = distance``."""
        distance = np.maximum(self._limit - self._toward * position, 0.0)
        a_t = self._accelerate
        return np.sqrt(a_t * a_t + 2.0 * self.max_acceleration * distance) - a_t

    def step(
        self, state: MotionState, target: np.ndarray | None, target_velocity: np.ndarray | None = None
    ) -> tuple[MotionState, set[Intervention]]:
        """The next command toward ``target`` (``None``: stop), which moves at ``target_velocity``.

        Passing the target through needs no velocity. It matters once the arm is off the target, after a
        limit acted: chasing a position with a bounded acceleration overshoots and oscillates unless the
        approach speed, relative to the target's own motion, can still be braked at half the acceleration
        limit (the other half is left for the target's own acceleration).
        """
        interventions: set[Intervention] = set()
        position, previous = state.position, state.velocity
        if target is None:
            desired = self._zero
        elif not (np.isfinite(target).all() and (target_velocity is None or np.isfinite(target_velocity).all())):
            interventions.add(Intervention.NON_FINITE)
            desired = self._zero
        else:
            clipped = np.minimum(np.maximum(target, self.lower), self.upper)
            if (clipped != target).any():
                interventions.add(Intervention.POSITION_LIMIT)
            error = clipped - position
            desired = error / self._period
            moving = (
                self._zero
                if target_velocity is None
                else np.minimum(np.maximum(target_velocity, -self._speed), self._speed)
            )
            approach = self._approach_speed(np.abs(error))
            tracked = np.where(
                error > 0, np.minimum(desired, moving + approach), np.maximum(desired, moving - approach)
            )
            if (tracked != desired).any():
                interventions.add(Intervention.ACCELERATION_LIMIT)
            desired = tracked

        speed, accelerate = self._speed, self._accelerate
        brake_up, brake_down = self._braking_speeds(position) * self._toward
        high = np.minimum(np.minimum(speed, previous + accelerate), brake_up)
        low = np.maximum(np.maximum(-speed, previous - accelerate), brake_down)
        # Only rounding can make the interval empty (see the module docstring); the upper bound wins then.
        velocity = np.minimum(np.maximum(desired, low), high)

        changed = velocity != desired
        if target is not None and changed.any():
            bound = np.where(desired > high, high, low)
            at_speed = changed & (np.abs(bound) == speed)
            if (at_speed & self._step_binds).any():
                interventions.add(Intervention.MAX_STEP)
            if (at_speed & ~self._step_binds).any():
                interventions.add(Intervention.VELOCITY_LIMIT)
            if (changed & ((bound == previous + accelerate) | (bound == previous - accelerate))).any():
                interventions.add(Intervention.ACCELERATION_LIMIT)
            if (changed & ((bound == brake_up) | (bound == brake_down))).any():
                interventions.add(Intervention.POSITION_LIMIT)
        return MotionState(position + velocity * self._period, velocity), interventions
