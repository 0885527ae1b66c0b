"""Recording health of the data flywheel on the simulated arm, over loopback DDS.

sim_node (two 224x224 cameras at 30 Hz, joint states at 100 Hz), recorder_node and expert_teleop_node run
as processes; the teleop records ``--episodes`` successful episodes of ``--task``. Reported: episodes,
rows on disk against duration x rate + 1 per episode (the duration being the recorder's own, from its
start to its stop call, so this checks that no row went missing between assembly and the data set read
back), dropped and late frames (the recorder's stamp gaps and arrival delays), the camera rate the
recorder received, and the wall time. Floors (``--check``): no row lost, no dropped frame.

Not measured yet (the issue's full flywheel): fine-tuning on the recording and success on an unseen task
variant before and after; their JSON keys are written as null.

    python benchmarks/flywheel.py --episodes 10 --json out/flywheel.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
# benchmarks/tokenizers.py would shadow the Hugging Face ``tokenizers`` package: drop this folder from
# sys.path and put the repository root there instead.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT / "benchmarks"]

from fast_vla_ros.demo.episode_runner import NODE_OVERRIDES  # noqa: E402
from fast_vla_ros.nodes.loopback_dds import domain_id_for_process, loopback_dds_environment  # noqa: E402

CAMERA_RATE = 30.0
FPS = 50


def record(episodes: int, task: str, seed: int, out: Path) -> dict:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import String

    from fast_vla_ros.data.episode_dataset import EpisodeDataset
    from fast_vla_ros.demo.processes import NodeProcesses

    env = loopback_dds_environment(domain_id_for_process())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    os.environ.update(env)
    dataset = out / "dataset"
    document = yaml.safe_load((REPO_ROOT / "config" / "recording_sim.yaml").read_text())
    document["recorder_node"]["ros__parameters"]["output_dir"] = str(dataset)
    document["expert_teleop_node"]["ros__parameters"].update(task=task, seed=seed, episodes=episodes)
    params = out / "recording.yaml"
    out.mkdir(parents=True, exist_ok=True)
    params.write_text(yaml.safe_dump(document))
    processes = NodeProcesses(env, out / "logs", REPO_ROOT)
    context = Context()
    rclpy.init(context=context)
    node = Node("flywheel_benchmark", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    statuses: list[str] = []
    node.create_subscription(String, "/expert_teleop_node/status", lambda m: statuses.append(m.data), 10)
    try:
        # the teleop operates the episodes: sim_node neither forwards instructions nor holds the arm on reset
        sim_overrides = {**NODE_OVERRIDES["sim_node"], "camera_rate": str(CAMERA_RATE)}
        processes.start("sim_node", REPO_ROOT / "config" / "sim.yaml", sim_overrides)
        processes.start("recorder_node", params)
        began = time.monotonic()
        processes.start("expert_teleop_node", params)
        deadline = began + 120.0 + 20.0 * episodes
        while not (statuses and json.loads(statuses[-1])["state"] == "done"):
            if time.monotonic() > deadline:
                raise TimeoutError("the teleop did not finish its episodes in time")
            processes.check_alive()
            executor.spin_once(timeout_sec=0.1)
        seconds = time.monotonic() - began
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
        processes.stop_all()
    teleop = json.loads(statuses[-1])
    data = EpisodeDataset(dataset)
    metadata = [e.metadata for e in data.episodes]
    durations = np.array([m["duration_s"] for m in metadata])
    cameras = data.cameras
    received = {c: sum(m[f"frames_received/{c}"] for m in metadata) for c in cameras}
    return {
        "recording": {
            "episodes": len(data),
            "episodes_discarded": teleop["discarded"],
            "rows_expected": int(np.sum(np.floor(durations * FPS + 1e-6) + 1)),
            "rows_written": int(data.num_frames),
            "frames_dropped": int(sum(m["frames_dropped"] for m in metadata)),
            "frames_late": int(sum(m["frames_late"] for m in metadata)),
            "camera_rate_hz": {c: received[c] / float(durations.sum()) for c in cameras},
            "episode_seconds_mean": float(durations.mean()),
            "wall_seconds": seconds,
        },
        "success_before": None,
        "success_after": None,
        "finetune_minutes": None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--task", default="touch")
    parser.add_argument("--seed", type=int, default=920_000)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a row or a frame was lost")
    args = parser.parse_args()
    out = REPO_ROOT / "out" / "flywheel" / time.strftime("%Y%m%d-%H%M%S")
    results = record(args.episodes, args.task, args.seed, out)
    recording = results["recording"]
    print(f"{'metric':<24} {'value':>12}")
    print("-" * 37)
    for key, value in recording.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.1f}" for k, v in value.items())
        print(f"{key:<24} {value:>12.3f}" if isinstance(value, float) else f"{key:<24} {value!s:>12}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    lost_rows = recording["rows_written"] != recording["rows_expected"]
    if args.check and (lost_rows or recording["frames_dropped"]):
        print("FLOOR MISSED: " + ("rows lost " if lost_rows else "") + f"{recording['frames_dropped']} dropped frames")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
