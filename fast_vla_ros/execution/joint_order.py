"""Joint order by name, never by position: mapping incoming name lists onto the configured arm."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

SHOWN_NAMES = 10  # names quoted per list in an error: a message with 100 000 names would flood the log


class JointNameError(ValueError):
    """Joint names that cannot be mapped onto the arm; the message lists what is wrong."""


def _shown(names: Sequence[str]) -> str:
    head = [str(name)[:64] for name in names[:SHOWN_NAMES]]
    return f"{head}" if len(names) <= SHOWN_NAMES else f"{head[:-1] + ['...']} ({len(names)} names)"


class JointOrder:
    def __init__(self, joint_names: Sequence[str]) -> None:
        self.joint_names = tuple(joint_names)
        self._index = {name: i for i, name in enumerate(self.joint_names)}

    def _check(self, names: Sequence[str], allow_extra: bool) -> None:
        duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
        unknown = [] if allow_extra else [name for name in names if name not in self._index]
        present = set(names)
        missing = [name for name in self.joint_names if name not in present]
        if duplicated or unknown or missing:
            problems = [
                f"{label} {_shown(values)}"
                for label, values in (("duplicated", duplicated), ("unknown", unknown), ("missing", missing))
                if values
            ]
            raise JointNameError(
                f"joint names {_shown(list(names))}: {'; '.join(problems)}; the arm has {list(self.joint_names)}"
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
