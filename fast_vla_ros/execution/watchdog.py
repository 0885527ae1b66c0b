"""Stale-input detection: the reasons to hold that come from time passing, not from the chunks' content."""

from __future__ import annotations

from fast_vla_ros.execution.config import WatchdogConfig
from fast_vla_ros.execution.status import HoldReason


class Watchdog:
    def __init__(self, config: WatchdogConfig) -> None:
        self._config = config

    def joint_state_fresh(self, now: float, joint_state_stamp: float | None) -> bool:
        return joint_state_stamp is not None and now - joint_state_stamp <= self._config.joint_state_timeout

    def check(self, now: float, joint_state_stamp: float | None, newest_observation: float | None) -> HoldReason | None:
        """Why the executor must hold at ``now``, or ``None``. A missing joint state comes first: without it
        nobody knows where the arm is."""
        if not self.joint_state_fresh(now, joint_state_stamp):
            return HoldReason.JOINT_STATE_STALE
        if newest_observation is None:
            return HoldReason.NO_CHUNK
        if now - newest_observation > self._config.policy_timeout:
            return HoldReason.POLICY_STALE
        return None
