"""Benchmark of the MuJoCo simulator: speed, and how reliable the scripted expert is.

    nice python benchmarks/sim.py [--json out/sim.json] [--check] [--episodes 100] [--seconds 20]

Speed: the arm replays expert episodes (targets at 50 Hz, zero-order hold, 500 Hz physics) for
``--seconds`` of simulated time, through ``ArmSimulator`` as the ROS sim_node will drive it.
  physics_steps_per_s       physics steps per wall-clock second, no rendering
  realtime_factor_physics   simulated seconds per wall-clock second, no rendering
  realtime_factor_cameras   the same with both cameras (scene, wrist) rendered at 30 Hz, 224x224
Expert: success rate per task family over ``--episodes`` seeded episodes (seeds 0..N-1), success judged
from physics state at the end of each episode.

Floors (issue 3): realtime_factor_cameras >= 2, expert success >= 0.98 per family. ``--check`` exits
with 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fast_vla_ros.sim.demonstrations import run_expert_episode
from fast_vla_ros.sim.expert import CONTROL_DT, ScriptedExpert
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.sim.tasks import SHIPPED_FAMILIES

CAMERA_HZ = 30.0
FLOORS = {"realtime_factor_cameras": 2.0, "expert_success": 0.98}


def realtime_factor(sim: ArmSimulator, expert: ScriptedExpert, seconds: float, cameras: bool) -> float:
    """Simulated over wall-clock seconds while replaying expert plans, optionally rendering at 30 Hz."""
    families = list(SHIPPED_FAMILIES)
    simulated, wall, episode = 0.0, 0.0, 0
    while simulated < seconds:
        sim.reset(families[episode % len(families)], episode)
        plan = expert.plan(sim.episode, sim.joint_positions(), np.random.default_rng(episode))
        next_frame = 0.0
        start = time.perf_counter()
        for action in plan:
            sim.set_joint_targets(action)
            sim.advance(CONTROL_DT)
            while cameras and sim.time >= next_frame:
                for camera in sim.camera_names:
                    sim.render(camera)
                next_frame += 1.0 / CAMERA_HZ
        wall += time.perf_counter() - start
        simulated += sim.time
        episode += 1
    return simulated / wall


def expert_success(sim: ArmSimulator, expert: ScriptedExpert, episodes: int) -> dict[str, float]:
    return {
        family: float(np.mean([run_expert_episode(sim, expert, family, seed) for seed in range(episodes)]))
        for family in SHIPPED_FAMILIES
    }


def run(episodes: int, seconds: float) -> dict:
    with ArmSimulator(image_size=(224, 224)) as sim:
        expert = ScriptedExpert(sim.arm)
        sim.reset("touch", 0)
        sim.render("scene")  # create the GL context outside the timed loops
        physics = realtime_factor(sim, expert, seconds, cameras=False)
        with_cameras = realtime_factor(sim, expert, seconds, cameras=True)
        return {
            "physics_hz": 1.0 / sim.physics_dt,
            "physics_steps_per_s": physics / sim.physics_dt,
            "realtime_factor_physics": physics,
            "realtime_factor_cameras": with_cameras,
            "camera_hz": CAMERA_HZ,
            "image_size": [224, 224],
            "episodes_per_family": episodes,
            "expert_success": expert_success(sim, expert, episodes),
        }


def table(results: dict) -> str:
    lines = [
        f"{'metric':<34}{'value':>12}",
        f"{'physics rate (Hz)':<34}{results['physics_hz']:>12.0f}",
        f"{'physics steps/s (no rendering)':<34}{results['physics_steps_per_s']:>12.0f}",
        f"{'real-time factor, physics only':<34}{results['realtime_factor_physics']:>12.1f}",
        f"{'real-time factor, 2 cameras @30Hz':<34}{results['realtime_factor_cameras']:>12.1f}",
    ]
    n = results["episodes_per_family"]
    for family, rate in results["expert_success"].items():
        label = f"expert success: {family} (n={n})"
        lines.append(f"{label:<34}{rate:>12.2f}")
    return "\n".join(lines)


def check_floors(results: dict) -> list[str]:
    failures = []
    if results["realtime_factor_cameras"] < FLOORS["realtime_factor_cameras"]:
        failures.append(f"real-time factor with cameras {results['realtime_factor_cameras']:.2f} < 2")
    for family, rate in results["expert_success"].items():
        if rate < FLOORS["expert_success"]:
            failures.append(f"expert success on {family} {rate:.2f} < {FLOORS['expert_success']}")
    for failure in failures:
        print(f"floor missed: {failure}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--check", action="store_true", help="exit with 1 when a floor is missed")
    parser.add_argument("--episodes", type=int, default=100, help="expert episodes per family (default 100)")
    parser.add_argument("--seconds", type=float, default=20.0, help="simulated seconds per speed run (default 20)")
    args = parser.parse_args()
    results = run(args.episodes, args.seconds)
    print(table(results))
    failures = check_floors(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
