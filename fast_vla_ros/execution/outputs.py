"""The three controller styles' messages as plain data; the ROS node copies fields one to one.

(1) ``JointTrajectory`` for a ros2_control JointTrajectoryController (``trajectory_msgs/JointTrajectory``),
(2) ``ForwardPositionCommand`` for a forward position controller (``std_msgs/Float64MultiArray``, one per
tick), (3) ``FollowJointTrajectoryGoal`` (``control_msgs/action/FollowJointTrajectory``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fast_vla_ros.execution.config import TrajectoryConfig
from fast_vla_ros.execution.safety import MotionState
from fast_vla_ros.execution.status import Command


@dataclass(frozen=True)
class TrajectoryPoint:
    time_from_start: float  # s, strictly increasing along a trajectory
    positions: np.ndarray  # rad
    velocities: np.ndarray  # rad/s


@dataclass(frozen=True)
class JointTrajectory:
    """``header.stamp = start_time``: an explicit start, so the controller does not shift the trajectory
    to the time the message happens to arrive."""

    joint_names: tuple[str, ...]
    start_time: float  # s
    points: tuple[TrajectoryPoint, ...]


@dataclass(frozen=True)
class ForwardPositionCommand:
    """``data`` is ordered as ``joint_names``, which must match the forward controller's ``joints`` list."""

    joint_names: tuple[str, ...]
    data: tuple[float, ...]


@dataclass(frozen=True)
class JointTolerance:
    """As ``control_msgs/JointTolerance``: 0 means the controller's default, -1 means not checked."""

    name: str
    position: float
    velocity: float
    acceleration: float


@dataclass(frozen=True)
class FollowJointTrajectoryGoal:
    trajectory: JointTrajectory
    path_tolerance: tuple[JointTolerance, ...]
    goal_tolerance: tuple[JointTolerance, ...]
    goal_time_tolerance: float  # s


def forward_position_command(command: Command) -> ForwardPositionCommand | None:
    """``None`` when nothing may be commanded (disarmed)."""
    if command.positions is None:
        return None
    return ForwardPositionCommand(command.joint_names, tuple(float(x) for x in command.positions))


def joint_trajectory(
    joint_names: tuple[str, ...], start_time: float, period: float, states: Sequence[MotionState]
) -> JointTrajectory:
    """Points one control period apart from ``start_time + period``, each the command a tick would send.

    A state's velocity is that of the step arriving at it; a point's velocity is the mean of the steps
    before and after it (the central difference), which a JointTrajectoryController's cubic interpolation
    follows without lag. The last point keeps its own step velocity: zero when the preview ends at rest.
    """
    points = []
    for k, state in enumerate(states):
        following = states[k + 1].velocity if k + 1 < len(states) else state.velocity
        points.append(TrajectoryPoint((k + 1) * period, state.position.copy(), 0.5 * (state.velocity + following)))
    return JointTrajectory(tuple(joint_names), float(start_time), tuple(points))


def follow_joint_trajectory_goal(trajectory: JointTrajectory, config: TrajectoryConfig) -> FollowJointTrajectoryGoal:
    path = tuple(JointTolerance(name, config.path_position_tolerance, -1.0, -1.0) for name in trajectory.joint_names)
    goal = tuple(
        JointTolerance(name, config.goal_position_tolerance, config.goal_velocity_tolerance, -1.0)
        for name in trajectory.joint_names
    )
    return FollowJointTrajectoryGoal(trajectory, path, goal, config.goal_time_tolerance)
