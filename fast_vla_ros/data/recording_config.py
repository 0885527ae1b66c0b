"""What makes an episode out of ROS topics: the recorder_node's parameter table, and the topic mapping
``fast-vla import-bag --config`` reads from the very same YAML file (the ``recorder_node`` section).

Every value is checked here with a message naming the parameter, so a typo in the YAML fails at start-up
rather than producing a data set with the wrong joints or no camera.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fast_vla_ros.data.frame_codec import EXTENSIONS

COMMAND_TYPES = ("forward_position", "joint_trajectory")
BAG_SPLITS = ("topic", "gap")
NODE_SECTION = "recorder_node"


@dataclass(frozen=True)
class RecordingConfig:
    # The arm's joints: the order of the state and action vectors in the data set.
    joint_names: tuple[str, ...]
    output_dir: str = "out/recordings"  # data set directory: created, or continued when it holds one
    robot_type: str = "arm"  # info.json robot_type
    fps: int = 50  # rows per second: joint states and commands are resampled to this rate
    joint_states_topic: str = "/joint_states"
    # forward_position: std_msgs/Float64MultiArray in command_joint_names order (ros2_control's forward
    # position controller); joint_trajectory: trajectory_msgs/JointTrajectory (JointTrajectoryController).
    command_type: str = "forward_position"
    command_topic: str = "/forward_position_controller/commands"
    command_joint_names: tuple[str, ...] = ()  # forward_position: the controller's joint order (empty: joint_names)
    instruction_topic: str = "/instruction"  # std_msgs/String: the task of the next episode
    camera_names: tuple[str, ...] = ("scene", "wrist")
    # sensor_msgs/Image, or CompressedImage when the topic ends in /compressed
    camera_topics: tuple[str, ...] = ("/camera/scene/image_raw", "/camera/wrist/image_raw")
    image_size: tuple[int, int] = (224, 224)  # height, width every frame must have
    image_format: str = "jpeg"  # jpeg | png, as stored in the data set
    camera_rate: float = 30.0  # Hz the cameras publish at: a longer gap between frames counts as dropped frames
    max_frame_delay: float = 0.1  # s a frame may arrive after its stamp before it counts as late
    joint_state_timeout: float = 0.5  # s without a joint state that ends an episode with an error
    # Stamps of joint states and frames: "header" (the sensor's clock) or "arrival" (this host's clock, for
    # drivers that leave header.stamp at zero or whose clock is not synchronised with this host).
    stamp_source: str = "header"
    # import-bag only: an episode starts at each message on bag_split_topic ("topic"; empty: instruction_topic),
    # or wherever commands pause for more than bag_split_gap seconds ("gap").
    bag_split: str = "topic"
    bag_split_topic: str = ""
    bag_split_gap: float = 1.0

    def __post_init__(self) -> None:
        for name in ("joint_names", "command_joint_names", "camera_names", "camera_topics", "image_size"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if not self.joint_names or any(not isinstance(j, str) or not j for j in self.joint_names):
            problems.append("joint_names must list the arm's joints (the order of state and action)")
        if len(set(self.joint_names)) != len(self.joint_names):
            problems.append(f"joint_names has duplicates: {list(self.joint_names)}")
        if self.command_joint_names and sorted(self.command_joint_names) != sorted(self.joint_names):
            problems.append("command_joint_names must hold the same joints as joint_names, in the controller's order")
        if self.command_type not in COMMAND_TYPES:
            problems.append(f"command_type must be one of {list(COMMAND_TYPES)}, got {self.command_type!r}")
        if len(self.camera_topics) != len(self.camera_names) or not self.camera_names:
            problems.append(
                f"camera_topics ({len(self.camera_topics)}) and camera_names ({len(self.camera_names)}) must pair up"
            )
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            problems.append(f"image_size must be [height, width], got {list(self.image_size)}")
        if self.image_format not in EXTENSIONS:
            problems.append(f"image_format must be one of {sorted(EXTENSIONS)}, got {self.image_format!r}")
        if self.stamp_source not in ("header", "arrival"):
            problems.append(f"stamp_source must be 'header' or 'arrival', got {self.stamp_source!r}")
        if self.bag_split not in BAG_SPLITS:
            problems.append(f"bag_split must be one of {list(BAG_SPLITS)}, got {self.bag_split!r}")
        if self.fps < 1:
            problems.append(f"fps must be >= 1, got {self.fps}")
        for name in ("camera_rate", "max_frame_delay", "joint_state_timeout", "bag_split_gap"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{name} must be > 0, got {value}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def command_order(self) -> tuple[str, ...]:
        """The joint order of forward position commands."""
        return self.command_joint_names or self.joint_names

    @property
    def split_topic(self) -> str:
        return self.bag_split_topic or self.instruction_topic

    @classmethod
    def from_mapping(cls, values: dict[str, Any], where: str = NODE_SECTION) -> RecordingConfig:
        """Build from parameter values as YAML or rclpy gives them, checking each one's type."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"{where}: unknown parameters {unknown}; known are {sorted(fields)}")
        if "joint_names" not in values:
            raise ValueError(f"{where}: parameter joint_names is required (the arm's joints)")
        converted = {}
        for name, value in values.items():
            default = fields[name].default
            try:
                converted[name] = _convert(value, default)
            except (TypeError, ValueError):
                raise ValueError(f"{where}.{name}: expected a value like {default!r}, got {value!r}") from None
        try:
            return cls(**converted)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None

    def parameters(self) -> dict[str, Any]:
        """The values as ROS parameters (lists for tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _convert(value: Any, default: Any) -> Any:
    if default is dataclasses.MISSING or isinstance(default, tuple):
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise TypeError
        items = list(value)
        if isinstance(default, tuple) and default and isinstance(default[0], int):
            return tuple(int(v) for v in items)
        return tuple(str(v) for v in items if str(v))  # a ROS string array cannot be empty: [""] means none
    if isinstance(value, bool) or isinstance(default, bool):
        raise TypeError
    if isinstance(default, int):
        if float(value) != int(value):
            raise TypeError
        return int(value)
    if isinstance(default, float):
        return float(value)
    if not isinstance(value, str):
        raise TypeError
    return value


def load_recording_config(path: str | Path) -> RecordingConfig:
    """The ``recorder_node`` parameters of a ROS parameters file (``recorder_node: ros__parameters: ...``),
    or a plain mapping of the same parameters."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read the topic mapping {path}: {error}") from error
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping of recorder_node parameters")
    section = document.get(NODE_SECTION, document)
    if isinstance(section, dict) and "ros__parameters" in section:
        section = section["ros__parameters"]
    if not isinstance(section, dict):
        raise ValueError(f"{path}: '{NODE_SECTION}' must hold ros__parameters")
    return RecordingConfig.from_mapping(section, where=f"{path}:{NODE_SECTION}")
