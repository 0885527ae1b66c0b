"""Expert rollouts, and recording them into an episode data set.

A run records either expert episodes from the reset pose or, with ``recovery``, recovery episodes
(``fast_vla_ros.sim.recovery``): the expert taking over from beside its plan, recorded from there.

Episode ``i`` of a run with seed ``S`` uses task ``tasks[i % len(tasks)]`` and episode seed ``S + i``,
so any single episode can be replayed with ``ArmSimulator.reset(task, S + i)``; the expert's own pace
variation is seeded from the same number. Only successful expert episodes are written (a failed
demonstration teaches the wrong thing); a failed episode is retried with seed ``S + i + N``, then
``S + i + 2N``, ... (``N`` episodes in the run), seeds no other episode of the run uses.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fast_vla_ros.data.episode_writer import EpisodeWriter, RecordedEpisode
from fast_vla_ros.data.frame_codec import encode_frame
from fast_vla_ros.sim.expert import CONTROL_DT, ScriptedExpert, UnreachablePose
from fast_vla_ros.sim.recovery import drive_to_a_miss
from fast_vla_ros.sim.simulator import ArmSimulator

FPS = int(round(1 / CONTROL_DT))
ROBOT_TYPE = "fast_vla_sim_arm"
MAX_ATTEMPTS_PER_EPISODE = 20

# Called once per control step with the simulator (observation state) and the action about to be sent.
StepObserver = Callable[[ArmSimulator, np.ndarray], None]


def run_expert_episode(
    sim: ArmSimulator, expert: ScriptedExpert, task: str, seed: int, on_step: StepObserver | None = None
) -> bool:
    """Reset to ``(task, seed)``, execute the expert's plan at 50 Hz, and return the task's success
    (False, without moving, when the expert finds no plan)."""
    sim.reset(task, seed)
    try:
        plan = expert.plan(sim.episode, sim.joint_positions(), np.random.default_rng((seed, 1)))
    except UnreachablePose:
        return False
    return _execute(sim, plan, expert.control_dt, on_step)


def run_recovery_episode(
    sim: ArmSimulator, expert: ScriptedExpert, task: str, seed: int, on_step: StepObserver | None = None
) -> bool:
    """Reset to ``(task, seed)``, drive the arm to a miss beside the plan (``on_step`` is not called), then
    execute the expert's recovery plan from there; False, without recording a step, when the miss or the
    recovery is unusable."""
    sim.reset(task, seed)
    rng = np.random.default_rng((seed, 2))
    if not drive_to_a_miss(sim, expert, rng):
        return False
    try:
        plan = expert.plan(sim.episode, sim.joint_positions(), rng, recovering=True)
    except UnreachablePose:
        return False
    return _execute(sim, plan, expert.control_dt, on_step)


def _execute(sim: ArmSimulator, plan: np.ndarray, dt: float, on_step: StepObserver | None) -> bool:
    for action in plan:
        if on_step is not None:
            on_step(sim, action)
        sim.set_joint_targets(action)
        sim.advance(dt)
    return sim.success()


@dataclass
class _EpisodeRecorder:
    """Collects one episode's frames and joint data step by step (the ``on_step`` of an expert rollout)."""

    cameras: tuple[str, ...]
    image_format: str

    def __post_init__(self) -> None:
        self.rows: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
        self.frames: dict[str, list[bytes]] = {c: [] for c in self.cameras}

    def __call__(self, sim: ArmSimulator, action: np.ndarray) -> None:
        for camera in self.cameras:
            self.frames[camera].append(encode_frame(sim.render(camera), self.image_format))
        self.rows.append((sim.time, sim.joint_positions(), sim.joint_velocities(), np.array(action)))

    def episode(self, instruction: str, metadata: dict) -> RecordedEpisode:
        timestamps, state, velocity, action = (np.array(column) for column in zip(*self.rows, strict=True))
        timestamps = timestamps - timestamps[0]  # a recovery's recording starts after the unrecorded miss
        return RecordedEpisode(instruction, timestamps, state, velocity, action, self.frames, metadata)


@dataclass(frozen=True)
class _EpisodeJob:
    """Episode ``index`` of a run: its task and the seeds to try, in order, until the expert succeeds."""

    index: int
    task: str
    seeds: tuple[int, ...]
    recovery: bool


# One simulator and expert per process, built once (the pool initializer) and reused for every job.
_worker: tuple[ArmSimulator, ScriptedExpert, str] | None = None


def _start_worker(image_size: tuple[int, int], image_format: str) -> None:
    global _worker
    sim = ArmSimulator(image_size=image_size)
    _worker = (sim, ScriptedExpert(sim.arm), image_format)


def _record_job(job: _EpisodeJob) -> tuple[RecordedEpisode, int]:
    """The first successful expert episode among the job's seeds, and how many failed before it."""
    assert _worker is not None, "_start_worker must run first"
    sim, expert, image_format = _worker
    run = run_recovery_episode if job.recovery else run_expert_episode
    for failures, episode_seed in enumerate(job.seeds):
        recorder = _EpisodeRecorder(sim.camera_names, image_format)
        if run(sim, expert, job.task, episode_seed, recorder):
            metadata = {"family": job.task, "seed": episode_seed, "success": True, "recovery": job.recovery}
            return recorder.episode(sim.instruction, metadata), failures
    raise RuntimeError(f"the expert failed {len(job.seeds)} times in a row on '{job.task}'")


def record_demonstrations(
    out: str | Path,
    tasks: Sequence[str],
    episodes: int,
    seed: int,
    image_size: tuple[int, int] = (224, 224),
    image_format: str = "jpeg",
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    recovery: bool = False,
) -> dict[str, int]:
    """Write ``episodes`` successful expert demonstrations to a new data set at ``out``.

    With ``workers > 1`` episodes are simulated and rendered in that many processes (rendering is
    single-threaded, so this scales with cores); they are written in episode order either way, so the
    data set does not depend on ``workers``. ``progress`` is called with 1 after each written episode
    (a tqdm ``update``). ``recovery`` records recovery episodes instead of expert episodes. Returns the
    number of failed attempts skipped per task (an unusable miss counts as one).
    """
    jobs = [
        _EpisodeJob(
            i, tasks[i % len(tasks)], tuple(seed + i + a * episodes for a in range(MAX_ATTEMPTS_PER_EPISODE)), recovery
        )
        for i in range(episodes)
    ]
    skipped = {task: 0 for task in tasks}
    with ArmSimulator(image_size=image_size) as sim:
        joint_names, cameras = sim.joint_names, sim.camera_names
    extra = {
        "generator": "fast-vla sim-demos",
        "tasks": list(tasks),
        "seed": seed,
        "image_format": image_format,
        "recovery": recovery,
    }
    with EpisodeWriter(
        out,
        fps=FPS,
        joint_names=joint_names,
        cameras=cameras,
        image_size=image_size,
        robot_type=ROBOT_TYPE,
        extra_info=extra,
    ) as writer:
        for job, (episode, failures) in zip(jobs, _run_jobs(jobs, image_size, image_format, workers), strict=True):
            writer.add(episode)
            skipped[job.task] += failures
            if progress is not None:
                progress(1)
    return skipped


def _run_jobs(
    jobs: list[_EpisodeJob], image_size: tuple[int, int], image_format: str, workers: int
) -> Iterator[tuple[RecordedEpisode, int]]:
    global _worker
    if workers <= 1:
        _start_worker(image_size, image_format)
        try:
            yield from map(_record_job, jobs)
        finally:
            _worker[0].close()
            _worker = None
        return
    # spawn, not fork: a forked child would inherit the parent's rendering context.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(image_size, image_format)) as pool:
        yield from pool.imap(_record_job, jobs)
