"""Expert rollouts, and recording them into an episode data set.

Episode ``i`` of a run with seed ``S`` uses task ``tasks[i % len(tasks)]`` and episode seed ``S + i``,
so any single episode can be replayed with ``ArmSimulator.reset(task, S + i)``; the expert's own pace
variation is seeded from the same number. Only successful expert episodes are written (a failed
demonstration teaches the wrong thing); a failed episode is retried with seed ``S + i + N``, then
``S + i + 2N``, ... (``N`` episodes in the run), seeds no other episode of the run uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fast_vla_ros.data.episode_writer import EpisodeWriter, RecordedEpisode
from fast_vla_ros.data.frame_codec import encode_frame
from fast_vla_ros.sim.expert import CONTROL_DT, ScriptedExpert, UnreachablePose
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
    for action in plan:
        if on_step is not None:
            on_step(sim, action)
        sim.set_joint_targets(action)
        sim.advance(expert.control_dt)
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
        return RecordedEpisode(instruction, timestamps, state, velocity, action, self.frames, metadata)


def record_demonstrations(
    out: str | Path,
    tasks: Sequence[str],
    episodes: int,
    seed: int,
    image_size: tuple[int, int] = (224, 224),
    image_format: str = "jpeg",
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write ``episodes`` successful expert demonstrations to a new data set at ``out``.

    ``progress`` is called with 1 after each written episode (a tqdm ``update``). Returns the number of
    expert failures skipped per task.
    """
    skipped = {task: 0 for task in tasks}
    with ArmSimulator(image_size=image_size) as sim:
        expert = ScriptedExpert(sim.arm)
        extra = {"generator": "fast-vla sim-demos", "tasks": list(tasks), "seed": seed, "image_format": image_format}
        with EpisodeWriter(
            out,
            fps=FPS,
            joint_names=sim.joint_names,
            cameras=sim.camera_names,
            image_size=image_size,
            robot_type=ROBOT_TYPE,
            extra_info=extra,
        ) as writer:
            for i in range(episodes):
                task = tasks[i % len(tasks)]
                for attempt in range(MAX_ATTEMPTS_PER_EPISODE):
                    episode_seed = seed + i + attempt * episodes
                    recorder = _EpisodeRecorder(sim.camera_names, image_format)
                    if run_expert_episode(sim, expert, task, episode_seed, recorder):
                        metadata = {"family": task, "seed": episode_seed, "success": True}
                        writer.add(recorder.episode(sim.instruction, metadata))
                        break
                    skipped[task] += 1
                else:
                    raise RuntimeError(f"the expert failed {MAX_ATTEMPTS_PER_EPISODE} times in a row on '{task}'")
                if progress is not None:
                    progress(1)
    return skipped
