"""How reliably each node shuts down cleanly (exit code 0, no traceback), out of repeated tries.

Each try starts the node as a process group of its own (``python -m fast_vla_ros.nodes.<node>`` with
config/sim.yaml) on loopback DDS, waits until it spins (a message from one of its timers), and signals
the group the ways a user stops it: SIGINT (a terminal's Ctrl-C), SIGINT twice at once (the terminal's
and the one ``ros2 launch`` forwards), SIGTERM. test/ros/test_shutdown.py does the same twice per case.

    python benchmarks/shutdown.py --tries 20 --json out/shutdown.json --check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# benchmarks/tokenizers.py would shadow the Hugging Face ``tokenizers`` package: drop this folder from
# sys.path and put the repository root there instead.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT / "benchmarks"]

from fast_vla_ros.demo.shutdown_trial import SIGNAL_PATTERNS, SpinningWitness, shutdown_trial  # noqa: E402
from fast_vla_ros.nodes.loopback_dds import domain_id_for_process, loopback_dds_environment  # noqa: E402
from fast_vla_ros.tokenizers.evaluation import format_table  # noqa: E402

NODES = ("sim_node", "chunk_executor_node", "policy_node")
PARAMS_FILE = REPO_ROOT / "config" / "sim.yaml"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def measure(nodes: list[str], patterns: list[str], tries: int) -> list[dict[str, object]]:
    env = loopback_dds_environment(domain_id_for_process())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    os.environ.update(env)  # the witness below shares the nodes' domain

    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    witness = SpinningWitness(context)
    results = []
    try:
        for node in nodes:
            for pattern in patterns:
                outcomes = []
                for _ in range(tries):
                    outcome = shutdown_trial(node, pattern, ["--params-file", str(PARAMS_FILE)], env, REPO_ROOT,
                                             witness.until_spinning)
                    if not outcome.clean:
                        print(f"--- {node} {pattern}: exit code {outcome.exit_code}\n{outcome.output[-2000:]}")
                    outcomes.append(outcome)
                seconds = [o.seconds_to_exit for o in outcomes if o.exit_code is not None]
                results.append({
                    "node": node,
                    "pattern": pattern,
                    "tries": tries,
                    "clean": sum(o.clean for o in outcomes),
                    "exit_codes": dict(Counter(str(o.exit_code) for o in outcomes)),
                    "tracebacks": sum(o.traceback for o in outcomes),
                    "hung": sum(o.exit_code is None for o in outcomes),
                    "seconds_to_exit_mean": sum(seconds) / len(seconds) if seconds else float("nan"),
                    "seconds_to_exit_max": max(seconds, default=float("nan")),
                })
                print(f"{node} {pattern}: {results[-1]['clean']}/{tries} clean", flush=True)
    finally:
        witness.close()
        context.try_shutdown()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20, help="tries per node and signal pattern")
    parser.add_argument("--nodes", nargs="+", default=list(NODES), choices=NODES)
    parser.add_argument("--patterns", nargs="+", default=list(SIGNAL_PATTERNS), choices=list(SIGNAL_PATTERNS))
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every try ended cleanly")
    args = parser.parse_args()
    if args.tries < 1:
        parser.error("--tries must be at least 1")
    results = measure(args.nodes, args.patterns, args.tries)
    print()
    print(format_table(
        ["node", "signals", "clean", "exit codes", "tracebacks", "hung", "exit s mean", "exit s max"],
        [[r["node"], r["pattern"], f"{r['clean']}/{r['tries']}",
          ", ".join(f"{code}: {n}" for code, n in sorted(r["exit_codes"].items())), r["tracebacks"], r["hung"],
          r["seconds_to_exit_mean"], r["seconds_to_exit_max"]] for r in results],
    ))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": cpu_model(), "results": results}, indent=2))
    if args.check and not all(r["clean"] == r["tries"] for r in results):
        print("NOT ALL CLEAN: see the output of the failed tries above")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
