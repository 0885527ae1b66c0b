"""The robot adapter of a pretrained checkpoint: which joint fills which state dimension, what each action
dimension means on this arm, at which rate, and which ROS camera topic feeds which camera feature.

A published checkpoint knows vectors (``observation.state`` [S], ``action`` [A]) and camera feature
names, never the arm's joint names; one small YAML file per arm says how they line up::

    state: [shoulder_pan, shoulder_lift, elbow, wrist_1, wrist_2, wrist_3, gripper]   # S entries, in order
    actions: [shoulder_pan, shoulder_lift, elbow, wrist_1, wrist_2, wrist_3, gripper] # A entries; null = unused
    convention: delta          # absolute | delta (from the state at the chunk's start) | velocity (rad/s)
    absolute_joints: [gripper] # stay absolute under delta and velocity (a gripper's open/closed is a position)
    control_rate_hz: 15        # the rate the checkpoint was trained at: one action row per 1/15 s
    cameras:                   # checkpoint camera feature -> ROS image topic
      observation.images.base_0_rgb: camera/scene/image_raw
      observation.images.left_wrist_0_rgb: camera/wrist/image_raw
    pad_prompt_state_to: 32    # optional: LeRobot 0.4.x pi0_fast checkpoints wrote the state padded to 32

End-effector actions cannot be turned into joint targets without the arm's kinematics, so
``convention: end_effector`` is refused with that reason. numpy + yaml only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

CONVENTIONS = ("absolute", "delta", "velocity")
REFUSED_CONVENTIONS = {
    "end_effector": "end-effector actions need the arm's inverse kinematics, which this adapter does not have; "
    "use a checkpoint trained on joint actions",
}
KNOWN_KEYS = {"state", "actions", "convention", "absolute_joints", "control_rate_hz", "cameras", "pad_prompt_state_to"}


class EmbodimentError(ValueError):
    """The embodiment file is missing, malformed, or does not fit the checkpoint."""


@dataclass(frozen=True)
class Embodiment:
    state_joints: tuple[str, ...]
    action_joints: tuple[str | None, ...]
    convention: str
    control_rate_hz: float
    cameras: dict[str, str]  # checkpoint camera feature -> ROS topic
    absolute_joints: tuple[str, ...] = ()
    pad_prompt_state_to: int | None = None
    source: str = "embodiment"

    def __post_init__(self) -> None:
        where = self.source
        if self.convention in REFUSED_CONVENTIONS:
            raise EmbodimentError(
                f"{where}: convention {self.convention!r} refused: {REFUSED_CONVENTIONS[self.convention]}"
            )
        if self.convention not in CONVENTIONS:
            raise EmbodimentError(f"{where}: convention must be one of {CONVENTIONS}, got {self.convention!r}")
        if not self.state_joints or len(set(self.state_joints)) != len(self.state_joints):
            raise EmbodimentError(f"{where}: state must list unique joint names, got {list(self.state_joints)}")
        used = [j for j in self.action_joints if j is not None]
        if not used or len(set(used)) != len(used):
            raise EmbodimentError(
                f"{where}: actions must name at least one joint, each once; got {list(self.action_joints)}"
            )
        unknown = [j for j in self.absolute_joints if j not in used]
        if unknown:
            raise EmbodimentError(f"{where}: absolute_joints {unknown} are not among the actions")
        if not self.control_rate_hz > 0:
            raise EmbodimentError(f"{where}: control_rate_hz must be positive, got {self.control_rate_hz}")
        if not self.cameras:
            raise EmbodimentError(f"{where}: cameras must map at least one checkpoint camera feature to a topic")
        if self.pad_prompt_state_to is not None and self.pad_prompt_state_to < len(self.state_joints):
            raise EmbodimentError(f"{where}: pad_prompt_state_to {self.pad_prompt_state_to} is below the state size")

    @classmethod
    def load(cls, path: str | Path) -> Embodiment:
        path = Path(path)
        if not path.is_file():
            raise EmbodimentError(f"embodiment file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise EmbodimentError(f"{path}: not valid YAML ({error})") from error
        if not isinstance(data, dict):
            raise EmbodimentError(f"{path}: expected a mapping with keys {sorted(KNOWN_KEYS)}")
        unknown = sorted(set(data) - KNOWN_KEYS)
        missing = sorted({"state", "actions", "convention", "control_rate_hz", "cameras"} - set(data))
        if unknown or missing:
            raise EmbodimentError(f"{path}: unknown keys {unknown}, missing keys {missing}")
        cameras = data["cameras"]
        if not isinstance(cameras, dict):
            raise EmbodimentError(f"{path}: cameras must map checkpoint camera features to ROS topics")
        return cls(
            state_joints=tuple(str(j) for j in data["state"]),
            action_joints=tuple(None if j is None else str(j) for j in data["actions"]),
            convention=str(data["convention"]),
            control_rate_hz=float(data["control_rate_hz"]),
            cameras={str(k): str(v) for k, v in cameras.items()},
            absolute_joints=tuple(str(j) for j in data.get("absolute_joints") or ()),
            pad_prompt_state_to=data.get("pad_prompt_state_to"),
            source=str(path),
        )

    @property
    def dt(self) -> float:
        return 1.0 / self.control_rate_hz

    @property
    def commanded_joints(self) -> tuple[str, ...]:
        """The joints the published chunks drive, in action order."""
        return tuple(j for j in self.action_joints if j is not None)

    @property
    def observed_joints(self) -> tuple[str, ...]:
        """Every joint whose position the policy reads: the state's, then the commanded ones not in it."""
        return self.state_joints + tuple(j for j in self.commanded_joints if j not in self.state_joints)

    def check_fits(self, state_dim: int, action_dim: int, camera_features: tuple[str, ...]) -> None:
        where = self.source
        if len(self.state_joints) != state_dim:
            raise EmbodimentError(
                f"{where}: state lists {len(self.state_joints)} joints, the checkpoint's state has {state_dim}"
            )
        if len(self.action_joints) != action_dim:
            raise EmbodimentError(
                f"{where}: actions list {len(self.action_joints)} entries, the checkpoint's action has {action_dim} "
                "(write null for a dimension this arm does not use)"
            )
        unknown = sorted(set(self.cameras) - set(camera_features))
        if unknown:
            raise EmbodimentError(
                f"{where}: cameras {unknown} are not camera features of the checkpoint {list(camera_features)}"
            )

    def joint_targets(self, actions: np.ndarray, positions: dict[str, float]) -> np.ndarray:
        """Unnormalized checkpoint actions [H, A] -> absolute targets [H, J] of ``commanded_joints``.

        Deltas are offsets from the position at the chunk's start (pi0's convention); velocities are
        integrated from it, one ``dt`` per row, the first row already one step ahead.
        """
        columns = [i for i, j in enumerate(self.action_joints) if j is not None]
        values = np.asarray(actions, dtype=np.float64)[:, columns]
        if self.convention == "absolute":
            return values
        relative = np.array([j not in self.absolute_joints for j in self.commanded_joints])
        start = np.array([positions[j] for j in self.commanded_joints])
        offsets = values if self.convention == "delta" else np.cumsum(values * self.dt, axis=0)
        return np.where(relative, start + offsets, values)
