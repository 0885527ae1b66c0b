"""What the model's normalized action numbers mean on the robot: statistics, convention, joint order, rate.

The model and the action tokenizers work in per-dimension [-1, 1] units (``QuantileNormalizer``: the
1st/99th percentiles of the training data map to -1/+1). ``ActionSpace`` is the single place that maps
those units back to absolute joint targets in radians, in the joint order of the arm, and that knows
whether the policy predicts absolute targets or deltas from the state at the start of the chunk (pi0
trains joint deltas and absolute grippers; both are supported here). numpy only, no torch, no rclpy:
the execution core and the data tools can import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fast_vla_ros.tokenizers.normalization import QuantileNormalizer

CONVENTIONS = ("absolute", "delta")


def _normalizer_to_dict(normalizer: QuantileNormalizer) -> dict:
    return {
        "low": normalizer.low.tolist(),
        "high": normalizer.high.tolist(),
        "low_percentile": normalizer.low_percentile,
        "high_percentile": normalizer.high_percentile,
    }


def _normalizer_from_dict(data: dict) -> QuantileNormalizer:
    return QuantileNormalizer(
        np.asarray(data["low"]), np.asarray(data["high"]), data["low_percentile"], data["high_percentile"]
    )


@dataclass(frozen=True)
class ActionSpace:
    """Normalization statistics and the joint-target convention of one policy.

    ``actions`` normalizes the actions *in the training convention* (deltas under ``"delta"``),
    ``state`` the joint positions written into the prompt. Joints listed in ``absolute_joints`` stay
    absolute under the delta convention (grippers: open/closed is a position, not a motion).
    """

    joint_names: tuple[str, ...]
    dt: float
    actions: QuantileNormalizer
    state: QuantileNormalizer
    convention: str = "absolute"
    absolute_joints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if n == 0:
            raise ValueError("ActionSpace needs at least one joint name")
        if len(set(self.joint_names)) != n:
            raise ValueError(f"ActionSpace joint names must be unique, got {list(self.joint_names)}")
        for name in ("actions", "state"):
            if getattr(self, name).action_dim != n:
                raise ValueError(
                    f"ActionSpace.{name} normalizes {getattr(self, name).action_dim} dimensions, not {n} joints"
                )
        if self.convention not in CONVENTIONS:
            raise ValueError(f"ActionSpace.convention must be one of {CONVENTIONS}, got {self.convention!r}")
        unknown = [j for j in self.absolute_joints if j not in self.joint_names]
        if unknown:
            raise ValueError(f"ActionSpace.absolute_joints {unknown} are not among the joint names")
        if not self.dt > 0:
            raise ValueError(f"ActionSpace.dt must be positive, got {self.dt}")
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "absolute_joints", tuple(self.absolute_joints))

    @property
    def action_dim(self) -> int:
        return len(self.joint_names)

    @property
    def _delta_mask(self) -> np.ndarray:
        if self.convention == "absolute":
            return np.zeros(self.action_dim, dtype=bool)
        return np.array([j not in self.absolute_joints for j in self.joint_names])

    @classmethod
    def fit(
        cls,
        states: np.ndarray,
        targets: np.ndarray,
        joint_names: tuple[str, ...],
        dt: float,
        convention: str = "absolute",
        absolute_joints: tuple[str, ...] = (),
    ) -> ActionSpace:
        """Statistics from training pairs: ``states`` [N, D] at chunk start, absolute ``targets`` [N, H, D]."""
        states = np.asarray(states, dtype=np.float64)
        targets = np.asarray(targets, dtype=np.float64)
        if states.ndim != 2 or targets.ndim != 3 or targets.shape[0] != states.shape[0]:
            raise ValueError(f"expected states [N, D] and targets [N, H, D], got {states.shape} and {targets.shape}")
        state = QuantileNormalizer.fit(states)
        provisional = cls(joint_names, dt, state, state, convention, absolute_joints)
        actions = QuantileNormalizer.fit(provisional._to_convention(targets, states[:, None, :]))
        return cls(joint_names, dt, actions, state, convention, absolute_joints)

    def _to_convention(self, targets: np.ndarray, state: np.ndarray) -> np.ndarray:
        return np.where(self._delta_mask, targets - state, targets)

    def _check_state(self, state: np.ndarray) -> np.ndarray:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (self.action_dim,):
            raise ValueError(f"state must have one value per joint ({self.action_dim}), got shape {state.shape}")
        return state

    def normalize_state(self, state: np.ndarray) -> np.ndarray:
        """Joint positions [D] -> [-1, 1] per joint, clipped, for the prompt's state bins."""
        return self.state.normalize(self._check_state(state))

    def normalize_targets(self, targets: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Absolute joint targets [H, D] -> the normalized chunk the tokenizer encodes (training side)."""
        state = self._check_state(state)
        return self.actions.normalize(self._to_convention(np.asarray(targets, dtype=np.float64), state))

    def to_joint_targets(self, normalized: np.ndarray, state: np.ndarray) -> np.ndarray:
        """A decoded normalized chunk [H, D] -> absolute joint targets [H, D] in radians (inference side)."""
        state = self._check_state(state)
        normalized = np.asarray(normalized, dtype=np.float64)
        if normalized.ndim != 2 or normalized.shape[1] != self.action_dim:
            raise ValueError(f"normalized chunk must be [H, {self.action_dim}], got shape {normalized.shape}")
        values = self.actions.denormalize(normalized)
        return np.where(self._delta_mask, values + state, values)

    def state_from(self, joint_names: tuple[str, ...], positions: np.ndarray) -> np.ndarray:
        """Joint positions reordered by name into this space's order; missing names raise ``KeyError``."""
        positions = np.asarray(positions, dtype=np.float64)
        if positions.shape != (len(joint_names),):
            raise ValueError(f"{len(joint_names)} joint names but state of shape {positions.shape}")
        lookup = {name: i for i, name in enumerate(joint_names)}
        missing = [j for j in self.joint_names if j not in lookup]
        if missing:
            raise KeyError(f"observation lacks joints {missing}; the policy needs {list(self.joint_names)}")
        return positions[[lookup[j] for j in self.joint_names]]

    def to_dict(self) -> dict:
        return {
            "joint_names": list(self.joint_names),
            "dt": self.dt,
            "convention": self.convention,
            "absolute_joints": list(self.absolute_joints),
            "actions": _normalizer_to_dict(self.actions),
            "state": _normalizer_to_dict(self.state),
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "action space") -> ActionSpace:
        missing = [k for k in ("joint_names", "dt", "actions", "state") if k not in data]
        if missing:
            raise ValueError(f"{source}: missing fields {missing}")
        return cls(
            joint_names=tuple(data["joint_names"]),
            dt=float(data["dt"]),
            actions=_normalizer_from_dict(data["actions"]),
            state=_normalizer_from_dict(data["state"]),
            convention=data.get("convention", "absolute"),
            absolute_joints=tuple(data.get("absolute_joints", ())),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ActionSpace:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"action space file not found: {path}")
        return cls.from_dict(json.loads(path.read_text()), source=str(path))
