"""Core types shared by every layer: what flows from an observation to the arm.

Plain dataclasses over numpy arrays so that training, offline evaluation and the ROS nodes speak the
same language without importing rclpy. Units follow ROS (REP-103): radians, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


@dataclass(frozen=True)
class Observation:
    """What the policy sees at one instant.

    ``stamp`` is the time the observation was taken (seconds, the clock of the robot); action chunks
    computed from it are anchored to this time, not to the time inference finished, so the executor
    can skip the steps that passed during inference.
    """

    images: dict[str, np.ndarray]  # camera name -> HxWx3 uint8 RGB
    state: np.ndarray  # joint positions [D], ordered as ``joint_names``
    joint_names: tuple[str, ...]
    instruction: str
    stamp: float


@dataclass(frozen=True)
class ActionChunk:
    """A timed sequence of absolute joint targets: row ``k`` is the target for ``t0 + k * dt``."""

    actions: np.ndarray  # [H, D]
    t0: float
    dt: float
    joint_names: tuple[str, ...]

    def __post_init__(self) -> None:
        actions = np.asarray(self.actions, dtype=np.float64)
        if actions.ndim != 2:
            raise ValueError(f"ActionChunk.actions must be [H, D], got shape {actions.shape}")
        if actions.shape[1] != len(self.joint_names):
            raise ValueError(
                f"ActionChunk has {actions.shape[1]} action dimensions but {len(self.joint_names)} joint names"
            )
        if not self.dt > 0:
            raise ValueError(f"ActionChunk.dt must be positive, got {self.dt}")
        object.__setattr__(self, "actions", actions)
        object.__setattr__(self, "joint_names", tuple(self.joint_names))

    @property
    def horizon(self) -> int:
        return int(self.actions.shape[0])

    @property
    def times(self) -> np.ndarray:
        return self.t0 + self.dt * np.arange(self.horizon)

    @property
    def t_end(self) -> float:
        """Time of the last target in the chunk."""
        return self.t0 + self.dt * (self.horizon - 1)


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits, always addressed by joint name (never by position in some array)."""

    joint_names: tuple[str, ...]
    lower: np.ndarray  # rad
    upper: np.ndarray  # rad
    max_velocity: np.ndarray  # rad/s
    max_acceleration: np.ndarray  # rad/s^2

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        for name in ("lower", "upper", "max_velocity", "max_acceleration"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (n,):
                raise ValueError(f"JointLimits.{name} must have one value per joint ({n}), got {value.shape}")
            object.__setattr__(self, name, value)
        if np.any(self.lower >= self.upper):
            bad = [j for j, lo, hi in zip(self.joint_names, self.lower, self.upper, strict=True) if lo >= hi]
            raise ValueError(f"JointLimits: lower must be below upper for joints {bad}")
        if np.any(self.max_velocity <= 0) or np.any(self.max_acceleration <= 0):
            raise ValueError("JointLimits: max_velocity and max_acceleration must be positive")
        object.__setattr__(self, "joint_names", tuple(self.joint_names))

    @classmethod
    def from_yaml(cls, path: str | Path) -> JointLimits:
        """Read the ``joints:`` mapping of a limits file (see ``config/sim_arm_limits.yaml``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"joint limits file not found: {path}")
        document = yaml.safe_load(path.read_text()) or {}
        return cls.from_mapping(document.get("joints", {}), source=str(path))

    @classmethod
    def from_mapping(cls, joints: dict, source: str = "mapping") -> JointLimits:
        if not joints:
            raise ValueError(f"{source}: no joints defined under 'joints:'")
        keys = ("lower", "upper", "max_velocity", "max_acceleration")
        columns: dict[str, list[float]] = {k: [] for k in keys}
        for joint, spec in joints.items():
            missing = [k for k in keys if k not in (spec or {})]
            if missing:
                raise ValueError(f"{source}: joint '{joint}' is missing {missing}")
            for k in keys:
                columns[k].append(float(spec[k]))
        return cls(joint_names=tuple(joints), **{k: np.array(v) for k, v in columns.items()})

    def index_of(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Indices of ``names`` in these limits; raises with the unknown names listed."""
        lookup = {n: i for i, n in enumerate(self.joint_names)}
        unknown = [n for n in names if n not in lookup]
        if unknown:
            raise KeyError(f"unknown joint names {unknown}; configured joints are {list(self.joint_names)}")
        return np.array([lookup[n] for n in names], dtype=np.int64)
