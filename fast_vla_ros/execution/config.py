"""The parameter table of the chunk executor: one frozen dataclass per component, loadable from a dict.

The ROS node passes its YAML parameters straight to :meth:`ExecutionConfig.from_mapping`; every value is
checked here, at start-up, with a message that names the parameter, so a typo in a YAML file fails loudly
instead of silently running with a default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

# s between the observations that start new chunks: 0.8 of the default policy's 1 s chunk. On the shipped
# default (docs/policy.md, eighth round) 0.4, 0.5, 0.7, 0.8 and 0.9 s gave closed-loop success 0.54, 0.75,
# 0.80, 0.85 and 0.79: with sooner replanning each new chunk revised the last one's approach before it
# landed, and the arm hovered near the object. A policy slower than (chunk length - period) leaves the arm holding
# between chunks and wants a shorter period.
REPLAN_PERIOD_S = 0.8


class Strategy(str, Enum):
    """How a new chunk takes over from the one being executed (see docs/execution.md)."""

    REPLACE = "replace"
    CROSSFADE = "crossfade"
    TEMPORAL_ENSEMBLE = "temporal_ensemble"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class SchedulerConfig:
    """Time alignment and seam blending."""

    strategy: Strategy = Strategy.CROSSFADE
    control_period: float = 0.02  # s; the executor's tick (50 Hz)
    # s; each tick commands the target for now + lookahead, covering the controller and transport delay.
    lookahead: float = 0.02
    crossfade_steps: int = 10  # W, control periods over which a new chunk fades in
    # m, per control period of difference in observation time. ACT's convention: m > 0 favours older chunks.
    ensemble_coefficient: float = 0.01
    max_active_chunks: int = 32  # bounds the tick cost of temporal_ensemble
    # s; a chunk stamped later than now + this is refused (clocks of policy and executor disagree).
    future_tolerance: float = 0.05
    # Refuse chunks with a target beyond a joint's limits by more than this fraction of its range: the
    # policy is producing garbage, clamping it would only hide that.
    out_of_range_fraction: float = 0.5
    # Bounds on what one chunk may ask of the executor, checked before any work on it: a chunk's steps
    # (the default policy sends 50; pi0-FAST 10 to 50) and the time between them, s.
    max_chunk_steps: int = 1000
    min_chunk_dt: float = 0.001
    max_chunk_dt: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        _require(self.control_period > 0, f"control_period must be > 0 s, got {self.control_period}")
        _require(self.lookahead >= 0, f"lookahead must be >= 0 s, got {self.lookahead}")
        _require(self.crossfade_steps >= 1, f"crossfade_steps must be >= 1, got {self.crossfade_steps}")
        _require(math.isfinite(self.ensemble_coefficient), "ensemble_coefficient must be finite")
        _require(self.max_active_chunks >= 1, f"max_active_chunks must be >= 1, got {self.max_active_chunks}")
        _require(self.future_tolerance >= 0, f"future_tolerance must be >= 0 s, got {self.future_tolerance}")
        _require(self.out_of_range_fraction >= 0, "out_of_range_fraction must be >= 0")
        _require(self.max_chunk_steps >= 2, f"max_chunk_steps must be >= 2, got {self.max_chunk_steps}")
        _require(
            0 < self.min_chunk_dt <= self.max_chunk_dt,
            f"min_chunk_dt and max_chunk_dt must satisfy 0 < min <= max, got {self.min_chunk_dt}, {self.max_chunk_dt}",
        )


@dataclass(frozen=True)
class SafetyConfig:
    """Limits enforced on every commanded position, on top of the per-joint limits file."""

    # Fraction of each joint's range kept free at both ends: a margin in rad would not fit a 4 cm gripper.
    position_margin_fraction: float = 0.02
    max_step: float = 0.05  # rad (m for prismatic joints); largest position change in one tick
    velocity_scale: float = 1.0  # multiplies max_velocity from the limits file
    acceleration_scale: float = 1.0  # multiplies max_acceleration from the limits file
    # Fraction of each joint's range by which a measured position may lie outside the limits when arming (an
    # encoder at a hard stop); the first hold is then clipped into the limits. Farther out, arming is refused.
    arming_tolerance_fraction: float = 0.01

    def __post_init__(self) -> None:
        _require(
            0 <= self.position_margin_fraction < 0.5,
            f"position_margin_fraction must be in [0, 0.5), got {self.position_margin_fraction}",
        )
        _require(self.max_step > 0, f"max_step must be > 0, got {self.max_step}")
        _require(0 < self.velocity_scale <= 1, f"velocity_scale must be in (0, 1], got {self.velocity_scale}")
        _require(
            0 < self.acceleration_scale <= 1, f"acceleration_scale must be in (0, 1], got {self.acceleration_scale}"
        )
        _require(
            0 <= self.arming_tolerance_fraction < 0.5,
            f"arming_tolerance_fraction must be in [0, 0.5), got {self.arming_tolerance_fraction}",
        )


@dataclass(frozen=True)
class WatchdogConfig:
    """When stale inputs make the executor hold."""

    joint_state_timeout: float = 0.1  # s; older joint states mean the robot side is gone
    policy_timeout: float = 1.0  # s; the newest chunk's observation may be at most this old

    def __post_init__(self) -> None:
        _require(self.joint_state_timeout > 0, f"joint_state_timeout must be > 0 s, got {self.joint_state_timeout}")
        _require(self.policy_timeout > 0, f"policy_timeout must be > 0 s, got {self.policy_timeout}")


@dataclass(frozen=True)
class TrajectoryConfig:
    """Trajectory outputs for JointTrajectoryController and FollowJointTrajectory goals."""

    max_duration: float = 10.0  # s; longest trajectory previewed from the active chunks
    path_position_tolerance: float = 0.1  # rad; FollowJointTrajectory path_tolerance per joint
    goal_position_tolerance: float = 0.02  # rad; goal_tolerance per joint
    goal_velocity_tolerance: float = 0.05  # rad/s
    goal_time_tolerance: float = 0.5  # s

    def __post_init__(self) -> None:
        _require(self.max_duration > 0, f"max_duration must be > 0 s, got {self.max_duration}")
        for name in ("path_position_tolerance", "goal_position_tolerance", "goal_velocity_tolerance"):
            _require(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        _require(self.goal_time_tolerance >= 0, f"goal_time_tolerance must be >= 0 s, got {self.goal_time_tolerance}")


Section = TypeVar("Section", SchedulerConfig, SafetyConfig, WatchdogConfig, TrajectoryConfig)


def _section_from_mapping(cls: type[Section], values: dict[str, Any] | None, where: str) -> Section:
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown parameters {unknown}; known are {sorted(fields)}")
    converted: dict[str, Any] = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        try:
            if isinstance(default, Enum):
                converted[name] = type(default)(value)
            elif isinstance(default, bool) or isinstance(value, bool):
                raise TypeError
            elif isinstance(default, int):
                if float(value) != int(value):
                    raise TypeError
                converted[name] = int(value)
            else:
                converted[name] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}.{name}: expected a value like {default!r}, got {value!r}") from None
    try:
        return cls(**converted)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


@dataclass(frozen=True)
class ExecutionConfig:
    """All executor parameters, grouped as in the YAML file: ``scheduler``, ``safety``, ``watchdog``,
    ``trajectory``."""

    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None, where: str = "execution") -> ExecutionConfig:
        values = dict(values or {})
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(sections))
        if unknown:
            raise ValueError(f"{where}: unknown sections {unknown}; known are {sorted(sections)}")
        return cls(
            scheduler=_section_from_mapping(SchedulerConfig, values.get("scheduler"), f"{where}.scheduler"),
            safety=_section_from_mapping(SafetyConfig, values.get("safety"), f"{where}.safety"),
            watchdog=_section_from_mapping(WatchdogConfig, values.get("watchdog"), f"{where}.watchdog"),
            trajectory=_section_from_mapping(TrajectoryConfig, values.get("trajectory"), f"{where}.trajectory"),
        )
