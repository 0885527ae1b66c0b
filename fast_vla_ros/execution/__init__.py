"""Action chunks to smooth, safe control-rate commands: time alignment, seam blending, safety, watchdog.

ROS-free (numpy only); ``chunk_executor_node`` wraps :class:`ChunkScheduler`. User page: docs/execution.md.
"""

from fast_vla_ros.execution.config import (
    ExecutionConfig,
    SafetyConfig,
    SchedulerConfig,
    Strategy,
    TrajectoryConfig,
    WatchdogConfig,
)
from fast_vla_ros.execution.outputs import (
    FollowJointTrajectoryGoal,
    ForwardPositionCommand,
    JointTolerance,
    JointTrajectory,
    TrajectoryPoint,
    forward_position_command,
)
from fast_vla_ros.execution.safety import Intervention, SafetyFilter
from fast_vla_ros.execution.scheduler import ChunkScheduler
from fast_vla_ros.execution.status import Command, HoldReason, RejectReason, Status, Verdict

__all__ = [
    "ChunkScheduler",
    "Command",
    "ExecutionConfig",
    "FollowJointTrajectoryGoal",
    "ForwardPositionCommand",
    "HoldReason",
    "Intervention",
    "JointTolerance",
    "JointTrajectory",
    "RejectReason",
    "SafetyConfig",
    "SafetyFilter",
    "SchedulerConfig",
    "Status",
    "Strategy",
    "TrajectoryConfig",
    "TrajectoryPoint",
    "Verdict",
    "WatchdogConfig",
    "forward_position_command",
]
