"""Recovery demonstrations: the expert taking over from where a policy that misjudged the target stopped.

Expert demonstrations only ever show the arm on its plan, so a policy that ends a descent a few
centimetres beside the object has never seen that state and, judging by its joints, believes the task
done: it holds still there. A recovery episode puts the arm in such a state first, unrecorded: it follows
the expert's plan for a target displaced by ``MISS_RADIUS``, stops at a random moment between the end
of the approach and the point where the fingers would reach the object's height (where policies were
seen to stall), and settles. Recording starts there, with the expert planning from that state
(``recovery_waypoints``): sideways onto the true approach, then the rest of the task. It is DART's idea
(Laskey et al. 2017), corrective labels on the states a learner drifts into, made with a scripted expert
that can replan from any pose. Trained beside the expert episodes they lowered the small default's
success in the sixth and seventh rounds (docs/policy.md), so the shipped recipe does not use them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fast_vla_ros.sim.expert import REALIGN_MIN_HEIGHT, ScriptedExpert, UnreachablePose
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.sim.tasks import TaskEpisode

MISS_RADIUS = (0.01, 0.035)  # m between the target and where the misjudged plan aims (policies miss by 1-3 cm)
HIGHEST_STOP = 0.13  # m of tcp height: the end of the approach (at 0.12) and the descent, where policies stall
SETTLE = 0.4  # s holding the stop pose, so the recording starts at rest as the expert's plans assume
UNDISTURBED = 0.005  # m the target may have moved before recording starts (else the start is not a miss)


def misjudged(episode: TaskEpisode, rng: np.random.Generator) -> TaskEpisode:
    """The episode with its target believed ``MISS_RADIUS`` away in a random direction."""
    radius, angle = rng.uniform(*MISS_RADIUS), rng.uniform(0.0, 2 * np.pi)
    target = episode.target
    moved = dataclasses.replace(target, x=target.x + radius * np.cos(angle), y=target.y + radius * np.sin(angle))
    return dataclasses.replace(episode, layout=(moved, *episode.layout[1:]))


def drive_to_a_miss(sim: ArmSimulator, expert: ScriptedExpert, rng: np.random.Generator) -> bool:
    """Follow a plan for a misjudged target (``sim`` just reset) and stop at rest partway; False, with the
    arm wherever it is, when that start is unusable: the plan is out of reach, or the arm already touched
    or moved the target."""
    start_target = sim.object_position(0)
    try:
        miss = expert.plan(misjudged(sim.episode, rng), sim.joint_positions(), rng)
    except UnreachablePose:
        return False
    heights = np.array([expert.ik.forward(row[:-1])[0][2] for row in miss])
    low = np.flatnonzero(heights < REALIGN_MIN_HEIGHT)
    stops = np.flatnonzero(heights[: int(low[0]) if low.size else len(miss)] <= HIGHEST_STOP)
    if not stops.size:
        return False
    for row in miss[: rng.choice(stops) + 1]:
        sim.set_joint_targets(row)
        sim.advance(expert.control_dt)
    sim.advance(SETTLE)
    moved = np.linalg.norm(sim.object_position(0) - start_target)
    return not sim.success() and moved < UNDISTURBED
