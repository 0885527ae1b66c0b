"""Closed-loop episodes without ROS: policy -> chunk -> ChunkScheduler -> simulator, on simulated time.

The same pieces the two ROS nodes run, wired in one process so ``fast-vla eval`` and the benchmarks can
score a policy on the simulator's tasks. Inference really runs, and its measured wall time is charged to
simulated time: a chunk computed from the observation at ``t`` reaches the executor at ``t + latency``,
exactly as it would reach ``chunk_executor_node``, so latency compensation is exercised, not skipped.
While one inference is "in flight" no other starts (one worker thread, as in ``policy_node``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from fast_vla_ros.evaluation.episode_media import contact_sheet, write_video
from fast_vla_ros.execution.config import REPLAN_PERIOD_S, ExecutionConfig
from fast_vla_ros.execution.scheduler import ChunkScheduler
from fast_vla_ros.policy.errors import ObservationError
from fast_vla_ros.policy.runtime import Policy, PolicyResult, StageTimes
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.types import Observation


@dataclass
class EpisodeResult:
    task: str
    seed: int
    success: bool
    seconds: float  # simulated time until success or the time limit
    latencies_s: list[float] = field(default_factory=list)  # wall time of each predict
    tokens: list[int] = field(default_factory=list)  # action tokens of each predict
    forward_passes: list[int] = field(default_factory=list)  # model calls of each predict, prefill included
    timings: list[StageTimes] = field(default_factory=list)  # stage breakdown of each predict
    failed_predictions: list[str] = field(default_factory=list)  # statuses of predictions without a chunk


def observe(sim: ArmSimulator, cameras: tuple[str, ...]) -> Observation:
    return Observation(
        images={camera: sim.render(camera) for camera in cameras},
        state=sim.joint_positions(),
        joint_names=sim.joint_names,
        instruction=sim.instruction,
        stamp=sim.time,
    )


def run_episode(
    policy: Policy,
    sim: ArmSimulator,
    task: str,
    seed: int,
    cameras: tuple[str, ...],
    max_seconds: float = 10.0,
    replan_period: float = REPLAN_PERIOD_S,
    execution: ExecutionConfig | None = None,
    on_tick: Callable[[ArmSimulator], None] | None = None,
) -> EpisodeResult:
    """One seeded episode; a new observation is taken every ``replan_period`` s.

    ``on_tick(sim)`` is called once per control period after the command is set (e.g. a ``FrameRecorder``).
    """
    sim.reset(task, seed)
    scheduler = ChunkScheduler(sim.arm.limits, execution)
    period = scheduler.config.scheduler.control_period
    result = EpisodeResult(task, seed, success=False, seconds=0.0)
    in_flight: tuple[float, PolicyResult] | None = None  # (arrival time, prediction)
    next_observation = 0.0
    scheduler.update_joint_state(sim.joint_names, sim.joint_positions(), sim.time)
    scheduler.arm(sim.time)
    while sim.time < max_seconds:
        now = sim.time
        scheduler.update_joint_state(sim.joint_names, sim.joint_positions(), now)
        if in_flight is not None and now >= in_flight[0]:
            if in_flight[1].chunk is not None:
                scheduler.add_chunk(in_flight[1].chunk, now)
            in_flight = None
        if in_flight is None and now >= next_observation:
            try:
                prediction = policy.predict(observe(sim, cameras))
            except ObservationError as error:
                result.failed_predictions.append(str(error))
            else:
                result.latencies_s.append(prediction.timing.total_s)
                result.tokens.append(len(prediction.action_tokens))
                result.forward_passes.append(prediction.forward_passes)
                result.timings.append(prediction.timing)
                if prediction.chunk is None:
                    result.failed_predictions.append(prediction.status)
                in_flight = (now + prediction.timing.total_s, prediction)
            next_observation = now + replan_period
        command = scheduler.tick(now)
        if command.positions is not None:
            sim.set_joint_targets(dict(zip(command.joint_names, command.positions.tolist(), strict=True)))
        if on_tick is not None:
            on_tick(sim)
        sim.advance(period)
        if sim.success():
            result.success = True
            break
    result.seconds = sim.time
    return result


class FrameRecorder:
    """``on_tick`` for ``run_episode``: every camera side by side, one frame per control period (50 Hz)."""

    def __init__(self, cameras: tuple[str, ...]) -> None:
        self.cameras = cameras
        self.frames: list[np.ndarray] = []

    def __call__(self, sim: ArmSimulator) -> None:
        self.frames.append(np.concatenate([sim.render(camera) for camera in self.cameras], axis=1))


def write_episode_media(directory: Path, result: EpisodeResult, frames: list[np.ndarray]) -> tuple[Path, Path]:
    """``<task>_seed<seed>_<success|failure>.mp4`` and a PNG contact sheet of the same episode."""
    stem = f"{result.task}_seed{result.seed}_{'success' if result.success else 'failure'}"
    video, sheet = directory / f"{stem}.mp4", directory / f"{stem}.png"
    stacked = np.stack(frames)
    write_video(video, stacked)
    iio.imwrite(sheet, contact_sheet(stacked))
    return video, sheet


def summarize(results: list[EpisodeResult]) -> dict:
    """Success per task family, and latency/token statistics over every prediction made."""
    families = sorted({r.task for r in results})
    success = {f: float(np.mean([r.success for r in results if r.task == f])) for f in families}
    latencies = np.array([s for r in results for s in r.latencies_s]) * 1e3
    tokens = np.array([t for r in results for t in r.tokens])
    passes = np.array([p for r in results for p in r.forward_passes])
    return {
        "success": success,
        "success_mean": float(np.mean(list(success.values()))) if success else 0.0,
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        "latency_ms_p99": float(np.percentile(latencies, 99)) if latencies.size else float("nan"),
        "tokens_mean": float(tokens.mean()) if tokens.size else float("nan"),
        "forward_passes_mean": float(passes.mean()) if passes.size else float("nan"),
        "failed_predictions": sum(len(r.failed_predictions) for r in results),
    }
