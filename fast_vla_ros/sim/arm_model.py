"""The simulated arm's MuJoCo model and the mapping between our joint names and MuJoCo's arrays.

Everything outside this module addresses joints by the names in ``config/sim_arm_limits.yaml``; only
here do names become qpos/qvel addresses and actuator indices. The limits file is checked against the
MJCF at load time so the safety filter, the expert and the physics can never disagree about a range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from fast_vla_ros.package_files import package_file
from fast_vla_ros.types import JointLimits

SCENE_XML = Path(__file__).resolve().parent / "assets" / "arm_scene.xml"
GRIPPER_JOINT = "gripper_joint"
# The second finger mirrors gripper_joint through its own actuator; it is not part of the action.
GRIPPER_MIRROR_JOINT = "gripper_mirror_joint"
GRIPPER_MIRROR_ACTUATOR = "gripper_mirror"
TCP_SITE = "tcp"
CAMERAS = ("scene", "wrist")
# Arm resting pose, tool pointing down above the table (lift + elbow + wrist_1 = pi), gripper open.
HOME_POSITIONS = np.array([0.0, 0.25, 1.65, 1.2416, 0.0, 0.0, 0.04])


@dataclass(frozen=True)
class ArmModel:
    """A compiled model plus the index arrays that take joint-name order to MuJoCo order."""

    model: mujoco.MjModel
    limits: JointLimits
    qpos_addr: np.ndarray  # per named joint, its qpos address
    dof_addr: np.ndarray  # per named joint, its qvel address
    actuator_ids: np.ndarray  # per named joint, the position actuator driving it
    mirror_qpos_addr: int
    mirror_actuator_id: int
    tcp_site_id: int

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.limits.joint_names

    @property
    def arm_joint_count(self) -> int:
        """Joints that move the tool centre point (all but the gripper)."""
        return len(self.joint_names) - 1


def default_limits() -> JointLimits:
    """The simulated arm's limits, from the checkout's or the installed config/sim_arm_limits.yaml."""
    return JointLimits.from_yaml(package_file("config/sim_arm_limits.yaml"))


def load_arm_model(limits: JointLimits | None = None, xml_path: str | Path = SCENE_XML) -> ArmModel:
    """Compile the scene and check that ``limits`` (default: the project's YAML) matches the MJCF."""
    if limits is None:
        limits = default_limits()
    model = mujoco.MjModel.from_xml_path(str(xml_path))
    if limits.joint_names[-1] != GRIPPER_JOINT:
        raise ValueError(f"the last joint in the limits must be '{GRIPPER_JOINT}', got {limits.joint_names}")
    qpos_addr, dof_addr, actuator_ids = [], [], []
    for i, name in enumerate(limits.joint_names):
        joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if joint_id < 0:
            raise ValueError(f"joint '{name}' from the limits is not in {xml_path}")
        lo, hi = model.jnt_range[joint_id]
        if not np.allclose([lo, hi], [limits.lower[i], limits.upper[i]]):
            raise ValueError(
                f"joint '{name}': limits say [{limits.lower[i]}, {limits.upper[i]}] but the MJCF says [{lo}, {hi}]"
            )
        actuators = np.flatnonzero(model.actuator_trnid[:, 0] == joint_id)
        if len(actuators) != 1:
            raise ValueError(f"joint '{name}' needs exactly one actuator in {xml_path}, found {len(actuators)}")
        qpos_addr.append(model.jnt_qposadr[joint_id])
        dof_addr.append(model.jnt_dofadr[joint_id])
        actuator_ids.append(int(actuators[0]))
    return ArmModel(
        model=model,
        limits=limits,
        qpos_addr=np.array(qpos_addr),
        dof_addr=np.array(dof_addr),
        actuator_ids=np.array(actuator_ids),
        mirror_qpos_addr=int(model.joint(GRIPPER_MIRROR_JOINT).qposadr[0]),
        mirror_actuator_id=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, GRIPPER_MIRROR_ACTUATOR),
        tcp_site_id=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, TCP_SITE),
    )
