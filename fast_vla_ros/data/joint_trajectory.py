"""What a ros2_control JointTrajectoryController does with a received trajectory.

The simulated arm accepts the same ``/<controller>/joint_trajectory`` messages as a real one, so the
executor's ``joint_trajectory`` output mode can be exercised without hardware; the recorder and the
bag import replay recorded commands through it to know the position commanded at each recorded row.
Between points the target is interpolated with cubic Hermite splines when velocities are given (as the
real controller does), linearly otherwise; before the first point it blends from where the arm was;
after the last point it holds. An empty trajectory means "stop and hold here", as in ros2_controllers.
"""

from __future__ import annotations

import numpy as np


class JointTrajectoryFollower:
    def __init__(self, joint_names: tuple[str, ...]) -> None:
        self._lookup = {name: i for i, name in enumerate(joint_names)}
        self._joints = len(joint_names)
        self._indices: np.ndarray | None = None
        self._times = np.zeros(0)
        self._positions = np.zeros((0, self._joints))
        self._velocities: np.ndarray | None = None
        self._hold: np.ndarray | None = None

    def clear(self) -> None:
        """Forget the trajectory: targets come from elsewhere (a forward command, a reset)."""
        self._indices, self._hold = None, None

    def set_trajectory(
        self,
        joint_names: list[str],
        start_time: float,
        times_from_start: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray | None,
        current: np.ndarray,
    ) -> None:
        """Replace the trajectory. Raises ``ValueError`` (the arm keeps its previous motion) for unknown
        joints, non-increasing times or non-finite values, as the real controller rejects them."""
        unknown = [name for name in joint_names if name not in self._lookup]
        if unknown:
            raise ValueError(f"trajectory names unknown joints {unknown}")
        if len(times_from_start) == 0:
            self._hold, self._indices = current.copy(), None
            return
        times = np.asarray(times_from_start, dtype=np.float64)
        positions = np.asarray(positions, dtype=np.float64)
        if np.any(np.diff(times) <= 0):
            raise ValueError("trajectory time_from_start must be strictly increasing")
        if not (np.all(np.isfinite(positions)) and np.all(np.isfinite(times))):
            raise ValueError("trajectory has NaN/Inf positions or times")
        if velocities is not None and (velocities.shape != positions.shape or not np.all(np.isfinite(velocities))):
            velocities = None
        indices = np.array([self._lookup[name] for name in joint_names])
        # The segment from the current position to the first point makes the start continuous.
        self._times = np.concatenate([[0.0], times]) + start_time
        self._positions = np.vstack([current[indices], positions])
        self._velocities = None if velocities is None else np.vstack([np.zeros(len(indices)), velocities])
        self._indices, self._hold = indices, None

    def target(self, now: float, current_targets: np.ndarray) -> np.ndarray:
        """The full joint target vector for ``now``; joints the trajectory does not name keep theirs."""
        out = current_targets.copy()
        if self._hold is not None:
            return self._hold.copy()
        if self._indices is None:
            return out
        times, positions = self._times, self._positions
        if now <= times[0]:
            out[self._indices] = positions[0]
        elif now >= times[-1]:
            out[self._indices] = positions[-1]
        else:
            k = int(np.searchsorted(times, now, side="right")) - 1
            h = times[k + 1] - times[k]
            s = (now - times[k]) / h
            if self._velocities is None:
                out[self._indices] = positions[k] + s * (positions[k + 1] - positions[k])
            else:
                h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
                h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
                out[self._indices] = (
                    h00 * positions[k]
                    + h10 * h * self._velocities[k]
                    + h01 * positions[k + 1]
                    + h11 * h * self._velocities[k + 1]
                )
        return out
