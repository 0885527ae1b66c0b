"""Inverse kinematics of the tool centre point by damped least squares on MuJoCo's own Jacobians.

Damped least squares (Wampler 1986; Buss 2004) stays well-behaved near singularities, where a plain
pseudo-inverse would command huge joint steps. The expert solves once per 50 Hz sample, seeded with
the previous solution, so a few iterations suffice and consecutive solutions stay on one IK branch.
"""

from __future__ import annotations

import mujoco
import numpy as np

from fast_vla_ros.sim.arm_model import ArmModel


def tool_down_rotation(yaw: float) -> np.ndarray:
    """World rotation of a tool pointing straight down (tool z = -world z) with tool x at ``yaw``."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


class TcpInverseKinematics:
    """Solves arm joint positions that put the ``tcp`` site at a pose; the gripper joint is left alone."""

    def __init__(self, arm: ArmModel, damping: float = 0.02, tolerance: float = 1e-5, max_iterations: int = 100):
        self.arm = arm
        self.model = arm.model
        self.data = mujoco.MjData(arm.model)  # private, so solving never disturbs the simulation
        self.damping = damping
        self.tolerance = tolerance
        self.max_iterations = max_iterations
        n = arm.arm_joint_count
        self._qpos = arm.qpos_addr[:n]
        self._dofs = arm.dof_addr[:n]
        self._lower = arm.limits.lower[:n]
        self._upper = arm.limits.upper[:n]
        self._jacp = np.zeros((3, self.model.nv))
        self._jacr = np.zeros((3, self.model.nv))

    def forward(self, arm_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tool centre point position and rotation matrix for the arm joints."""
        self.data.qpos[self._qpos] = arm_positions
        mujoco.mj_kinematics(self.model, self.data)
        site = self.arm.tcp_site_id
        return self.data.site_xpos[site].copy(), self.data.site_xmat[site].reshape(3, 3).copy()

    def solve(self, seed: np.ndarray, position: np.ndarray, rotation: np.ndarray) -> tuple[np.ndarray, float]:
        """Arm joints reaching (``position``, ``rotation``) starting from ``seed``; returns them and the
        remaining error (position metres plus orientation radians), so callers decide what is good enough."""
        q = np.array(seed, dtype=np.float64)
        target_quat = np.empty(4)
        mujoco.mju_mat2Quat(target_quat, rotation.reshape(-1))
        current_quat = np.empty(4)
        error = np.empty(6)
        for _ in range(self.max_iterations):
            x, r = self.forward(q)
            error[:3] = position - x
            mujoco.mju_mat2Quat(current_quat, r.reshape(-1))
            mujoco.mju_subQuat(error[3:], target_quat, current_quat)  # in the current tool frame
            error[3:] = r @ error[3:]
            residual = float(np.linalg.norm(error))
            if residual < self.tolerance:
                break
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.arm.tcp_site_id)
            jacobian = np.vstack([self._jacp[:, self._dofs], self._jacr[:, self._dofs]])
            step = jacobian.T @ np.linalg.solve(jacobian @ jacobian.T + self.damping**2 * np.eye(6), error)
            q = np.clip(q + step, self._lower, self._upper)
        return q, residual
