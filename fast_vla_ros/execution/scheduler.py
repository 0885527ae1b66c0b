"""The chunk executor: action chunks and joint states in, one safe command per control tick out.

The caller owns the clock: every method that depends on time takes ``now`` (seconds, the clock the
chunks' ``t0`` and the joint states' stamps use), so the same code runs in a ROS timer, in a simulation
and in tests without sleeping. Not thread-safe: a node calls it from one mutually exclusive callback group.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fast_vla_ros.execution.blending import SeamBlender, make_blender
from fast_vla_ros.execution.config import ExecutionConfig
from fast_vla_ros.execution.interpolation import ChunkTrack
from fast_vla_ros.execution.joint_order import JointNameError, JointOrder
from fast_vla_ros.execution.outputs import (
    FollowJointTrajectoryGoal,
    JointTrajectory,
    follow_joint_trajectory_goal,
    joint_trajectory,
)
from fast_vla_ros.execution.safety import Intervention, MotionState, SafetyFilter
from fast_vla_ros.execution.status import ACCEPTED, Command, HoldReason, RejectReason, Status, Verdict
from fast_vla_ros.execution.watchdog import Watchdog
from fast_vla_ros.types import ActionChunk, JointLimits


@dataclass(frozen=True)
class PlanRequest:
    """The scheduler's motion state at one tick, copied for planning a trajectory from it."""

    blender: SeamBlender  # a private copy: planning advances it
    state: MotionState
    holding: bool
    start: float  # s; the tick the plan continues from
    newest_observation: float | None
    estopped: bool


def _rejected(reason: RejectReason, message: str) -> Verdict:
    return Verdict(False, reason, message)


class ChunkScheduler:
    """Latency-compensated seam blending, safety filter, watchdog and e-stop for one arm.

    Starts disarmed; :meth:`arm` needs a fresh joint state, which becomes the first held position, so
    arming never moves the arm. While armed every tick commands a position: the blended chunk target
    filtered to the limits, or, when a :class:`HoldReason` applies, a stop at the acceleration limit
    followed by standing still.
    """

    def __init__(self, limits: JointLimits, config: ExecutionConfig | None = None) -> None:
        self.config = config or ExecutionConfig()
        self.limits = limits
        self._order = JointOrder(limits.joint_names)
        self._filter = SafetyFilter(limits, self.config.safety, self.config.scheduler.control_period)
        self._watchdog = Watchdog(self.config.watchdog)
        self._blender: SeamBlender = make_blender(self.config.scheduler)
        self._joint_state: np.ndarray | None = None
        self._joint_state_stamp: float | None = None
        self._armed = False
        self._estopped = False
        self._state: MotionState | None = None
        self._holding = True
        self._hold_reason: HoldReason | None = None
        self._last_tick = 0.0
        self._clock = -math.inf  # the newest tick time seen, armed or not
        self._newest_observation: float | None = None
        self._counts: Counter[str] = Counter()

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.limits.joint_names

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def estopped(self) -> bool:
        return self._estopped

    # -- inputs ---------------------------------------------------------------------------------------

    def update_joint_state(
        self, names: Sequence[str], positions: Sequence[float], stamp: float, received: float | None = None
    ) -> Verdict:
        """Measured positions by joint name (other joints may be present).

        ``received`` is when the message arrived on the caller's clock (default: ``stamp``, for callers whose
        clock made the stamp). Freshness is judged by the earlier of the two, so a stamp from the future cannot
        keep a stopped stream looking fresh; one later than ``received + scheduler.future_tolerance`` means the
        clocks disagree and is refused.
        """
        positions = np.asarray(positions, dtype=np.float64)
        if positions.shape != (len(names),):
            message = f"joint state has {len(names)} names but positions of shape {positions.shape}"
            return self._count_rejection("joint_state", _rejected(RejectReason.JOINT_NAMES, message))
        try:
            values = positions[self._order.select(list(names))]
        except JointNameError as error:
            return self._count_rejection("joint_state", _rejected(RejectReason.JOINT_NAMES, str(error)))
        received = stamp if received is None else received
        if not (np.all(np.isfinite(values)) and math.isfinite(stamp) and math.isfinite(received)):
            message = "joint state has NaN/Inf position or stamp"
            return self._count_rejection("joint_state", _rejected(RejectReason.NON_FINITE, message))
        if stamp > received + self.config.scheduler.future_tolerance:
            message = f"joint state stamped {stamp - received:.3f} s after it arrived; clocks differ?"
            return self._count_rejection("joint_state", _rejected(RejectReason.FROM_FUTURE, message))
        self._joint_state, self._joint_state_stamp = values, float(min(stamp, received))
        return ACCEPTED

    def add_chunk(self, chunk: ActionChunk, now: float) -> Verdict:
        """Queue a chunk computed from the observation at ``chunk.t0``; ``now`` is when it arrived."""
        verdict = self._check_chunk(chunk, now)
        if not verdict:
            return self._count_rejection("chunk", verdict)
        actions = chunk.actions[:, self._order.permutation(chunk.joint_names)]
        self._blender.add(ChunkTrack(actions, chunk.t0, chunk.dt), now + self.config.scheduler.lookahead)
        self._newest_observation = chunk.t0
        self._counts["chunks_accepted"] += 1
        return ACCEPTED

    def _check_chunk(self, chunk: ActionChunk, now: float) -> Verdict:
        scheduler = self.config.scheduler
        if self._estopped:
            return _rejected(RejectReason.ESTOPPED, "e-stop latched; call reset() and arm() first")
        if not self._armed:
            return _rejected(RejectReason.DISARMED, "executor is disarmed; chunks are only taken while armed")
        if chunk.horizon == 0:
            return _rejected(RejectReason.EMPTY, "chunk has no steps")
        if chunk.horizon > scheduler.max_chunk_steps:
            message = f"chunk has {chunk.horizon} steps, more than max_chunk_steps={scheduler.max_chunk_steps}"
            return _rejected(RejectReason.TOO_LARGE, message)
        if not (math.isfinite(chunk.t0) and math.isfinite(chunk.dt)):
            return _rejected(RejectReason.NON_FINITE_TIME, f"chunk t0={chunk.t0} dt={chunk.dt} must be finite")
        if not scheduler.min_chunk_dt <= chunk.dt <= scheduler.max_chunk_dt:
            return _rejected(
                RejectReason.BAD_DT,
                f"chunk dt={chunk.dt:g} s is outside [{scheduler.min_chunk_dt:g}, {scheduler.max_chunk_dt:g}] "
                "(scheduler.min_chunk_dt, max_chunk_dt)",
            )
        try:
            self._order.permutation(chunk.joint_names)
        except JointNameError as error:
            return _rejected(RejectReason.JOINT_NAMES, str(error))
        if not np.all(np.isfinite(chunk.actions)):
            return _rejected(RejectReason.NON_FINITE, "chunk has NaN/Inf targets")
        actions = chunk.actions[:, self._order.permutation(chunk.joint_names)]
        slack = scheduler.out_of_range_fraction * (self.limits.upper - self.limits.lower)
        outside = np.any((actions < self.limits.lower - slack) | (actions > self.limits.upper + slack), axis=0)
        if np.any(outside):
            joints = [name for name, bad in zip(self.joint_names, outside, strict=True) if bad]
            return _rejected(RejectReason.OUT_OF_RANGE, f"targets far outside the limits of {joints}")
        if chunk.t0 > now + scheduler.future_tolerance:
            return _rejected(
                RejectReason.FROM_FUTURE, f"chunk t0={chunk.t0:.3f} is after now={now:.3f}; clocks differ?"
            )
        if self._newest_observation is not None and chunk.t0 <= self._newest_observation:
            return _rejected(
                RejectReason.OUT_OF_ORDER,
                f"chunk t0={chunk.t0:.3f} is not newer than the active chunk's {self._newest_observation:.3f}",
            )
        if now - chunk.t0 > self.config.watchdog.policy_timeout:
            return _rejected(RejectReason.STALE, f"chunk observation is {now - chunk.t0:.3f} s old (policy_timeout)")
        if chunk.t_end < now + scheduler.lookahead:
            return _rejected(RejectReason.EXPIRED, f"chunk ended {now + scheduler.lookahead - chunk.t_end:.3f} s ago")
        return ACCEPTED

    def _count_rejection(self, what: str, verdict: Verdict) -> Verdict:
        self._counts[f"rejected.{what}.{verdict.reason.value}"] += 1
        return verdict

    # -- modes ----------------------------------------------------------------------------------------

    def arm(self, now: float) -> Verdict:
        """Start commanding, from the measured position at rest; refused while e-stopped or without a
        joint state newer than ``watchdog.joint_state_timeout``."""
        if self._estopped:
            return _rejected(RejectReason.ESTOPPED, "e-stop latched; call reset() first")
        if self._armed:
            return ACCEPTED
        if not self._watchdog.joint_state_fresh(now, self._joint_state_stamp):
            return _rejected(RejectReason.NO_JOINT_STATE, "no fresh joint state to start from")
        outside = self._outside_arming_range(self._joint_state)
        if outside:
            return _rejected(
                RejectReason.OUT_OF_RANGE,
                f"measured positions outside the joint limits: {outside}; move the arm inside them before arming",
            )
        # Within the tolerance: hold at the nearest position inside the limits, never outside them.
        self._state = MotionState.at_rest(np.clip(self._joint_state, self.limits.lower, self.limits.upper))
        self._blender.clear()
        self._blender.restart(self._state.position, now + self.config.scheduler.lookahead)
        self._armed, self._holding, self._hold_reason = True, True, None
        self._newest_observation = None
        self._last_tick = float(now)
        return ACCEPTED

    def _outside_arming_range(self, measured: np.ndarray) -> str:
        """The joints measured beyond their limits by more than ``safety.arming_tolerance_fraction`` of the range."""
        slack = self.config.safety.arming_tolerance_fraction * (self.limits.upper - self.limits.lower)
        outside = (measured < self.limits.lower - slack) | (measured > self.limits.upper + slack)
        return ", ".join(
            f"{name} = {value:g} (limits [{lower:g}, {upper:g}])"
            for name, value, lower, upper, bad in zip(
                self.joint_names, measured, self.limits.lower, self.limits.upper, outside, strict=True
            )
            if bad
        )

    def disarm(self) -> None:
        """Stop commanding at once: the controller keeps the last command. Hold first to stop smoothly."""
        self._armed = False
        self._blender.clear()

    def estop(self) -> None:
        """Latch a stop: armed, the arm decelerates and holds; nothing is accepted until :meth:`reset`."""
        self._estopped = True

    def reset(self) -> None:
        """Clear the e-stop latch and disarm: resuming takes a deliberate :meth:`arm`."""
        self._estopped = False
        self.disarm()

    # -- output ---------------------------------------------------------------------------------------

    def tick(self, now: float) -> Command:
        """The command for this control tick (call every ``scheduler.control_period``)."""
        if not math.isfinite(now):
            raise ValueError(f"tick time must be finite, got {now}")
        clock_jumped_back = now < self._clock
        if clock_jumped_back:
            self._forget_the_old_timeline()
        self._clock = float(now)
        names = self.joint_names
        lookahead = self.config.scheduler.lookahead
        if not self._armed:
            return Command(now, now + lookahead, Status.DISARMED, None, names, None, None, None, frozenset())
        state, reason, reference, interventions = self._advance(
            self._blender, self._state, self._holding, now, self._joint_state_stamp, self._newest_observation,
            self._estopped,
        )  # fmt: skip
        if clock_jumped_back and reason is not HoldReason.ESTOP:
            reason = HoldReason.CLOCK_JUMPED_BACK
        self._blender.prune(now + lookahead)
        self._state, self._last_tick = state, float(now)
        self._holding = reason is not None
        if reason is not None and reason is not self._hold_reason:
            self._counts[f"hold.{reason.value}"] += 1
        self._hold_reason = reason
        for kind in interventions:
            self._counts[f"intervention.{kind.value}"] += 1
        status = Status.HOLDING if self._holding else Status.TRACKING
        return Command(
            now,
            now + lookahead,
            status,
            reason,
            names,
            state.position.copy(),
            state.velocity.copy(),
            None if self._holding else reference[0],
            frozenset(interventions),
        )

    def _forget_the_old_timeline(self) -> None:
        """Time went backwards (a simulator reset rewinds ``/clock``): every stamp held is from a timeline that
        no longer exists. The chunks are dropped and the joint state no longer counts as fresh, so an armed
        executor holds (decelerating from its last command, never a jump) until joint states and a chunk of the
        new timeline arrive; a disarmed one cannot arm from a stale measurement."""
        self._counts["clock_jumped_back"] += 1
        self._blender.clear()
        self._newest_observation = None
        self._joint_state_stamp = None

    def _advance(
        self,
        blender: SeamBlender,
        state: MotionState,
        holding: bool,
        now: float,
        joint_state_stamp: float | None,
        newest_observation: float | None,
        estopped: bool,
    ) -> tuple[MotionState, HoldReason | None, np.ndarray | None, set[Intervention]]:
        """One tick of the pipeline on the given blender, state and inputs, shared by :meth:`tick` and
        :meth:`plan_from`; it reads nothing else that changes, so a plan can run on another thread."""
        t = now + self.config.scheduler.lookahead
        reason = HoldReason.ESTOP if estopped else None
        reason = reason or self._watchdog.check(now, joint_state_stamp, newest_observation)
        reference = None
        if reason is None:
            if holding:
                blender.restart(state.position, t)
            reference = blender.reference(t)
            if reference is None:
                reason = HoldReason.CHUNK_EXHAUSTED
            elif not np.all(np.isfinite(reference)):
                reason = HoldReason.INVALID_REFERENCE
        if reason in (None, HoldReason.INVALID_REFERENCE):
            # A non-finite reference still goes to the filter, which counts it and stops.
            state, interventions = self._filter.step(state, reference[0], reference[1])
        else:
            state, interventions = self._filter.step(state, None)
        return state, reason, reference, interventions

    def plan_request(self) -> PlanRequest | None:
        """A copy of what :meth:`plan_from` needs, taken in one instant (cheap: the chunks' splines are
        copied, not refitted); ``None`` when disarmed."""
        if not self._armed:
            return None
        return PlanRequest(
            copy.deepcopy(self._blender), self._state, self._holding, self._last_tick, self._newest_observation,
            self._estopped,
        )  # fmt: skip

    def plan_from(self, request: PlanRequest | None) -> JointTrajectory | None:
        """What the ticks from the request's on will command if nothing new arrives, ending at rest (or after
        ``trajectory.max_duration``): the trajectory for a JointTrajectoryController. ``None`` when disarmed.

        Runs the same pipeline on the request's copies, assuming joint states keep arriving, so streaming and
        trajectory control command the same motion. Touches no scheduler state, so a node computes it off the
        control thread (it takes milliseconds); publish it after each accepted chunk and when a hold starts.
        """
        if request is None:
            return None
        period = self.config.scheduler.control_period
        blender, state, holding = request.blender, request.state, request.holding
        states = []
        for k in range(1, max(1, int(self.config.trajectory.max_duration / period)) + 1):
            now = request.start + k * period
            state, reason, _, _ = self._advance(
                blender, state, holding, now, now, request.newest_observation, request.estopped
            )
            holding = reason is not None
            blender.prune(now + self.config.scheduler.lookahead)
            states.append(state)
            if holding and not np.any(state.velocity):
                break
        return joint_trajectory(self.joint_names, request.start, period, states)

    def plan(self) -> JointTrajectory | None:
        """:meth:`plan_from` a request taken now."""
        return self.plan_from(self.plan_request())

    def trajectory_goal(self) -> FollowJointTrajectoryGoal | None:
        """:meth:`plan` with the configured tolerances, for a FollowJointTrajectory action client."""
        trajectory = self.plan()
        return None if trajectory is None else follow_joint_trajectory_goal(trajectory, self.config.trajectory)

    def counters(self) -> dict[str, int]:
        """Cumulative counts for diagnostics: ``chunks_accepted``, ``rejected.<input>.<reason>``,
        ``intervention.<kind>`` (ticks the safety filter changed a target) and ``hold.<reason>`` (holds entered)."""
        keys = ["chunks_accepted", "clock_jumped_back"]
        keys += [
            f"rejected.chunk.{reason.value}" for reason in RejectReason if reason is not RejectReason.NO_JOINT_STATE
        ]
        keys += [f"intervention.{kind.value}" for kind in Intervention]
        keys += [f"hold.{reason.value}" for reason in HoldReason]
        return {key: self._counts[key] for key in keys} | {k: v for k, v in self._counts.items() if k not in keys}
