"""Scripted expert: Cartesian waypoints per task family, turned into smooth 50 Hz joint targets.

Between waypoints the tool centre point follows a minimum-jerk profile in time (Flash & Hogan 1985)
along a straight line, with its orientation slerped, and each 50 Hz sample is solved by IK seeded
with the previous one. Straight lines matter for the push (a joint-space blend would dip into the
table); minimum jerk gives the smooth, human-like chunks the FAST tokenizer is designed for. A
segment that would exceed a joint's velocity or acceleration limit is slowed down until it does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from fast_vla_ros.data.minimum_jerk import minimum_jerk_profile
from fast_vla_ros.sim.arm_model import ArmModel
from fast_vla_ros.sim.ik import TcpInverseKinematics, tool_down_rotation
from fast_vla_ros.sim.scene import PlacedObject
from fast_vla_ros.sim.tasks import TaskEpisode

CONTROL_DT = 0.02  # 50 Hz, the action rate of the whole project
GRIPPER_OPEN = 0.04
GRIPPER_CLOSED = 0.0
PUSH_GRIPPER = 0.012  # fingers 2.4 cm apart: a fork that cradles the object while pushing
APPROACH_HEIGHT = 0.12  # tcp height above the table when travelling between objects
FINAL_HOLD = 0.3  # s of standing still at the end, so the last state is settled
LIMIT_MARGIN = 0.8  # plan to this fraction of each joint's velocity and acceleration limits
IK_TOLERANCE = 2e-3  # m + rad; larger residuals mean the pose is out of reach
# Lowest tcp height for moving sideways: the fingertips (1.5 cm below the tcp) clear a 4 cm object by 1.5 cm.
REALIGN_MIN_HEIGHT = 0.07
REALIGN_DURATION = 0.8  # s to move sideways onto the plan from beside it


class UnreachablePose(RuntimeError):
    """The IK found no joint positions for a planned tool pose (the layout put an object out of reach)."""


@dataclass(frozen=True)
class Waypoint:
    """A tool pose to reach (tool pointing down), the gripper opening there, and the time to get there."""

    position: tuple[float, float, float]
    yaw: float
    gripper: float
    duration: float


def _nominal_yaw(target: PlacedObject) -> float:
    """Tool yaw with wrist_3 near zero when the arm faces the object (tool x points back at the base)."""
    return float(np.arctan2(target.y, target.x) + np.pi)


def _nearest(candidates: np.ndarray, reference: float) -> float:
    wrapped = (candidates - reference + np.pi) % (2 * np.pi) - np.pi
    return float(reference + wrapped[np.argmin(np.abs(wrapped))])


def _grasp_yaw(target: PlacedObject) -> float:
    """Closing direction square to a cube's faces; any yaw suits a cylinder."""
    nominal = _nominal_yaw(target)
    if target.shape != "cube":
        return nominal
    return _nearest(target.yaw + np.pi / 2 * np.arange(4), nominal)


def waypoints(episode: TaskEpisode) -> list[Waypoint]:
    """The expert's plan for one episode, from the family and the target's pose."""
    t = episode.target
    x, y = t.x, t.y
    if episode.family == "touch":
        # The plan ends resting on the object. Rising back to a hover after the touch would end the
        # demonstration in nearly the pose it held just before descending, and a policy that sees only
        # the present cannot tell "about to touch" from "already touched": it learned to stop there.
        yaw = _grasp_yaw(t)
        return [
            Waypoint((x, y, APPROACH_HEIGHT), yaw, GRIPPER_CLOSED, 1.3),
            Waypoint((x, y, 0.047), yaw, GRIPPER_CLOSED, 0.8),  # fingertips 8 mm into the top face
            Waypoint((x, y, 0.047), yaw, GRIPPER_CLOSED, 0.3),
        ]
    if episode.family == "push":
        d = episode.direction
        yaw = _nearest(np.array([np.pi / 2, -np.pi / 2]), _nominal_yaw(t))  # fingers across the push
        behind, beyond = y - d * 0.065, y + d * 0.11
        return [
            Waypoint((x, behind, APPROACH_HEIGHT), yaw, PUSH_GRIPPER, 1.3),
            Waypoint((x, behind, 0.02), yaw, PUSH_GRIPPER, 0.8),
            Waypoint((x, beyond, 0.02), yaw, PUSH_GRIPPER, 1.5),
            Waypoint((x, beyond, APPROACH_HEIGHT), yaw, PUSH_GRIPPER, 0.7),
        ]
    if episode.family == "push_away":
        yaw = _nearest(np.array([0.0, np.pi]), _nominal_yaw(t))  # fingers across the push, as for "push"
        behind, beyond = x - 0.065, x + 0.11
        return [
            Waypoint((behind, y, APPROACH_HEIGHT), yaw, PUSH_GRIPPER, 1.3),
            Waypoint((behind, y, 0.02), yaw, PUSH_GRIPPER, 0.8),
            Waypoint((beyond, y, 0.02), yaw, PUSH_GRIPPER, 1.5),
            Waypoint((beyond, y, APPROACH_HEIGHT), yaw, PUSH_GRIPPER, 0.7),
        ]
    if episode.family == "pick":
        yaw = _grasp_yaw(t)
        return [
            Waypoint((x, y, APPROACH_HEIGHT), yaw, GRIPPER_OPEN, 1.3),
            Waypoint((x, y, 0.018), yaw, GRIPPER_OPEN, 0.8),
            Waypoint((x, y, 0.018), yaw, GRIPPER_CLOSED, 0.5),
            Waypoint((x, y, 0.16), yaw, GRIPPER_CLOSED, 1.0),
        ]
    raise KeyError(f"the expert has no plan for task family '{episode.family}'")


def recovery_waypoints(episode: TaskEpisode, tcp_position: np.ndarray) -> list[Waypoint]:
    """The plan from a pose beside where the approach should have led: move sideways, at the present
    height but never lower than ``REALIGN_MIN_HEIGHT``, to where the approach ends, then go on as
    ``waypoints`` does. Staying at the present height matters: a recovery that rose back to the approach
    height would teach a policy to climb from poses that, moving, are the normal descent."""
    approach, *rest = waypoints(episode)
    height = float(np.clip(tcp_position[2], REALIGN_MIN_HEIGHT, APPROACH_HEIGHT))
    x, y, _ = approach.position
    return [Waypoint((x, y, height), approach.yaw, approach.gripper, REALIGN_DURATION), *rest]


class ScriptedExpert:
    """Plans a whole episode open-loop from a state at rest; the plan is a [T, 7] array of joint targets."""

    def __init__(self, arm: ArmModel, control_dt: float = CONTROL_DT) -> None:
        self.arm = arm
        self.control_dt = control_dt
        self.ik = TcpInverseKinematics(arm)
        self._max_velocity = arm.limits.max_velocity * LIMIT_MARGIN
        self._max_acceleration = arm.limits.max_acceleration * LIMIT_MARGIN

    def plan(
        self, episode: TaskEpisode, start: np.ndarray, rng: np.random.Generator, recovering: bool = False
    ) -> np.ndarray:
        """Joint targets at ``control_dt`` from ``start`` (joint positions in limits order); ``rng`` varies
        the pace of each segment by +-15 % so demonstrations are not all timed alike. ``recovering``
        plans from a pose beside the approach (``recovery_waypoints``) instead of from the reset pose."""
        n_arm = self.arm.arm_joint_count
        q = np.asarray(start, dtype=np.float64)[:n_arm].copy()
        position, rotation = self.ik.forward(q)
        gripper = float(start[-1])
        rows = []
        for waypoint in recovery_waypoints(episode, position) if recovering else waypoints(episode):
            duration = waypoint.duration * rng.uniform(0.85, 1.15)
            while True:
                segment = self._segment(q, position, rotation, gripper, waypoint, duration)
                overshoot = self._limit_overshoot(np.r_[q, gripper], segment)
                if overshoot <= 1.0:
                    break
                duration *= overshoot * 1.05
            rows.append(segment)
            q, gripper = segment[-1, :n_arm], waypoint.gripper
            position, rotation = np.array(waypoint.position), tool_down_rotation(waypoint.yaw)
        hold = np.repeat(rows[-1][-1:], int(round(FINAL_HOLD / self.control_dt)), axis=0)
        return np.vstack([*rows, hold])

    def _limit_overshoot(self, previous: np.ndarray, segment: np.ndarray) -> float:
        """How many times longer the segment must take to respect the velocity and acceleration margins
        (velocity scales with 1/duration, acceleration with 1/duration^2); at rest before it starts."""
        path = np.vstack([previous, previous, segment])
        velocity = np.diff(path, axis=0) / self.control_dt
        acceleration = np.diff(velocity, axis=0) / self.control_dt
        return float(
            max(
                np.max(np.abs(velocity) / self._max_velocity),
                np.sqrt(np.max(np.abs(acceleration) / self._max_acceleration)),
            )
        )

    def _segment(
        self,
        q: np.ndarray,
        position: np.ndarray,
        rotation: np.ndarray,
        gripper: float,
        waypoint: Waypoint,
        duration: float,
    ) -> np.ndarray:
        steps = max(1, int(round(duration / self.control_dt)))
        s = minimum_jerk_profile(np.arange(1, steps + 1) / steps)
        goal_position = np.array(waypoint.position)
        slerp = Slerp([0.0, 1.0], Rotation.from_matrix([rotation, tool_down_rotation(waypoint.yaw)]))
        rotations = slerp(s).as_matrix()
        out = np.empty((steps, self.arm.arm_joint_count + 1))
        for k in range(steps):
            q, residual = self.ik.solve(q, position + (goal_position - position) * s[k], rotations[k])
            if residual > IK_TOLERANCE:
                raise UnreachablePose(f"expert IK cannot reach {waypoint.position} (residual {residual:.4f})")
            out[k, :-1] = q
            out[k, -1] = gripper + (waypoint.gripper - gripper) * s[k]
        return out
