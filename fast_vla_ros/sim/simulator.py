"""``ArmSimulator``: the narrow interface the ROS ``sim_node``, the expert and the recorder drive.

It behaves like a position-controlled arm: joint targets go in (zero-order hold until the next
command, as a ros2_control forward position controller does), simulated time advances by any amount,
and joint states, camera frames and the task's success come out. Joint arrays are always in
``joint_names`` order (the order of ``config/sim_arm_limits.yaml``: six arm joints, then the gripper).
"""

from __future__ import annotations

from collections.abc import Mapping

import mujoco
import numpy as np

from fast_vla_ros.sim import scene, tasks
from fast_vla_ros.sim.arm_model import CAMERAS, HOME_POSITIONS, ArmModel, load_arm_model
from fast_vla_ros.types import JointLimits

START_POSE_NOISE = 0.04  # rad; varies where each episode starts so demonstrations are not all alike


class ArmSimulator:
    """A MuJoCo arm on a table with three objects, one task episode at a time."""

    def __init__(self, limits: JointLimits | None = None, image_size: tuple[int, int] = (224, 224)) -> None:
        self.arm: ArmModel = load_arm_model(limits)
        self.model = self.arm.model
        self.data = mujoco.MjData(self.model)
        self.image_size = (int(image_size[0]), int(image_size[1]))  # height, width
        self._renderer: mujoco.Renderer | None = None
        self._render_option = mujoco.MjvOption()
        self._render_option.geomgroup[scene.HIDDEN_GEOM_GROUP] = 0
        self._object_bodies = scene.object_body_ids(self.model)
        self._gripper_geoms = tasks.gripper_geom_ids(self.model)
        self._targets = HOME_POSITIONS.copy()
        self._pending_time = 0.0
        self._family: tasks.TaskFamily | None = None
        self.episode: tasks.TaskEpisode | None = None
        self._progress: tasks.EpisodeProgress | None = None

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.arm.joint_names

    @property
    def camera_names(self) -> tuple[str, ...]:
        return CAMERAS

    @property
    def physics_dt(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def time(self) -> float:
        """Simulated seconds since the last reset."""
        return float(self.data.time)

    @property
    def instruction(self) -> str:
        return self._require_episode().instruction

    def reset(self, task: str, seed: int) -> str:
        """Start an episode of ``task`` laid out by ``seed``; returns its instruction.

        Raises ``KeyError`` for an unknown task (the message lists the known ones).
        """
        family = tasks.task_family(task)
        rng = np.random.default_rng(seed)
        episode = family.sample(rng)
        mujoco.mj_resetData(self.model, self.data)
        scene.apply_layout(self.model, self.data, episode.layout)
        start = HOME_POSITIONS.copy()
        start[: self.arm.arm_joint_count] += rng.uniform(-START_POSE_NOISE, START_POSE_NOISE, self.arm.arm_joint_count)
        self.data.qpos[self.arm.qpos_addr] = start
        self.data.qpos[self.arm.mirror_qpos_addr] = start[-1]
        self._pending_time = 0.0
        self.set_joint_targets(start)
        mujoco.mj_forward(self.model, self.data)
        self._family, self.episode = family, episode
        self._progress = tasks.EpisodeProgress(target_start=self.object_position(0))
        return episode.instruction

    def set_joint_targets(self, targets: Mapping[str, float] | np.ndarray) -> None:
        """Command position targets: a full array in ``joint_names`` order, or a name -> position mapping
        (joints not named keep their previous target). Targets outside the limits are clipped, as the
        arm's own controller would; NaN or Inf raises ``ValueError`` and changes nothing."""
        new = self._targets.copy()
        if isinstance(targets, Mapping):
            new[self.arm.limits.index_of(list(targets))] = np.array(list(targets.values()), dtype=np.float64)
        else:
            values = np.asarray(targets, dtype=np.float64)
            if values.shape != new.shape:
                raise ValueError(
                    f"expected {new.shape[0]} joint targets in order {self.joint_names}, got {values.shape}"
                )
            new = values.copy()
        if not np.all(np.isfinite(new)):
            raise ValueError(f"joint targets must be finite, got {new}")
        self._targets = np.clip(new, self.arm.limits.lower, self.arm.limits.upper)
        self.data.ctrl[self.arm.actuator_ids] = self._targets
        self.data.ctrl[self.arm.mirror_actuator_id] = self._targets[-1]

    def advance(self, seconds: float) -> None:
        """Simulate ``seconds`` more; fractions of a physics step carry over to the next call, so
        commanding at 30 or 50 Hz keeps simulated time exact."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds} s)")
        self._pending_time += seconds
        steps = int(self._pending_time / self.physics_dt + 1e-9)
        self._pending_time -= steps * self.physics_dt
        for _ in range(steps):
            mujoco.mj_step(self.model, self.data)
            self._observe_progress()

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self.arm.qpos_addr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self.arm.dof_addr].copy()

    def joint_targets(self) -> np.ndarray:
        return self._targets.copy()

    def object_position(self, slot: int) -> np.ndarray:
        """World position of an object slot's centre (slot 0 is the episode's target)."""
        return self.data.xpos[self._object_bodies[slot]].copy()

    def success(self) -> bool:
        """Whether the current episode's task is achieved, judged from physics state only."""
        episode = self._require_episode()
        return self._family.success(episode, self.object_position(0), self._progress)

    def render(self, camera: str) -> np.ndarray:
        """The current view of ``camera`` (one of ``camera_names``) as an HxWx3 uint8 RGB array."""
        if camera not in CAMERAS:
            raise KeyError(f"unknown camera '{camera}'; cameras are {list(CAMERAS)}")
        if self._renderer is None:
            self._renderer = self._make_renderer()
        self._renderer.update_scene(self.data, camera, self._render_option)
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> ArmSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_renderer(self) -> mujoco.Renderer:
        height, width = self.image_size
        self.model.vis.global_.offwidth = max(self.model.vis.global_.offwidth, width)
        self.model.vis.global_.offheight = max(self.model.vis.global_.offheight, height)
        renderer = mujoco.Renderer(self.model, height, width)
        # Shadows, reflections and the skybox cost 5-7x the frame time and teach a policy nothing.
        for flag in (
            mujoco.mjtRndFlag.mjRND_SHADOW,
            mujoco.mjtRndFlag.mjRND_REFLECTION,
            mujoco.mjtRndFlag.mjRND_SKYBOX,
        ):
            renderer.scene.flags[flag] = 0
        return renderer

    def _observe_progress(self) -> None:
        if self._family is not None and self._family.tracks_contact and not self._progress.touched:
            self._progress.touched = tasks.gripper_touches(
                self.model, self.data, self._gripper_geoms, self._object_bodies[0]
            )

    def _require_episode(self) -> tasks.TaskEpisode:
        if self.episode is None:
            raise RuntimeError("no episode: call reset(task, seed) first")
        return self.episode
