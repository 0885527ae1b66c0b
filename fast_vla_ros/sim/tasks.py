"""Task families: seeded episodes with a language instruction, and success judged from physics state.

Success never looks at the commands, only at object poses and contacts, so a policy is judged by what
happened on the table. Several phrasings per family and colour-only disambiguation (colours are
distinct in every layout) force a policy to read the instruction rather than memorise a motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from fast_vla_ros.sim import scene

SHAPE_NOUNS = {"cube": ("cube", "block"), "cylinder": ("cylinder", "can")}
GRIPPER_GEOMS = ("left_finger_pad", "right_finger_pad", "palm")
PUSH_DISTANCE = 0.10  # m along y the target must end up from where it started
PUSH_AWAY_MARGIN = 0.03  # m kept between a push-away target's start or end and the workspace's x bounds
LIFT_HEIGHT = 0.06  # m the target's centre must rise above its resting height


@dataclass(frozen=True)
class TaskEpisode:
    """Everything that defines one episode besides the arm's start pose."""

    family: str
    instruction: str
    layout: tuple[scene.PlacedObject, ...]  # slot 0 is the target
    direction: int = 0  # push only: +1 to the arm's left (+y, REP-103), -1 to its right

    @property
    def target(self) -> scene.PlacedObject:
        return self.layout[0]


@dataclass
class EpisodeProgress:
    """Physics facts gathered while the episode runs (what a single final state cannot show)."""

    target_start: np.ndarray
    touched: bool = False


class TaskFamily:
    """One kind of task. Subclasses set the phrasings, the layout constraints and the success rule."""

    name: str = ""
    phrasings: tuple[str, ...] = ()
    tracks_contact = False

    def sample(self, rng: np.random.Generator) -> TaskEpisode:
        layout = scene.sample_layout(rng)
        return TaskEpisode(self.name, self._phrase(rng, layout[0]), layout)

    def _phrase(self, rng: np.random.Generator, target: scene.PlacedObject, **words: str) -> str:
        template = self.phrasings[rng.integers(len(self.phrasings))]
        noun = SHAPE_NOUNS[target.shape][rng.integers(2)]
        return template.format(colour=target.colour, object=noun, **words)

    def success(self, episode: TaskEpisode, target_position: np.ndarray, progress: EpisodeProgress) -> bool:
        raise NotImplementedError


class TouchFamily(TaskFamily):
    """Touching is an event: it counts once any gripper geom has contacted the target."""

    name = "touch"
    phrasings = (
        "touch the {colour} {object}",
        "tap the {colour} {object}",
        "put your fingers on the {colour} {object}",
        "reach out and touch the {colour} {object}",
    )
    tracks_contact = True

    def success(self, episode: TaskEpisode, target_position: np.ndarray, progress: EpisodeProgress) -> bool:
        return progress.touched


class PushFamily(TaskFamily):
    """The target must now lie ``PUSH_DISTANCE`` or more to the named side of where it started, on the table."""

    name = "push"
    phrasings = (
        "push the {colour} {object} to the {side}",
        "slide the {colour} {object} to the {side}",
        "shove the {colour} {object} {side}ward",
        "move the {colour} {object} to the {side} by pushing it",
    )

    def sample(self, rng: np.random.Generator) -> TaskEpisode:
        direction = 1 if rng.random() < 0.5 else -1
        # Start on the far side so the pushed object stays within reach, and keep the push lane empty.
        y_region = (scene.WORKSPACE_Y[0], 0.05) if direction > 0 else (-0.05, scene.WORKSPACE_Y[1])
        layout = scene.sample_layout(
            rng, (scene.WORKSPACE_X, y_region), clearance=lambda target, other: abs(other.x - target.x) > 0.1
        )
        side = "left" if direction > 0 else "right"
        return TaskEpisode(self.name, self._phrase(rng, layout[0], side=side), layout, direction)

    def success(self, episode: TaskEpisode, target_position: np.ndarray, progress: EpisodeProgress) -> bool:
        moved = (target_position[1] - progress.target_start[1]) * episode.direction
        return bool(moved >= PUSH_DISTANCE and target_position[2] > 0.0)


class PushAwayFamily(TaskFamily):
    """The target must now lie ``PUSH_DISTANCE`` or more further from the arm's base (+x) than it started.

    Not among the families the shipped default was trained on (``SHIPPED_FAMILIES``): the task variant
    ``benchmarks/flywheel.py`` records over ROS and fine-tunes on, a motion the default never made.
    """

    name = "push_away"
    phrasings = (
        "push the {colour} {object} away",
        "push the {colour} {object} forward",
        "slide the {colour} {object} away from you",
        "shove the {colour} {object} forward",
    )

    def sample(self, rng: np.random.Generator) -> TaskEpisode:
        # Start near the base so the pushed object stays within reach; keep the push lane empty.
        x_region = (scene.WORKSPACE_X[0] + PUSH_AWAY_MARGIN, scene.WORKSPACE_X[1] - PUSH_DISTANCE - PUSH_AWAY_MARGIN)
        layout = scene.sample_layout(
            rng,
            (x_region, (-0.15, 0.15)),
            clearance=lambda target, other: abs(other.y - target.y) > 0.1 or other.x < target.x - 0.1,
        )
        return TaskEpisode(self.name, self._phrase(rng, layout[0]), layout, direction=1)

    def success(self, episode: TaskEpisode, target_position: np.ndarray, progress: EpisodeProgress) -> bool:
        moved = target_position[0] - progress.target_start[0]
        return bool(moved >= PUSH_DISTANCE and target_position[2] > 0.0)


class PickFamily(TaskFamily):
    """The target must be held ``LIFT_HEIGHT`` above its resting height now (dropping it undoes success)."""

    name = "pick"
    phrasings = (
        "pick up the {colour} {object}",
        "lift the {colour} {object}",
        "grab the {colour} {object} and lift it",
        "raise the {colour} {object} off the table",
    )

    def success(self, episode: TaskEpisode, target_position: np.ndarray, progress: EpisodeProgress) -> bool:
        return bool(target_position[2] >= scene.OBJECT_HALF_HEIGHT + LIFT_HEIGHT)


TASK_FAMILIES: dict[str, TaskFamily] = {
    family.name: family for family in (TouchFamily(), PushFamily(), PickFamily(), PushAwayFamily())
}
# The families models/default was trained on, and the default of every command that draws "all tasks".
SHIPPED_FAMILIES = ("pick", "push", "touch")


def task_family(name: str) -> TaskFamily:
    """The family called ``name``; raises ``KeyError`` naming the known families."""
    if name not in TASK_FAMILIES:
        raise KeyError(f"unknown task '{name}'; known tasks are {sorted(TASK_FAMILIES)}")
    return TASK_FAMILIES[name]


def gripper_geom_ids(model: mujoco.MjModel) -> np.ndarray:
    return np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name) for name in GRIPPER_GEOMS])


def gripper_touches(model: mujoco.MjModel, data: mujoco.MjData, gripper_geoms: np.ndarray, target_body: int) -> bool:
    """Whether any active contact pairs a gripper geom with a geom of ``target_body``."""
    if data.ncon == 0:
        return False
    geoms = data.contact.geom[: data.ncon]
    bodies = model.geom_bodyid[geoms]
    in_gripper = np.isin(geoms, gripper_geoms)
    on_target = bodies == target_body
    return bool(np.any((in_gripper[:, 0] & on_target[:, 1]) | (in_gripper[:, 1] & on_target[:, 0])))
