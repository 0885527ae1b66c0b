"""Joint order by name, never by position: mapping incoming name lists onto the configured arm."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


class JointNameError(ValueError):
    """Joint names that cannot be mapped onto the arm; the message lists what is wrong."""


class JointOrder:
    def __init__(self, joint_names: Sequence[str]) -> None:
        self.joint_names = tuple(joint_names)
        self._index = {name: i for i, name in enumerate(self.joint_names)}

    def _check(self, names: Sequence[str], allow_extra: bool) -> None:
        duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
        unknown = [] if allow_extra else [name for name in names if name not in self._index]
        missing = [name for name in self.joint_names if name not in set(names)]
        if duplicated or unknown or missing:
            problems = [
                f"{label} {values}"
                for label, values in (("duplicated", duplicated), ("unknown", unknown), ("missing", missing))
                if values
            ]
            raise JointNameError(
                f"joint names {list(names)}: {'; '.join(problems)}; the arm has {list(self.joint_names)}"
            )

    def permutation(self, names: Sequence[str]) -> np.ndarray:
        """Column indices that put values given in ``names`` order into arm order: ``values[..., perm]``.
        ``names`` must be exactly the arm's joints, in any order."""
        self._check(names, allow_extra=False)
        position = {name: i for i, name in enumerate(names)}
        return np.array([position[name] for name in self.joint_names], dtype=np.int64)

    def select(self, names: Sequence[str]) -> np.ndarray:
        """Like :meth:`permutation`, but other joints may be present (a JointState can cover several devices)."""
        self._check(names, allow_extra=True)
        position = {name: i for i, name in enumerate(names)}
        return np.array([position[name] for name in self.joint_names], dtype=np.int64)
