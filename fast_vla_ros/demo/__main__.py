"""``python -m fast_vla_ros.demo``: the three nodes as processes, several instructions one after another.

Prints a table (instruction, success, seconds, mean inference latency, safety interventions) and
writes out/demo/joints.png, out/demo/scene.gif and the nodes' logs under out/demo/logs/.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fast_vla_ros.nodes.loopback_dds import domain_id_for_process, loopback_dds_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EPISODES = ("touch:1", "push:2", "pick:3", "touch:4", "push:5", "pick:6")
CAMERA_RATE_HZ = 10.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fast_vla_ros.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", nargs="+", default=list(DEFAULT_EPISODES), metavar="TASK:SEED",
                        help=f"episodes to run in order (default {' '.join(DEFAULT_EPISODES)})")
    parser.add_argument("--policy", default="", help="policy directory (default: the shipped default policy)")
    parser.add_argument("--params-file", type=Path, default=REPO_ROOT / "config" / "sim.yaml")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per episode before it counts as failed")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "demo")
    return parser.parse_args(argv)


def parse_episode(text: str) -> tuple[str, int]:
    task, _, seed = text.partition(":")
    if not seed.isdigit():
        raise SystemExit(f"episode '{text}' must be TASK:SEED, e.g. push:3")
    return task, int(seed)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    episodes = [parse_episode(e) for e in args.episodes]
    # This process and the nodes share one loopback-only domain, set before rclpy creates a context.
    env = loopback_dds_environment(domain_id_for_process())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    os.environ.update(env)

    import rclpy
    from rclpy.context import Context

    from fast_vla_ros.demo import report
    from fast_vla_ros.demo.episode_runner import NODE_OVERRIDES, EpisodeRunner
    from fast_vla_ros.demo.processes import NodeProcesses

    processes = NodeProcesses(env, args.out / "logs", REPO_ROOT)
    policy = {"policy_dir": args.policy} if args.policy else {}
    for node, overrides in (("sim_node", {}), ("chunk_executor_node", {}), ("policy_node", policy)):
        processes.start(node, args.params_file, {**NODE_OVERRIDES.get(node, {}), **overrides})
    context = Context()
    rclpy.init(context=context)
    runner = EpisodeRunner(context, processes.check_alive)
    records = []
    try:
        print("starting sim_node, policy_node (loading and warming up the policy), chunk_executor_node ...")
        runner.wait_until_ready(timeout_s=180.0)
        for task, seed in episodes:
            record = runner.run_episode(task, seed, args.timeout)
            outcome = "success" if record.success else "timeout"
            print(f'  {outcome} in {record.seconds:4.1f} s: "{record.instruction}"')
            records.append(record)
    except (RuntimeError, TimeoutError, ValueError) as error:
        print(f"demo stopped: {error}\n(node logs: {args.out / 'logs'})", file=sys.stderr)
        return 1
    finally:
        runner.close()
        context.try_shutdown()
        processes.stop_all()
    print()
    print(report.table(records))
    report.plot(records, args.out / "joints.png")
    report.gif(records, args.out / "scene.gif", fps=CAMERA_RATE_HZ / 2)
    print(f"\nwrote {args.out / 'joints.png'} and {args.out / 'scene.gif'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
