"""Benchmark of the chunk executor's seam strategies under inference latency.

    nice python benchmarks/execution.py [--json out/execution.json] [--check] [--quick]

Expert motion: 50 Hz reaches from the minimum-jerk generator (fast_vla_ros.data.minimum_jerk), slowed
until they stay within 70 % of the velocity and acceleration limits in config/sim_arm_limits.yaml, its
gripper dimension mapped onto the gripper's travel. ``expert_trajectories`` is the one function to swap
when the simulator's scripted expert records episodes.

Simulated policy: every ``--replan`` seconds (or every ``latency`` when that is longer: one inference at
a time) it observes the expert at ``t_obs`` and, ``latency`` later, delivers a chunk of H steps
``--chunk-dt`` apart (0.1 s: 10 Hz, so the executor resamples to 50 Hz) stamped ``t_obs``. A chunk is the
true future plus prediction error, per joint of range R: a constant offset N(0, 0.002 R), a drift
N(0, 0.005 R) per second of lookahead, and white noise N(0, 0.0005 R) per step. Every strategy sees the
same trajectories and the same chunks.

Five 60 s trajectories per cell (one 8 s trajectory with --quick). Metrics per strategy, latency and
horizon, over ticks after a 1 s warm-up:
  seam_vel_ratio  largest change of velocity from one tick to the next in the ticks where a new chunk
                  takes over or an old one ends, divided by the largest such change elsewhere; per joint
                  in units of its velocity limit, then the largest over joints. Measured on the blended
                  reference (before the safety filter, which would spread a replace step over many ticks).
  seam_acc_ratio  the same for the change of acceleration.
  tracking_rmse   commanded positions (after the safety filter) against the expert at the time each
                  command is for, rad (the gripper in m), over all joints and ticks.
  tick_us         CPU time of ChunkScheduler.tick (p50, p99), microseconds: this thread's CPU clock, so
                  time spent preempted by other processes on a shared machine does not count.
  filtered %      (table only; intervention_rate in the JSON) ticks in which the safety filter changed
                  the target.
The JSON aggregates horizons per latency: seam ratios are the worst horizon, RMSE and tick times pool
all ticks; ``by_horizon`` has each horizon. ``--check`` exits with 1 when a floor of the issue is missed.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fast_vla_ros.data.minimum_jerk import reaching_trajectory
from fast_vla_ros.execution import ChunkScheduler, ExecutionConfig, SchedulerConfig, Strategy
from fast_vla_ros.types import ActionChunk, JointLimits

ROOT = Path(__file__).resolve().parents[1]
LIMITS_FILE = ROOT / "config" / "sim_arm_limits.yaml"
PERIOD = 0.02
LATENCIES_MS = (0, 50, 150, 300)
HORIZONS = (10, 25, 50)
WARM_UP = 1.0  # s, excluded from the metrics: the first chunk fades in from the resting arm
LIMIT_FRACTION = 0.7
# At 150 ms, crossfade must cut replace's seam velocity ratio by this factor; tick p99 in microseconds.
FLOORS = {"crossfade_seam_vel_gain": 5.0, "tick_us_p99": 200.0}


def _to_arm(raw: np.ndarray, limits: JointLimits) -> np.ndarray:
    """Generator output (6 joints in rad, gripper 0..1) onto the arm, the gripper kept off its end stops."""
    out = raw.copy()
    lower, upper = limits.lower[-1], limits.upper[-1]
    out[:, -1] = lower + (0.05 + 0.9 * raw[:, -1]) * (upper - lower)
    return out


def _within_limits(trajectory: np.ndarray, limits: JointLimits) -> bool:
    velocity = np.diff(trajectory, axis=0) / PERIOD
    acceleration = np.diff(velocity, axis=0) / PERIOD
    return bool(
        np.all(np.abs(velocity) <= LIMIT_FRACTION * limits.max_velocity)
        and np.all(np.abs(acceleration) <= LIMIT_FRACTION * limits.max_acceleration)
    )


def expert_trajectories(limits: JointLimits, count: int, seconds: float, seed: int = 0) -> list[np.ndarray]:
    """``count`` expert trajectories ``[steps, D]`` at 50 Hz in ``limits`` joint order.

    Each is slowed (the generator's reaches last longer when told its samples are closer together) until
    its noise-free version stays within the limits; the same seed then gives the same reaches with noise.
    """
    steps = int(round(seconds / PERIOD))
    trajectories = []
    for index in range(count):
        for slowdown in (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0):
            dt = PERIOD / slowdown
            clean = _to_arm(reaching_trajectory(np.random.default_rng(seed + index), steps, 7, dt, 1.2, 0.0), limits)
            if _within_limits(clean, limits):
                break
        noisy = reaching_trajectory(np.random.default_rng(seed + index), steps, 7, dt, 1.2)
        trajectories.append(_to_arm(noisy, limits))
    return trajectories


@dataclass(frozen=True)
class Scenario:
    latency: float  # s
    horizon: int
    chunk_dt: float  # s
    replan: float  # s, between observations


def policy_chunks(
    truth: np.ndarray, scenario: Scenario, limits: JointLimits, rng: np.random.Generator
) -> list[tuple[float, ActionChunk]]:
    """(arrival time, chunk) for one trajectory, in arrival order."""
    span = limits.upper - limits.lower
    interval = max(scenario.replan, scenario.latency)
    lookahead = scenario.chunk_dt * np.arange(scenario.horizon)
    events = []
    for t_obs in np.arange(0.0, (len(truth) - 1) * PERIOD, interval):
        index = np.minimum(np.round((t_obs + lookahead) / PERIOD).astype(int), len(truth) - 1)
        error = (
            rng.normal(0, 0.002, span.shape) * span
            + np.outer(lookahead, rng.normal(0, 0.005, span.shape) * span)
            + rng.normal(0, 0.0005, (scenario.horizon, span.size)) * span
        )
        chunk = ActionChunk(truth[index] + error, float(t_obs), scenario.chunk_dt, limits.joint_names)
        events.append((float(t_obs + scenario.latency), chunk))
    return events


@dataclass
class Run:
    reference: np.ndarray  # [ticks, D], NaN while holding
    commanded: np.ndarray  # [ticks, D]
    truth: np.ndarray  # [ticks, D] at each command's target time
    seam: np.ndarray  # [ticks] bool: a new chunk takes over at this tick
    tick_us: np.ndarray  # [ticks]
    interventions: int  # ticks the safety filter changed the target


def simulate(
    truth: np.ndarray, events: list[tuple[float, ActionChunk]], strategy: Strategy, limits: JointLimits
) -> Run:
    config = ExecutionConfig(scheduler=SchedulerConfig(strategy=strategy, control_period=PERIOD))
    scheduler = ChunkScheduler(limits, config)
    names = limits.joint_names
    lead = int(round(config.scheduler.lookahead / PERIOD))
    ticks = len(truth) - lead
    scheduler.update_joint_state(names, truth[0], 0.0)
    scheduler.arm(0.0)
    reference, commanded = np.full((ticks, len(names)), np.nan), np.empty((ticks, len(names)))
    seam, cost = np.zeros(ticks, dtype=bool), np.empty(ticks)
    interventions, pending, measured, ends = 0, 0, truth[0], []
    for k in range(ticks):
        now = k * PERIOD
        while pending < len(events) and events[pending][0] <= now + 1e-9:
            arrival, chunk = events[pending]
            if scheduler.add_chunk(chunk, arrival):
                seam[k] = True
                ends.append(chunk)
            pending += 1
        scheduler.update_joint_state(names, measured, now)
        start = time.thread_time_ns()
        command = scheduler.tick(now)
        cost[k] = (time.thread_time_ns() - start) / 1e3
        if command.reference is not None:
            reference[k] = command.reference
        commanded[k] = measured = command.positions
        interventions += bool(command.interventions)
    # A chunk leaving the blend is a seam too (temporal_ensemble drops its vote at once): the first tick
    # whose target time is past the chunk's last step, computed as the ensemble does to get the same rounding.
    lookahead = config.scheduler.lookahead
    for chunk in ends:
        k = int((chunk.t_end - lookahead) / PERIOD) - 1
        while k < ticks and (k * PERIOD + lookahead - chunk.t0) / chunk.dt <= chunk.horizon - 1:
            k += 1
        if 0 <= k < ticks:
            seam[k] = True
    return Run(reference, commanded, truth[lead : lead + ticks], seam, cost, interventions)


def _jump_ratio(signal: np.ndarray, seam: np.ndarray, order: int, scale: np.ndarray, valid: np.ndarray) -> float:
    """Largest |change of the order-th derivative| at seams over the largest elsewhere (see module docstring).

    A step at tick s shows in the change of velocity at s and s+1 and in that of acceleration at s..s+2.
    """
    derivative = signal
    for _ in range(order):
        derivative = np.diff(derivative, axis=0, prepend=np.nan) / PERIOD
    change = np.max(np.abs(np.diff(derivative, axis=0, prepend=np.nan)) * PERIOD / scale, axis=1)
    near = np.zeros_like(seam)
    for shift in range(order + 1):
        near[shift:] |= seam[: len(seam) - shift]
    usable = valid & np.isfinite(change)
    at_seam, elsewhere = change[usable & near], change[usable & ~near]
    if at_seam.size == 0 or elsewhere.size == 0:
        return float("nan")
    return float(at_seam.max() / elsewhere.max())


def cell_metrics(runs: list[Run], limits: JointLimits) -> dict[str, float]:
    start = int(WARM_UP / PERIOD)
    seam_vel, seam_acc, squared, costs, ticks, interventions = [], [], [], [], 0, 0
    for run in runs:
        valid = np.zeros(len(run.seam), dtype=bool)
        valid[start:] = True
        seam_vel.append(_jump_ratio(run.reference, run.seam, 1, limits.max_velocity, valid))
        seam_acc.append(_jump_ratio(run.reference, run.seam, 2, limits.max_acceleration, valid))
        squared.append(((run.commanded[start:] - run.truth[start:]) ** 2).ravel())
        costs.append(run.tick_us)
        ticks += len(run.seam)
        interventions += run.interventions
    cost = np.concatenate(costs)
    return {
        "seam_vel_ratio": float(np.nanmax(seam_vel)),
        "seam_acc_ratio": float(np.nanmax(seam_acc)),
        "tracking_rmse": float(np.sqrt(np.mean(np.concatenate(squared)))),
        "tick_us_p50": float(np.percentile(cost, 50)),
        "tick_us_p99": float(np.percentile(cost, 99)),
        "intervention_rate": interventions / ticks,
    }


def _pooled(by_horizon: dict[str, dict[str, float]], runs: list[Run], limits: JointLimits) -> dict[str, float]:
    pooled = cell_metrics(runs, limits)
    pooled["seam_vel_ratio"] = max(m["seam_vel_ratio"] for m in by_horizon.values())
    pooled["seam_acc_ratio"] = max(m["seam_acc_ratio"] for m in by_horizon.values())
    return pooled


def run(trajectory_count: int, seconds: float, chunk_dt: float, replan: float) -> dict:
    limits = JointLimits.from_yaml(LIMITS_FILE)
    truths = expert_trajectories(limits, trajectory_count, seconds)
    results: dict = {strategy.value: {} for strategy in Strategy}
    for latency_ms in LATENCIES_MS:
        runs_by_strategy: dict[Strategy, list[Run]] = {strategy: [] for strategy in Strategy}
        by_horizon: dict[Strategy, dict[str, dict[str, float]]] = {strategy: {} for strategy in Strategy}
        for horizon in HORIZONS:
            scenario = Scenario(latency_ms / 1000, horizon, chunk_dt, replan)
            rng = np.random.default_rng(1000 * latency_ms + horizon)
            events = [policy_chunks(truth, scenario, limits, rng) for truth in truths]
            for strategy in Strategy:
                runs = [simulate(truth, ev, strategy, limits) for truth, ev in zip(truths, events, strict=True)]
                by_horizon[strategy][str(horizon)] = cell_metrics(runs, limits)
                runs_by_strategy[strategy].extend(runs)
        for strategy in Strategy:
            metrics = _pooled(by_horizon[strategy], runs_by_strategy[strategy], limits)
            results[strategy.value][str(latency_ms)] = metrics | {"by_horizon": by_horizon[strategy]}
    return results


def table(results: dict) -> str:
    header = (
        f"{'strategy':<18}{'latency ms':>11}{'H':>4}{'seam vel':>10}{'seam acc':>10}"
        f"{'rmse mrad':>11}{'tick p50 us':>13}{'tick p99 us':>13}{'filtered %':>12}"
    )
    lines = [header, "-" * len(header)]
    for strategy, by_latency in results.items():
        for latency, pooled in by_latency.items():
            for horizon, m in [*pooled["by_horizon"].items(), ("all", pooled)]:
                lines.append(
                    f"{strategy:<18}{latency:>11}{horizon:>4}{m['seam_vel_ratio']:>10.2f}{m['seam_acc_ratio']:>10.2f}"
                    f"{1000 * m['tracking_rmse']:>11.2f}{m['tick_us_p50']:>13.1f}{m['tick_us_p99']:>13.1f}"
                    f"{100 * m['intervention_rate']:>12.1f}"
                )
    return "\n".join(lines)


def check_floors(results: dict) -> list[str]:
    failures = []
    replace, crossfade = results["replace"]["150"], results["crossfade"]["150"]
    gain = replace["seam_vel_ratio"] / crossfade["seam_vel_ratio"]
    floor = FLOORS["crossfade_seam_vel_gain"]
    print(f"floor: at 150 ms crossfade cuts the seam velocity ratio {gain:.1f}x (>= {floor})")
    if not gain >= FLOORS["crossfade_seam_vel_gain"]:
        failures.append(f"crossfade gain {gain:.1f}x")
    worst = max(m["tick_us_p99"] for by_latency in results.values() for m in by_latency.values())
    print(f"floor: worst tick p99 {worst:.1f} us (<= {FLOORS['tick_us_p99']})")
    if not worst <= FLOORS["tick_us_p99"]:
        failures.append(f"tick p99 {worst:.1f} us")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--check", action="store_true", help="exit with 1 when a floor is missed")
    parser.add_argument("--quick", action="store_true", help="one short trajectory per cell (a smoke run)")
    parser.add_argument("--chunk-dt", type=float, default=0.1, help="policy chunk step, s (default 0.1)")
    parser.add_argument("--replan", type=float, default=0.2, help="time between observations, s (default 0.2)")
    args = parser.parse_args()
    count, seconds = (1, 8.0) if args.quick else (5, 60.0)
    results = run(count, seconds, args.chunk_dt, args.replan)
    print(table(results))
    failures = check_floors(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
