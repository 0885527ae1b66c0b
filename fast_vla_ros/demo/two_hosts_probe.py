"""Measures the two-host loop from the robot's host (run there by ``TwoHostLoop.probe``), printing one JSON
line: end-to-end latency over the link, and optionally what a cut link does to the executor.

All times are on the robot host's clock, which stamps the camera frames, the joint states (and so the chunks'
observation times) and the commands:
- latency: from the newest scene frame taken before a chunk's observation time to the first command
  issued after that chunk arrived (as benchmarks/ros_loop.py measures on one host);
- with ``--cut NAMESPACE:INTERFACE``: the link is taken down there mid-episode; ``hold_after_cut_s`` is the
  time to the first executor report of a hold; then the link is restored and ``resumed`` says whether
  chunks arrived again and the executor tracked them, ``resume_s`` how long after the restore.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np


def stamp(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="armed seconds measuring latency")
    parser.add_argument("--task", default="push")
    parser.add_argument("--seed", type=int, default=920_000)
    parser.add_argument("--cut", help="NAMESPACE:INTERFACE to take down mid-episode, then up again")
    parser.add_argument("--plan-timeout", type=float, default=60.0, help="s to wait for a chunk before arming")
    args = parser.parse_args()

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.context import Context
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState

    from fast_vla_ros.demo.episode_runner import EpisodeRunner
    from fast_vla_ros.msg import ActionChunk, PolicyStatus

    context = Context()
    rclpy.init(context=context)
    runner = EpisodeRunner(context, lambda: None)
    node, clock = runner.node, runner.node.get_clock()
    frames: list[float] = []
    commands: list[tuple[float, np.ndarray]] = []
    chunks: list[tuple[float, float]] = []  # (observation time t0, arrival)
    reports: list[tuple[float, str]] = []  # (time received, executor state)
    policy: dict[str, str] = {}
    statuses: list[PolicyStatus] = []

    def now() -> float:
        return clock.now().nanoseconds * 1e-9

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name.endswith("chunk_executor_node"):
                reports.append((now(), values.get("state", "")))
            elif status.name.endswith("policy_node"):
                policy.update(values)

    node.create_subscription(Image, "/camera/scene/image_raw", lambda m: frames.append(stamp(m)),
                             qos_profile_sensor_data)  # fmt: skip
    node.create_subscription(JointState, "/chunk_executor_node/command",
                             lambda m: commands.append((stamp(m), np.array(m.position))), 100)  # fmt: skip
    node.create_subscription(ActionChunk, "/action_chunk", lambda m: chunks.append((stamp(m), now())), 10)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)
    node.create_subscription(PolicyStatus, "/policy_node/status", statuses.append, 10)
    result: dict[str, object] = {}
    try:
        runner.wait_until_ready(timeout_s=240.0)
        record = runner.begin_episode(args.task, args.seed, timeout_s=args.plan_timeout)
        result["armed"] = record.armed
        if not record.armed:
            result["policy_status"] = statuses[-1].message if statuses else ""
            print(json.dumps(result))
            return 0
        for recorded in (frames, chunks, commands):
            recorded.clear()
        runner.spin_until(lambda: False, args.seconds, "the latency window")
        result.update(_latency(frames, chunks, commands))
        result["policy_clock_offset_s"] = float(policy.get("clock_offset_s", "nan"))
        if args.cut:
            result.update(_cut_and_restore(runner, args.cut, now, reports, chunks))
        result["max_step"] = _max_step(commands)
        runner.end_episode(record)
    finally:
        runner.close()
        context.try_shutdown()
    print(json.dumps(result))
    return 0


def _latency(frames: list[float], chunks: list[tuple[float, float]], commands: list) -> dict[str, float]:
    frame_stamps = np.asarray(sorted(frames))
    ticks = np.asarray([t for t, _ in commands])
    latencies = []
    for t0, arrival in chunks:
        before, after = frame_stamps[frame_stamps <= t0], ticks[ticks >= arrival]
        if len(before) and len(after):
            latencies.append((after[0] - before[-1]) * 1e3)
    e2e = np.asarray(latencies) if latencies else np.full(1, np.nan)
    return {
        "e2e_latency_ms_p50": float(np.percentile(e2e, 50)),
        "e2e_latency_ms_p99": float(np.percentile(e2e, 99)),
        "chunks": len(chunks),
    }


def _ip_link(where: str, state: str) -> None:
    namespace, interface = where.split(":")
    subprocess.run(["ip", "-n", namespace, "link", "set", interface, state], check=True, timeout=10)


def _cut_and_restore(runner, where: str, now, reports: list, chunks: list) -> dict[str, object]:
    cut_at = now()
    _ip_link(where, "down")
    held = runner.spin_until(
        lambda: any(t >= cut_at and state == "holding" for t, state in reports), 10.0, "a hold after the cut"
    )
    hold_after_cut = next(t for t, state in reports if t >= cut_at and state == "holding") - cut_at if held else None
    # Held for a while: no chunk gets through, the executor stays on hold.
    runner.spin_until(lambda: now() > cut_at + 3.0, 5.0, "the link to stay down")
    still_holding = reports[-1][1] == "holding"
    restored_at = now()
    _ip_link(where, "up")
    resumed = runner.spin_until(
        lambda: any(arrival > restored_at for _, arrival in chunks)
        and any(t > restored_at and state == "tracking" for t, state in reports),
        60.0,
        "chunks and tracking after the restore",
    )
    resume_at = next((t for t, state in reports if t > restored_at and state == "tracking"), None)
    return {
        "hold_after_cut_s": hold_after_cut,
        "held_while_cut": still_holding,
        "resumed": resumed,
        "resume_s": resume_at - restored_at if resume_at is not None else None,
    }


def _max_step(commands: list) -> float:
    positions = np.stack([q for _, q in commands]) if len(commands) > 1 else np.zeros((2, 1))
    return float(np.abs(np.diff(positions, axis=0)).max())


if __name__ == "__main__":
    sys.exit(main())
