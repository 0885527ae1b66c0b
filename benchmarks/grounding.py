"""Does a policy look? First-chunk grounding on fresh simulator layouts.

    python benchmarks/grounding.py [--policy DIR ...] [--episodes 60] [--json out/grounding.json]

At an episode's first frame the arm has not moved yet, so only the cameras (and the instruction) say
where the named object is; this is the prediction a closed-loop failure starts from. For each of
``--episodes`` fresh layouts (task families in turn, seeds ``--seed``..), each policy predicts its first
chunk, and the benchmark correlates that chunk's last ``--joint`` target (by default the base's pan) with
the bearing ``atan2(y, x)`` of the named object and, as a control, of the two other objects. The scripted
expert's plan at the same step is the ceiling: its pan already points at the target after one chunk.

A policy that ignores the images scores about 0 in every column; one that finds the named object nears
the expert's value in the target column and stays near 0 in the distractor column.
``--json PATH`` writes ``{"<policy folder name>": {"target_corr", "distractor_corr", "rms_to_expert_rad"}}``,
the expert's row under ``"expert"``. The policies must share their horizon (the step compared).
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/tokenizers.py shares its name with the Hugging Face ``tokenizers`` package (see policy.py).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fast_vla_ros.evaluation.closed_loop import observe  # noqa: E402
from fast_vla_ros.policy.checkpoint import load_policy  # noqa: E402
from fast_vla_ros.sim.expert import ScriptedExpert  # noqa: E402
from fast_vla_ros.sim.simulator import ArmSimulator  # noqa: E402
from fast_vla_ros.sim.tasks import TASK_FAMILIES  # noqa: E402
from fast_vla_ros.tokenizers.evaluation import format_table  # noqa: E402

DEFAULT_POLICY = Path("models/default")


def bearings(sim: ArmSimulator) -> np.ndarray:
    """``atan2(y, x)`` of every object, target first (the table frame's origin is the arm's base)."""
    return np.array([np.arctan2(placed.y, placed.x) for placed in sim.episode.layout])


def grounding(predicted: np.ndarray, expert: np.ndarray, objects: np.ndarray) -> dict[str, float]:
    """Correlations of ``predicted`` joint values with the target's and the distractors' bearings
    (``objects``: [episodes, slots], target in slot 0), and the RMS distance to the expert's values."""

    def correlation(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else 0.0

    return {
        "target_corr": correlation(predicted, objects[:, 0]),
        "distractor_corr": float(np.mean([correlation(predicted, objects[:, s]) for s in range(1, objects.shape[1])])),
        "rms_to_expert_rad": float(np.sqrt(np.mean((predicted - expert) ** 2))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--policy", action="append", type=Path, help=f"policy directory, repeatable (default {DEFAULT_POLICY})"
    )
    parser.add_argument("--episodes", type=int, default=60, help="fresh layouts (default 60)")
    parser.add_argument("--seed", type=int, default=200000, help="seed of the first layout (default 200000)")
    parser.add_argument("--joint", default="shoulder_pan_joint", help="joint compared (default the base's pan)")
    parser.add_argument("--image-size", type=int, default=224, help="camera frames, pixels (default 224)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.episodes < 3:
        parser.error("--episodes must be at least 3 for a correlation")
    torch.set_num_threads(args.threads)
    policies = {directory.name: load_policy(directory, device="cpu") for directory in args.policy or [DEFAULT_POLICY]}
    horizons = {policy.config.horizon for policy in policies.values()}
    if len(horizons) != 1:
        parser.error(f"the policies' horizons differ ({sorted(horizons)}); compare them in separate runs")
    horizon = horizons.pop()
    families = list(TASK_FAMILIES)
    predicted: dict[str, list[float]] = {name: [] for name in policies}
    expert_values, objects = [], []
    with ArmSimulator(image_size=(args.image_size, args.image_size)) as sim:
        joint = sim.joint_names.index(args.joint)
        expert = ScriptedExpert(sim.arm)
        for episode in range(args.episodes):
            sim.reset(families[episode % len(families)], args.seed + episode)
            objects.append(bearings(sim))
            for name, policy in policies.items():
                result = policy.predict(observe(sim, policy.config.cameras))
                if result.chunk is None:  # a chunk that does not decode leaves the joint where it is
                    predicted[name].append(float(sim.joint_positions()[joint]))
                else:
                    predicted[name].append(float(result.chunk.actions[-1][result.chunk.joint_names.index(args.joint)]))
            plan = expert.plan(sim.episode, sim.joint_positions(), np.random.default_rng(args.seed + episode))
            expert_values.append(float(plan[min(horizon, len(plan)) - 1, joint]))
    objects_array, expert_array = np.array(objects), np.array(expert_values)
    results = {"expert": grounding(expert_array, expert_array, objects_array)}
    results.update({name: grounding(np.array(v), expert_array, objects_array) for name, v in predicted.items()})
    rows = [[name, r["target_corr"], r["distractor_corr"], r["rms_to_expert_rad"]] for name, r in results.items()]
    print(
        f"first-chunk grounding, {args.episodes} fresh layouts (seeds {args.seed}..{args.seed + args.episodes - 1}), "
        f"{args.joint} at the chunk's last step vs the objects' bearings"
    )
    print(format_table(["policy", "corr target", "corr distractors", "rms to expert (rad)"], rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
