"""Joint states and controller commands to arrays in the arm's joint order, without importing ROS.

The recorder node gets these messages from rclpy and the rosbag2 import from the ``rosbags`` library;
both carry the same fields, so one set of checks serves both. Joint order is resolved by name, never by
position; anything that cannot be used raises ``InvalidInput`` naming the problem.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fast_vla_ros.data.episode_streams import TrajectoryCommand
from fast_vla_ros.data.image_messages import InvalidInput
from fast_vla_ros.execution.joint_order import JointNameError, JointOrder


def stamp_seconds(stamp: Any) -> float:
    """A ``builtin_interfaces/Time`` in seconds (0.0 for an unset stamp)."""
    return stamp.sec + stamp.nanosec * 1e-9


def joint_state_arrays(msg: Any, joint_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions of ``joint_names`` in that order, looked up by name in a ``sensor_msgs/JointState``, and
    their velocities (None when the message carries none, or not for every joint).

    Extra joints in the message (another arm, a mobile base) are ignored; missing, duplicated or non-finite
    ones are an error, because guessing a joint's position is how arms hit tables.
    """
    names = list(msg.name)
    if len(msg.position) != len(names):
        raise InvalidInput(f"JointState has {len(names)} names but {len(msg.position)} positions")
    try:
        rows = JointOrder(joint_names).select(names)
    except JointNameError as error:
        raise InvalidInput(f"JointState {error}") from error
    positions = np.asarray(msg.position, dtype=np.float64)[rows]
    bad = [name for name, value in zip(joint_names, positions, strict=True) if not np.isfinite(value)]
    if bad:
        raise InvalidInput(f"JointState has non-finite positions for joints {bad}")
    velocities = None
    if len(msg.velocity) == len(names):
        velocities = np.asarray(msg.velocity, dtype=np.float64)[rows]
        if not np.all(np.isfinite(velocities)):
            velocities = None
    return positions, velocities


def forward_command(msg: Any, command_order: tuple[str, ...], joint_names: tuple[str, ...]) -> np.ndarray:
    """A ``std_msgs/Float64MultiArray`` for a forward position controller (values in ``command_order``) as
    positions in ``joint_names`` order."""
    values = np.asarray(msg.data, dtype=np.float64)
    if values.shape != (len(command_order),):
        raise InvalidInput(f"forward command has {values.size} values, the controller has {len(command_order)} joints")
    if not np.all(np.isfinite(values)):
        raise InvalidInput("forward command has NaN or Inf values")
    return values[JointOrder(joint_names).permutation(list(command_order))]


def trajectory_command(msg: Any, arrival: float, joint_names: tuple[str, ...]) -> TrajectoryCommand:
    """A ``trajectory_msgs/JointTrajectory`` as the controller takes it: starting at its header stamp (at
    ``arrival`` when the stamp is zero, as ros2_control does), refused as the controller refuses it."""
    names = tuple(msg.joint_names)
    unknown = [name for name in names if name not in joint_names]
    if not names or unknown or len(set(names)) != len(names):
        raise InvalidInput(f"joint trajectory names {list(names)[:10]}: unknown or duplicated joints {unknown[:10]}")
    points = list(msg.points)
    times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in points], dtype=np.float64)
    if any(len(p.positions) != len(names) for p in points):
        raise InvalidInput(f"joint trajectory points must each hold {len(names)} positions")
    positions = np.array([list(p.positions) for p in points], dtype=np.float64).reshape(len(points), len(names))
    if np.any(np.diff(times) <= 0) or not (np.all(np.isfinite(times)) and np.all(np.isfinite(positions))):
        raise InvalidInput("joint trajectory times must increase strictly and every value must be finite")
    velocities = None
    if points and all(len(p.velocities) == len(names) for p in points):
        velocities = np.array([list(p.velocities) for p in points], dtype=np.float64)
    start = stamp_seconds(msg.header.stamp) or arrival
    return TrajectoryCommand(names, start, times, positions, velocities)
