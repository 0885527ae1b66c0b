"""The closed loop's timing with all three nodes running as processes, in each set-up users run.

Measured from outside the nodes, on the messages they publish (the robot side's clock stamps them all):
- executor tick jitter: |period - 20 ms| between consecutive ``/chunk_executor_node/command`` stamps (each
  stamped at its tick, on the executor's clock: simulated time in the sim-time modes), while the policy
  runs inference beside it; in the sim-time modes also the tick period itself, in simulated ms;
- end-to-end latency: from the stamp of the newest scene camera frame taken before the chunk's
  observation time to the stamp of the first executor command issued after that chunk arrived;
- delivered chunk rate; limit violations: commands outside a joint's position limits, steps beyond
  ``safety.max_step`` or velocities beyond a joint's limit (config/sim.yaml), which must be none.
Modes: ``wall`` (forward position controller, wall clock; its numbers are also the top-level keys),
``sim_time_0.5`` and ``sim_time_2.0`` (sim_node publishing /clock at that real-time factor, every node on
use_sim_time), ``isaac_joint_command`` (the executor's JointState output on /joint_command, as Isaac Sim
takes it). ``two_host``: policy_node in one network namespace, the others in another, over a veth link
(demo/two_hosts.py): latency across the link, the hold after the link is cut and the resume after it is
restored; absent, with the reason printed, where namespaces cannot be made. ``image_conversion_ms``: the
policy node's per-frame conversion (raw bgr8 and JPEG to RGB, and the letterbox to 224x224), median of 200.

    python benchmarks/ros_loop.py --seconds 30 --json out/ros_loop.json --check
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
# benchmarks/tokenizers.py would shadow the Hugging Face ``tokenizers`` package: drop this folder from
# sys.path and put the repository root there instead.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT / "benchmarks"]

from fast_vla_ros.demo.episode_runner import NODE_OVERRIDES  # noqa: E402
from fast_vla_ros.machine import describe_machine, machine_line  # noqa: E402
from fast_vla_ros.nodes.loopback_dds import domain_id_for_process, loopback_dds_environment  # noqa: E402

PARAMS = REPO_ROOT / "config" / "sim.yaml"
CONTROL_PERIOD_S = 0.02
JITTER_FLOOR_MS = 2.0  # p99, wall-clock modes
SIM_PERIOD_FLOOR_MS = 2 * CONTROL_PERIOD_S * 1e3  # p99 tick period in simulated time: 20 ms, plus one tick
POLICY_TIMEOUT_S = 1.0  # watchdog.policy_timeout in config/sim.yaml
# node -> parameter overrides per mode; the sim-time modes also scale the window by the real-time factor
MODES: dict[str, dict[str, dict[str, str]]] = {
    "wall": {},
    "sim_time_0.5": {"sim_node": {"publish_clock": "true", "real_time_factor": "0.5"},
                     "chunk_executor_node": {"use_sim_time": "true"}, "policy_node": {"use_sim_time": "true"}},
    "sim_time_2.0": {"sim_node": {"publish_clock": "true", "real_time_factor": "2.0"},
                     "chunk_executor_node": {"use_sim_time": "true"}, "policy_node": {"use_sim_time": "true"}},
    "isaac_joint_command": {"chunk_executor_node": {"output_mode": "joint_state"}},
}  # fmt: skip


def stamp(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def executor_limits():
    import yaml

    from fast_vla_ros.types import JointLimits

    parameters = yaml.safe_load(PARAMS.read_text())["chunk_executor_node"]["ros__parameters"]
    return JointLimits.from_mapping(parameters["joint_limits"]), float(parameters["safety"]["max_step"])


def limit_violations(commands: list[tuple[float, np.ndarray, np.ndarray]]) -> int:
    """Commands outside the position limits, or stepping or moving faster than the limits allow."""
    limits, max_step = executor_limits()
    positions = np.stack([q for _, q, _ in commands])
    velocities = np.stack([v for _, _, v in commands])
    outside = (positions < limits.lower - 1e-9) | (positions > limits.upper + 1e-9)
    too_fast = np.abs(velocities) > limits.max_velocity + 1e-6
    steps = np.abs(np.diff(positions, axis=0)) > max_step + 1e-9
    return int(outside.any(axis=1).sum() + too_fast.any(axis=1).sum() + steps.any(axis=1).sum())


def measure(mode: str, seconds: float, task: str, seed: int, out: Path) -> dict[str, float | int | None]:
    import rclpy
    from rclpy.context import Context
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState

    from fast_vla_ros.demo.episode_runner import EpisodeRunner
    from fast_vla_ros.demo.processes import NodeProcesses
    from fast_vla_ros.msg import ActionChunk

    env = loopback_dds_environment(domain_id_for_process())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    os.environ.update(env)
    processes = NodeProcesses(env, out / "logs" / mode, REPO_ROOT)
    for node in ("sim_node", "chunk_executor_node", "policy_node"):
        processes.start(node, PARAMS, {**NODE_OVERRIDES.get(node, {}), **MODES[mode].get(node, {})})
    context = Context()
    rclpy.init(context=context)
    runner = EpisodeRunner(context, processes.check_alive)
    commands: list[tuple[float, np.ndarray, np.ndarray]] = []
    frames: list[float] = []
    chunks: list[tuple[float, float]] = []  # (observation time t0, arrival on the robot side's clock)
    node = runner.node
    node.create_subscription(
        JointState, "/chunk_executor_node/command",
        lambda m: commands.append((stamp(m), np.array(m.position), np.array(m.velocity))), 100,
    )  # fmt: skip
    node.create_subscription(
        Image, "/camera/scene/image_raw", lambda m: frames.append(stamp(m)), qos_profile_sensor_data
    )
    # The newest command stamp is "now" on the robot side's clock, simulated time included.
    node.create_subscription(
        ActionChunk, "/action_chunk", lambda m: chunks.append((stamp(m), commands[-1][0] if commands else 0.0)), 10
    )
    try:
        runner.wait_until_ready(timeout_s=180.0)
        record = runner.begin_episode(task, seed, timeout_s=60.0)
        if not record.armed:
            raise RuntimeError(f"{mode}: the policy did not plan for the instruction in time")
        for recorded in (commands, frames, chunks):
            recorded.clear()
        runner.spin_until(lambda: False, seconds, "the measurement window")
        runner.end_episode(record)
    finally:
        runner.close()
        context.try_shutdown()
        processes.stop_all()

    executor_log = (out / "logs" / mode / "chunk_executor_node.log").read_text()
    ticks = np.asarray([t for t, _, _ in commands])
    periods_ms = np.diff(ticks) * 1e3
    jitter_ms = np.abs(periods_ms - CONTROL_PERIOD_S * 1e3)
    frame_stamps = np.asarray(sorted(frames))
    e2e_ms = []
    for t0, arrival in chunks:
        before, after = frame_stamps[frame_stamps <= t0], ticks[ticks > arrival]
        if len(before) and len(after):
            e2e_ms.append((after[0] - before[-1]) * 1e3)
    e2e = np.asarray(e2e_ms) if e2e_ms else np.full(1, np.nan)
    simulated = "use_sim_time" in MODES[mode].get("chunk_executor_node", {})
    return {
        "tick_jitter_ms_p50": float(np.percentile(jitter_ms, 50)),
        "tick_jitter_ms_p99": float(np.percentile(jitter_ms, 99)),
        "tick_period_sim_ms_p99": float(np.percentile(periods_ms, 99)) if simulated else None,
        "e2e_latency_ms_p50": float(np.percentile(e2e, 50)),
        "e2e_latency_ms_p99": float(np.percentile(e2e, 99)),
        "chunk_rate_hz": len(chunks) / seconds,
        "ticks": int(len(ticks)),
        "chunks": int(len(chunks)),
        "limit_violations": limit_violations(commands),
        # Without SCHED_FIFO the tick jitters several times more on a loaded machine.
        "sched_fifo": "control thread runs with SCHED_FIFO" in executor_log,
    }


def measure_two_hosts(seconds: float, out: Path) -> tuple[dict | None, str]:
    """The two-host row, or None and why it could not be made."""
    from fast_vla_ros.demo.network_namespaces import namespaces_unavailable
    from fast_vla_ros.demo.two_hosts import TwoHostLoop

    reason = namespaces_unavailable()
    if reason:
        return None, reason
    env = loopback_dds_environment(domain_id_for_process())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with TwoHostLoop(env, out / "two_host", REPO_ROOT) as loop:
        loop.robot.start("sim_node", PARAMS, NODE_OVERRIDES["sim_node"])
        loop.robot.start("chunk_executor_node", PARAMS, {"diagnostics_period": "0.05"})
        loop.policy.start("policy_node", PARAMS)
        result = loop.probe("--seconds", str(seconds), "--cut", f"{loop.link.a.namespace}:{loop.link.a.interface}")
    return result, ""


def image_conversion_ms(repeats: int = 200) -> dict[str, float]:
    from PIL import Image as PilImage
    from sensor_msgs.msg import CompressedImage, Image

    from fast_vla_ros.nodes.conversions import compressed_image_to_rgb, image_to_rgb
    from fast_vla_ros.nodes.image_preprocessing import ImagePreprocessing, fit_to_size

    def median_ms(work) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1e3)

    rng = np.random.default_rng(0)
    results = {}
    for height, width in ((480, 640), (224, 224)):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        raw = Image(height=height, width=width, encoding="bgr8", step=width * 3, data=pixels.tobytes())
        buffer = io.BytesIO()
        PilImage.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        jpeg = CompressedImage(format="jpeg", data=buffer.getvalue())
        size = f"{width}x{height}"
        results[f"bgr8_{size}"] = median_ms(lambda m=raw: image_to_rgb(m))
        results[f"jpeg_{size}"] = median_ms(lambda m=jpeg: compressed_image_to_rgb(m))
        results[f"resize_with_pad_{size}_to_224"] = median_ms(
            lambda p=pixels: fit_to_size(p, (224, 224), ImagePreprocessing.RESIZE_WITH_PAD)
        )
    return results


def check_floors(results: dict) -> list[str]:
    missed = []
    for mode, row in results["modes"].items():
        if row["tick_period_sim_ms_p99"] is None and not row["tick_jitter_ms_p99"] <= JITTER_FLOOR_MS:
            missed.append(f"{mode}: tick jitter p99 {row['tick_jitter_ms_p99']:.2f} ms > {JITTER_FLOOR_MS} ms")
        if row["tick_period_sim_ms_p99"] is not None and not row["tick_period_sim_ms_p99"] <= SIM_PERIOD_FLOOR_MS:
            missed.append(f"{mode}: tick period p99 {row['tick_period_sim_ms_p99']:.1f} simulated ms > "
                          f"{SIM_PERIOD_FLOOR_MS:.0f}")  # fmt: skip
        if row["limit_violations"]:
            missed.append(f"{mode}: {row['limit_violations']} commands outside the limits")
    two_host = results.get("two_host")
    if two_host is not None:
        hold = two_host["hold_after_cut_s"]
        if hold is None or hold > POLICY_TIMEOUT_S + 0.1:
            missed.append(f"two_host: hold after the cut {hold} s > policy_timeout + 0.1 s")
        if not two_host["resumed"]:
            missed.append("two_host: motion did not resume after the link was restored")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window per mode while armed")
    parser.add_argument("--task", default="push")
    parser.add_argument("--seed", type=int, default=910_000)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {list(MODES)}")
    parser.add_argument("--no-two-host", action="store_true", help="skip the two-host row")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a floor is missed (see the docstring)")
    args = parser.parse_args()
    out = REPO_ROOT / "out" / "ros_loop"
    modes = {mode: measure(mode, args.seconds, args.task, args.seed, out) for mode in args.modes.split(",")}
    results: dict[str, object] = dict(modes.get("wall", {}))  # today's keys: the wall-clock run
    results["modes"] = modes
    if not args.no_two_host:
        with tempfile.TemporaryDirectory() as scratch:
            two_host, reason = measure_two_hosts(min(args.seconds, 15.0), Path(scratch))
        if two_host is None:
            print(f"two_host: not measured: {reason}")
        else:
            results["two_host"] = two_host
    results["image_conversion_ms"] = image_conversion_ms()
    results["machine"] = describe_machine()

    columns = ["tick_jitter_ms_p50", "tick_jitter_ms_p99", "tick_period_sim_ms_p99", "e2e_latency_ms_p50",
               "e2e_latency_ms_p99", "chunk_rate_hz", "limit_violations"]  # fmt: skip
    print(f"{'mode':<20}" + "".join(f"{c:>24}" for c in columns))
    for mode, row in modes.items():
        cells = ["-" if row[c] is None else f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
                 for c in columns]  # fmt: skip
        print(f"{mode:<20}" + "".join(f"{cell:>24}" for cell in cells))
    if "two_host" in results:
        print("two_host: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in results["two_host"].items()))  # fmt: skip
    print("image conversion, ms per frame: " + ", ".join(
        f"{k} {v:.3f}" for k, v in results["image_conversion_ms"].items()))  # fmt: skip
    print(machine_line(results["machine"]) + f"; SCHED_FIFO control thread: {modes[next(iter(modes))]['sched_fifo']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    missed = check_floors(results) if args.check else []
    for line in missed:
        print(f"FLOOR MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
