"""Fixtures and builders shared by the execution tests: the simulated arm's limits, chunks, a tick loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fast_vla_ros.execution import ChunkScheduler, ExecutionConfig
from fast_vla_ros.types import ActionChunk, JointLimits

LIMITS_FILE = Path(__file__).resolve().parents[2] / "config" / "sim_arm_limits.yaml"
PERIOD = 0.02


def home(limits: JointLimits) -> np.ndarray:
    """Mid-range of every joint: far from the limits."""
    return 0.5 * (limits.lower + limits.upper)


def ramp_chunk(limits: JointLimits, start: np.ndarray, t0: float, step: float, horizon: int = 20, dt: float = PERIOD):
    """A chunk moving every arm joint by ``step`` per row from ``start``; the gripper stays put."""
    moving = np.ones(len(limits.joint_names))
    moving[-1] = 0.0
    actions = start + step * np.arange(horizon)[:, None] * moving
    return ActionChunk(actions, t0, dt, limits.joint_names)


def armed_scheduler(limits: JointLimits, mapping: dict | None = None, now: float = 0.0) -> ChunkScheduler:
    scheduler = ChunkScheduler(limits, ExecutionConfig.from_mapping(mapping or {}))
    assert scheduler.update_joint_state(limits.joint_names, home(limits), now)
    assert scheduler.arm(now)
    return scheduler


def run_ticks(scheduler: ChunkScheduler, limits: JointLimits, start: float, count: int):
    """Tick ``count`` times from ``start``, feeding back each command as the measured joint state."""
    commands = []
    for k in range(count):
        now = start + k * PERIOD
        command = scheduler.tick(now)
        if command.positions is not None:
            scheduler.update_joint_state(limits.joint_names, command.positions, now)
        commands.append(command)
    return commands


@pytest.fixture(scope="session")
def limits() -> JointLimits:
    return JointLimits.from_yaml(LIMITS_FILE)
