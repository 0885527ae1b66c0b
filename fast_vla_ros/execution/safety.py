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
        self._step_binds = config.max_step < self.max_velocity * period
        self._period = period

    def _braking_speed(self, distance: np.ndarray) -> np.ndarray:
        """Largest speed toward a limit ``distance`` away such that, after this step, full deceleration
        still stops before it: the positive root of ``v^2 / (2 a) + v T = distance``."""
        a, period = self.max_acceleration, self._period
        return np.sqrt((a * period) ** 2 + 2.0 * a * np.maximum(distance, 0.0)) - a * period

    def step(self, state: MotionState, target: np.ndarray | None) -> tuple[MotionState, set[Intervention]]:
        period = self._period
        interventions: set[Intervention] = set()
        if target is None:
            desired = np.zeros_like(state.velocity)
        elif not np.all(np.isfinite(target)):
            interventions.add(Intervention.NON_FINITE)
            desired = np.zeros_like(state.velocity)
        else:
            clipped = np.clip(target, self.lower, self.upper)
            if np.any(clipped != target):
                interventions.add(Intervention.POSITION_LIMIT)
            desired = (clipped - state.position) / period

        speed = self.max_step / period
        accelerate = self.max_acceleration * period
        brake_up = self._braking_speed(self.upper - state.position)
        brake_down = self._braking_speed(state.position - self.lower)
        high = np.minimum(np.minimum(speed, state.velocity + accelerate), brake_up)
        low = np.maximum(np.maximum(-speed, state.velocity - accelerate), -brake_down)
        # Only rounding can make the interval empty (see the module docstring); the upper bound wins then.
        velocity = np.minimum(np.maximum(desired, low), high)

        if target is not None:
            changed = velocity != desired
            bound = np.where(desired > high, high, low)
            at_speed = changed & ((bound == speed) | (bound == -speed))
            if np.any(at_speed & self._step_binds):
                interventions.add(Intervention.MAX_STEP)
            if np.any(at_speed & ~self._step_binds):
                interventions.add(Intervention.VELOCITY_LIMIT)
            if np.any(changed & ((bound == state.velocity + accelerate) | (bound == state.velocity - accelerate))):
                interventions.add(Intervention.ACCELERATION_LIMIT)
            if np.any(changed & ((bound == brake_up) | (bound == -brake_down))):
                interventions.add(Intervention.POSITION_LIMIT)
        return MotionState(state.position + velocity * period, velocity), interventions
