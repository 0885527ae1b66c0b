"""What the executor reports back to its caller: per-tick commands and verdicts on inputs.

Reasons are string enums so that a ROS node can put them in logs and diagnostics verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from fast_vla_ros.execution.safety import Intervention


class Status(str, Enum):
    DISARMED = "disarmed"  # nothing is commanded: the controller keeps its last command
    TRACKING = "tracking"  # following the active chunk(s)
    HOLDING = "holding"  # stopping, or standing still at the last commanded position; see HoldReason


class HoldReason(str, Enum):
    NO_CHUNK = "no_chunk"  # armed, no chunk accepted since
    CHUNK_EXHAUSTED = "chunk_exhausted"  # the active chunk ends before the time being commanded
    POLICY_STALE = "policy_stale"  # the newest chunk's observation is older than watchdog.policy_timeout
    JOINT_STATE_STALE = "joint_state_stale"  # no joint state within watchdog.joint_state_timeout
    ESTOP = "estop"  # e-stop latched until reset()
    INVALID_REFERENCE = "invalid_reference"  # the blended target was not finite (a bug upstream)
    # this tick's time is earlier than the previous tick's (a simulator reset, a wall clock stepped back)
    CLOCK_JUMPED_BACK = "clock_jumped_back"


class RejectReason(str, Enum):
    DISARMED = "disarmed"
    ESTOPPED = "estopped"
    EMPTY = "empty"  # a chunk with no steps
    JOINT_NAMES = "joint_names"  # unknown, missing or duplicated joint names
    NON_FINITE = "non_finite"  # NaN/Inf positions
    NON_FINITE_TIME = "non_finite_time"  # NaN/Inf t0 or dt
    OUT_OF_RANGE = "out_of_range"  # targets far outside the joint limits; arm() from outside them
    TOO_LARGE = "too_large"  # more steps than scheduler.max_chunk_steps
    BAD_DT = "bad_dt"  # step time outside [scheduler.min_chunk_dt, scheduler.max_chunk_dt]
    FROM_FUTURE = "from_future"  # t0 (a joint state's stamp) later than now + scheduler.future_tolerance
    OUT_OF_ORDER = "out_of_order"  # t0 not newer than the newest accepted chunk's
    STALE = "stale"  # t0 older than watchdog.policy_timeout
    EXPIRED = "expired"  # every step is earlier than now + lookahead
    NO_JOINT_STATE = "no_joint_state"  # arm() without a fresh joint state to start from


@dataclass(frozen=True)
class Verdict:
    """Accepted, or rejected with a reason a user can act on. Truthy when accepted."""

    accepted: bool
    reason: RejectReason | None = None
    message: str = ""

    def __bool__(self) -> bool:
        return self.accepted


ACCEPTED = Verdict(True)


@dataclass(frozen=True)
class Command:
    """One tick's output, in the arm's joint order. ``positions is None`` means publish nothing."""

    stamp: float  # s; the tick time the command is for
    target_time: float  # s; stamp + lookahead, the chunk time that was looked up
    status: Status
    hold_reason: HoldReason | None
    joint_names: tuple[str, ...]
    positions: np.ndarray | None  # rad
    velocities: np.ndarray | None  # rad/s; the step from the previous command, divided by the control period
    reference: np.ndarray | None  # rad; blended target before the safety filter (diagnostics), None when holding
    interventions: frozenset[Intervention]
