"""Checks on the commands an executor published, made from outside it (benchmarks/fuzz.py): every command
within the position, velocity and acceleration limits, and none from a tick that started after the executor
had acknowledged a stop.

Velocity and acceleration are differences of successive commands at the control period, as the safety
filter (fast_vla_ros/execution/safety.py) limits them: one command per tick, whatever the wall time between
two ticks. A stop is known from outside only once the executor has answered for it (a disarm or
``reset_estop`` reply, an arm refused because the e-stop is latched); a tick that started after such an answer
and before the next successful arm request was sent must publish nothing. Times are seconds of the wall
clock, which the executor's tick stamps and the receiver share on one machine. No rclpy here.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from fast_vla_ros.execution.config import ExecutionConfig
from fast_vla_ros.types import JointLimits

# Relative and absolute slack on each limit: floating-point rounding of positions summed tick after tick.
RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CommandRecord:
    """One command as received: ``stamp`` is the executor's tick time, ``velocity`` what it reports (or None)."""

    arrival: float
    stamp: float
    positions: np.ndarray  # the executor's joint order
    velocity: np.ndarray | None = None


def executor_settings(
    limits_file: Path, params_file: Path, node: str = "chunk_executor_node"
) -> tuple[JointLimits, ExecutionConfig]:
    """The arm's joint limits, in the executor's joint order, and the executor's configuration from its
    parameters file (the sections ``ExecutionConfig`` reads)."""
    params = yaml.safe_load(Path(params_file).read_text())[node]["ros__parameters"]
    sections = {name: params[name] for name in ("scheduler", "safety", "watchdog", "trajectory") if name in params}
    limits = JointLimits.from_yaml(limits_file)
    order = limits.index_of(tuple(params.get("joint_names", limits.joint_names)))
    names = tuple(limits.joint_names[k] for k in order)
    ordered = JointLimits(
        names, limits.lower[order], limits.upper[order], limits.max_velocity[order], limits.max_acceleration[order]
    )
    return ordered, ExecutionConfig.from_mapping(sections)


@dataclass(frozen=True)
class CommandLimits:
    """The limits the executor's safety filter promises, per joint in the executor's order."""

    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray  # rad/s
    max_step: np.ndarray  # rad per tick
    max_acceleration: np.ndarray  # rad/s^2
    period: float  # s

    @classmethod
    def from_files(cls, limits_file: Path, params_file: Path, node: str = "chunk_executor_node") -> CommandLimits:
        """Joint limits from the arm's limits file; margin, scales, ``max_step`` and control period from the
        executor's parameters."""
        limits, config = executor_settings(limits_file, params_file, node)
        safety = config.safety
        margin = safety.position_margin_fraction * (limits.upper - limits.lower)
        return cls(
            joint_names=limits.joint_names,
            lower=limits.lower + margin,
            upper=limits.upper - margin,
            max_velocity=limits.max_velocity * safety.velocity_scale,
            max_step=np.full(len(limits.joint_names), safety.max_step),
            max_acceleration=limits.max_acceleration * safety.acceleration_scale,
            period=config.scheduler.control_period,
        )


@dataclass(frozen=True)
class Violation:
    kind: str  # position | velocity | step | acceleration | start_velocity
    joint: str
    value: float
    limit: float
    command: CommandRecord


class StopLog:
    """When the executor acknowledged a stop and when arm requests that succeeded were sent (receiver's clock).
    It starts disarmed: ``start`` counts as an acknowledged stop."""

    def __init__(self, start: float) -> None:
        self.acknowledged: list[float] = [start]
        self.arm_requests: list[float] = []

    def acknowledge(self, time: float) -> None:
        bisect.insort(self.acknowledged, time)

    def armed(self, request_sent: float) -> None:
        bisect.insort(self.arm_requests, request_sent)

    def stopped_at(self, time: float) -> bool:
        """Whether the executor must be silent at ``time``: a stop acknowledged before it and no successful
        arm request sent since."""
        stop = bisect.bisect_right(self.acknowledged, time)
        if stop == 0:
            return False
        arm = bisect.bisect_right(self.arm_requests, time)
        return arm == 0 or self.arm_requests[arm - 1] < self.acknowledged[stop - 1]

    def new_arming_between(self, start: float, end: float) -> bool:
        """Whether ticks stamped ``start`` and ``end`` belong to different armings, the second starting from rest
        at the measured position: an arm request that succeeded was sent between them after a stop."""
        first = bisect.bisect_right(self.arm_requests, start)
        last = bisect.bisect_right(self.arm_requests, end)
        return any(self._rearms(k) for k in range(first, last))

    def _rearms(self, k: int) -> bool:
        """Whether a stop was acknowledged between arm request ``k`` and the one before it."""
        previous = self.arm_requests[k - 1] if k else -np.inf
        stops = bisect.bisect_left(self.acknowledged, self.arm_requests[k])
        return stops > bisect.bisect_right(self.acknowledged, previous)


def _over(values: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Beyond the limit, or not a number at all."""
    return ~(np.abs(values) <= limit * (1 + RELATIVE_TOLERANCE) + ABSOLUTE_TOLERANCE)


def armings(commands: list[CommandRecord], stops: StopLog) -> list[list[CommandRecord]]:
    """``commands`` in tick order, split where the executor started again from rest."""
    segments: list[list[CommandRecord]] = []
    for command in sorted(commands, key=lambda c: c.stamp):
        if not segments or stops.new_arming_between(segments[-1][-1].stamp, command.stamp):
            segments.append([])
        segments[-1].append(command)
    return segments


def tick_gaps(commands: list[CommandRecord], stops: StopLog) -> tuple[np.ndarray, np.ndarray]:
    """Seconds between successive ticks of one arming (a gap far above the period is a stalled tick), and the
    stamp of the tick that ended each gap."""
    stamps = [np.array([c.stamp for c in arming]) for arming in armings(commands, stops)]
    gaps = np.concatenate([np.diff(s) for s in stamps] or [np.zeros(0)])
    ends = np.concatenate([s[1:] for s in stamps] or [np.zeros(0)])
    return gaps, ends


def while_stopped(commands: list[CommandRecord], stops: StopLog) -> list[CommandRecord]:
    return [c for c in commands if stops.stopped_at(c.stamp)]


def limit_violations(commands: list[CommandRecord], limits: CommandLimits, stops: StopLog) -> list[Violation]:
    found: list[Violation] = []
    for arming in armings(commands, stops):
        found += _arming_violations(arming, limits)
    return found


def _arming_violations(arming: list[CommandRecord], limits: CommandLimits) -> list[Violation]:
    period = limits.period
    first = arming[0]
    found: list[Violation] = []
    if first.velocity is not None:  # the first tick after arming starts from rest
        found += _check("start_velocity", first.velocity, limits.max_acceleration * period, first, limits)
    previous_step: np.ndarray | None = None
    for k, command in enumerate(arming):
        found += _position_violations(command, limits)
        if k == 0:
            continue
        step = command.positions - arming[k - 1].positions
        found += _check("step", step, limits.max_step, command, limits)
        found += _check("velocity", step / period, limits.max_velocity, command, limits)
        if previous_step is not None:
            acceleration = (step - previous_step) / period**2
            found += _check("acceleration", acceleration, limits.max_acceleration, command, limits)
        previous_step = step
    return found


def _check(
    kind: str, values: np.ndarray, limit: np.ndarray, command: CommandRecord, limits: CommandLimits
) -> list[Violation]:
    return [
        Violation(kind, limits.joint_names[j], float(values[j]), float(limit[j]), command)
        for j in np.flatnonzero(_over(values, limit))
    ]


def _position_violations(command: CommandRecord, limits: CommandLimits) -> list[Violation]:
    q = command.positions
    below = q < limits.lower - ABSOLUTE_TOLERANCE
    above = q > limits.upper + ABSOLUTE_TOLERANCE
    bound = np.where(below, limits.lower, limits.upper)
    return [
        Violation("position", limits.joint_names[j], float(q[j]), float(bound[j]), command)
        for j in np.flatnonzero(below | above | ~np.isfinite(q))
    ]
