"""The closed loop's timing with all three nodes running as processes over loopback DDS.

Measured from outside the nodes, on the messages they publish (one clock: all run on this machine):
- executor tick jitter: |period - 20 ms| between consecutive ``/chunk_executor_node/command`` stamps
  (each stamped at its tick), while the policy runs inference beside it;
- end-to-end latency: from the stamp of the newest scene camera frame taken before the chunk's
  observation time to the stamp of the first executor command issued after that chunk arrived;
- delivered chunk rate;
- the machine (CPU model, torch's kernel level) and whether the executor's control thread got SCHED_FIFO
  (read from its log): without it the tick jitters several times more on a loaded machine.

    python benchmarks/ros_loop.py --seconds 30 --json out/ros_loop.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
# benchmarks/tokenizers.py would shadow the Hugging Face ``tokenizers`` package: drop this folder from
# sys.path and put the repository root there instead.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT / "benchmarks"]

from fast_vla_ros.machine import describe_machine, machine_line  # noqa: E402
from fast_vla_ros.nodes.loopback_dds import domain_id_for_process, loopback_dds_environment  # noqa: E402

CONTROL_PERIOD_S = 0.02
JITTER_FLOOR_MS = 2.0


def stamp(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def measure(seconds: float, task: str, seed: int, out: Path) -> dict[str, float]:
    import rclpy
    from rclpy.context import Context
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState

    from fast_vla_ros.demo.episode_runner import NODE_OVERRIDES, EpisodeRunner
    from fast_vla_ros.demo.processes import NodeProcesses
    from fast_vla_ros.msg import ActionChunk

    env = loopback_dds_environment(domain_id_for_process())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    os.environ.update(env)
    processes = NodeProcesses(env, out / "logs", REPO_ROOT)
    for node in ("sim_node", "chunk_executor_node", "policy_node"):
        processes.start(node, REPO_ROOT / "config" / "sim.yaml", NODE_OVERRIDES.get(node))
    context = Context()
    rclpy.init(context=context)
    runner = EpisodeRunner(context, processes.check_alive)
    commands: list[float] = []
    frames: list[float] = []
    chunks: list[tuple[float, float]] = []  # (observation time t0, arrival time)
    clock = runner.node.get_clock()
    runner.node.create_subscription(
        JointState, "/chunk_executor_node/command", lambda m: commands.append(stamp(m)), 100
    )
    runner.node.create_subscription(
        Image, "/camera/scene/image_raw", lambda m: frames.append(stamp(m)), qos_profile_sensor_data
    )
    runner.node.create_subscription(
        ActionChunk, "/action_chunk", lambda m: chunks.append((stamp(m), clock.now().nanoseconds * 1e-9)), 10
    )
    try:
        runner.wait_until_ready(timeout_s=180.0)
        record = runner.begin_episode(task, seed, timeout_s=60.0)
        if not record.armed:
            raise RuntimeError("the policy did not plan for the instruction in time")
        for recorded in (commands, frames, chunks):
            recorded.clear()
        runner.spin_until(lambda: False, seconds, "the measurement window")
        runner.end_episode(record)
    finally:
        runner.close()
        context.try_shutdown()
        processes.stop_all()

    executor_log = (out / "logs" / "chunk_executor_node.log").read_text()
    ticks = np.asarray(commands)
    jitter_ms = np.abs(np.diff(ticks) - CONTROL_PERIOD_S) * 1e3
    frame_stamps = np.asarray(sorted(frames))
    e2e_ms = []
    for t0, arrival in chunks:
        before = frame_stamps[frame_stamps <= t0]
        after = ticks[ticks >= arrival]
        if len(before) and len(after):
            e2e_ms.append((after[0] - before[-1]) * 1e3)
    e2e = np.asarray(e2e_ms) if e2e_ms else np.full(1, np.nan)
    return {
        "tick_jitter_ms_p50": float(np.percentile(jitter_ms, 50)),
        "tick_jitter_ms_p99": float(np.percentile(jitter_ms, 99)),
        "e2e_latency_ms_p50": float(np.percentile(e2e, 50)),
        "e2e_latency_ms_p99": float(np.percentile(e2e, 99)),
        "chunk_rate_hz": len(chunks) / seconds,
        "ticks": int(len(ticks)),
        "chunks": int(len(chunks)),
        "sched_fifo": "control thread runs with SCHED_FIFO" in executor_log,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window while armed")
    parser.add_argument("--task", default="push")
    parser.add_argument("--seed", type=int, default=910_000)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if tick jitter p99 > {JITTER_FLOOR_MS} ms")
    args = parser.parse_args()
    results = measure(args.seconds, args.task, args.seed, REPO_ROOT / "out" / "ros_loop")
    print(f"{'metric':<24} {'value':>10}")
    print("-" * 35)
    for key, value in results.items():
        print(f"{key:<24} {value:>10.3f}" if isinstance(value, float) else f"{key:<24} {value!s:>10}")
    machine = describe_machine()
    print(machine_line(machine))
    results["machine"] = machine
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    if args.check and not results["tick_jitter_ms_p99"] <= JITTER_FLOOR_MS:
        print(f"FLOOR MISSED: tick jitter p99 {results['tick_jitter_ms_p99']:.2f} ms > {JITTER_FLOOR_MS} ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
