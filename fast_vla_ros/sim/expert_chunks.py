"""Action chunks straight from the scripted expert's plans: the smooth 50 Hz joint motion the policy
learns, without stepping physics or rendering, so benchmarks can draw thousands of chunks in seconds.

The plan is what ``sim-demos`` records as actions (commanded joint targets), so these chunks have the
same statistics as the training data's, minus the episodes the expert failed (rare: see docs/simulator.md).
"""

from __future__ import annotations

import numpy as np

from fast_vla_ros.sim.expert import ScriptedExpert, UnreachablePose
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.sim.tasks import SHIPPED_FAMILIES


def expert_action_chunks(
    count: int,
    horizon: int = 50,
    seed: int = 0,
    stride: int = 10,
    tasks: tuple[str, ...] = SHIPPED_FAMILIES,
) -> np.ndarray:
    """``[count, horizon, 7]`` windows, ``stride`` steps apart, of plans for episodes ``seed``, ``seed + 1``,
    ... cycling over ``tasks``; deterministic by ``seed``."""
    chunks: list[np.ndarray] = []
    with ArmSimulator() as sim:
        expert = ScriptedExpert(sim.arm)
        episode = seed
        while len(chunks) < count:
            task = tasks[(episode - seed) % len(tasks)]
            sim.reset(task, episode)
            try:
                plan = expert.plan(sim.episode, sim.joint_positions(), np.random.default_rng((episode, 1)))
            except UnreachablePose:
                plan = np.zeros((0, len(sim.joint_names)))
            chunks.extend(plan[start : start + horizon] for start in range(0, len(plan) - horizon + 1, stride))
            episode += 1
    return np.stack(chunks[:count])
