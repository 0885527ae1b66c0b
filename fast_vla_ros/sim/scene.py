"""Objects on the table: colours, shapes, seeded layouts, and applying a layout to the model.

The MJCF has three object slots, each with a box and a cylinder geom. A layout picks a colour, a shape
and a planar pose per slot; ``apply_layout`` shows the chosen geom and hides the other (render group 3,
no collisions), so every episode reuses one compiled model and one renderer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.1),
    "green": (0.12, 0.65, 0.2),
    "blue": (0.1, 0.3, 0.9),
    "yellow": (0.95, 0.8, 0.1),
}
SHAPES = ("cube", "cylinder")
SLOT_COUNT = 3
OBJECT_HALF_HEIGHT = 0.02  # both shapes are 4 cm tall; table top is z = 0
HIDDEN_GEOM_GROUP = 3
# Reachable with the tool pointing down, and clear of the arm base.
WORKSPACE_X = (0.32, 0.58)
WORKSPACE_Y = (-0.2, 0.2)
MIN_SEPARATION = 0.12  # centre to centre; leaves room for open fingers between neighbours


@dataclass(frozen=True)
class PlacedObject:
    colour: str
    shape: str
    x: float
    y: float
    yaw: float  # rad about z; a cube's faces repeat every pi/2

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y, OBJECT_HALF_HEIGHT])


# A rule a task adds to the layout: (target, other object) -> whether the other may stand there.
Clearance = Callable[[PlacedObject, PlacedObject], bool]


def sample_layout(
    rng: np.random.Generator,
    target_region: tuple[tuple[float, float], tuple[float, float]] = (WORKSPACE_X, WORKSPACE_Y),
    clearance: Clearance | None = None,
) -> tuple[PlacedObject, ...]:
    """Three objects of distinct colours; slot 0 is the target, placed inside ``target_region``.

    Rejection sampling keeps objects apart and honours the task's ``clearance`` rule (for example, nothing
    in the path of a push); it consumes the generator deterministically, so a seed fixes the layout.
    """
    colours = rng.choice(list(COLOURS), size=SLOT_COUNT, replace=False)
    shapes = rng.choice(SHAPES, size=SLOT_COUNT)
    (tx_lo, tx_hi), (ty_lo, ty_hi) = target_region
    target = PlacedObject(
        str(colours[0]), str(shapes[0]), rng.uniform(tx_lo, tx_hi), rng.uniform(ty_lo, ty_hi), rng.uniform(0, np.pi / 2)
    )
    placed = [target]
    for slot in range(1, SLOT_COUNT):
        for _ in range(1000):
            candidate = PlacedObject(
                str(colours[slot]),
                str(shapes[slot]),
                rng.uniform(*WORKSPACE_X),
                rng.uniform(*WORKSPACE_Y),
                rng.uniform(0, np.pi / 2),
            )
            apart = all(np.hypot(candidate.x - o.x, candidate.y - o.y) >= MIN_SEPARATION for o in placed)
            if apart and (clearance is None or clearance(target, candidate)):
                placed.append(candidate)
                break
        else:
            raise RuntimeError("could not place the objects; the clearance rule leaves no room")
    return tuple(placed)


def object_body_ids(model: mujoco.MjModel) -> list[int]:
    return [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"object_{slot}") for slot in range(SLOT_COUNT)]


def object_geom_id(model: mujoco.MjModel, slot: int, shape: str) -> int:
    return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"object_{slot}_{'box' if shape == 'cube' else shape}")


def apply_layout(model: mujoco.MjModel, data: mujoco.MjData, layout: tuple[PlacedObject, ...]) -> None:
    """Show, colour and place each slot's object (changes ``model`` geoms and ``data`` qpos)."""
    for slot, placed in enumerate(layout):
        for shape in SHAPES:
            geom = object_geom_id(model, slot, shape)
            visible = shape == placed.shape
            model.geom_rgba[geom] = (*COLOURS[placed.colour], 1.0)
            model.geom_group[geom] = 0 if visible else HIDDEN_GEOM_GROUP
            model.geom_contype[geom] = 1 if visible else 0
            model.geom_conaffinity[geom] = 3 if visible else 0
        joint = model.body_jntadr[object_body_ids(model)[slot]]
        qpos, qvel = model.jnt_qposadr[joint], model.jnt_dofadr[joint]
        data.qpos[qpos : qpos + 3] = placed.position
        data.qpos[qpos + 3 : qpos + 7] = [np.cos(placed.yaw / 2), 0.0, 0.0, np.sin(placed.yaw / 2)]
        data.qvel[qvel : qvel + 6] = 0.0
