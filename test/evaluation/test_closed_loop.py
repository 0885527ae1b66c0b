"""closed_loop.run_episode with a policy that cannot be wrong: the scripted expert's own plan, cut into chunks.

If this fails, a policy's low success is the plumbing's fault (time alignment, latency charging, the
scheduler), not the model's: every family must succeed even with 300 ms of inference per chunk.
"""

from __future__ import annotations

import numpy as np
import pytest

from fast_vla_ros.evaluation.closed_loop import FrameRecorder, run_episode, summarize
from fast_vla_ros.execution.config import REPLAN_PERIOD_S
from fast_vla_ros.policy.runtime import PolicyResult, StageTimes
from fast_vla_ros.sim.expert import CONTROL_DT, ScriptedExpert
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.types import ActionChunk, Observation


class ExpertChunks:
    """Answers each observation with the next second of the expert's plan (planned at the episode's reset)."""

    def __init__(self, sim: ArmSimulator, seed: int, latency_s: float) -> None:
        self.sim, self.seed, self.latency_s = sim, seed, latency_s
        self.plan: np.ndarray | None = None

    def predict(self, observation: Observation) -> PolicyResult:
        if self.plan is None:  # the first observation comes right after run_episode's reset
            rng = np.random.default_rng((self.seed, 1))  # the rng run_expert_episode gives the expert
            self.plan = ScriptedExpert(self.sim.arm).plan(self.sim.episode, observation.state, rng)
        start = round(observation.stamp / CONTROL_DT)
        rows = np.minimum(np.arange(start, start + 50), len(self.plan) - 1)
        chunk = ActionChunk(self.plan[rows], observation.stamp, CONTROL_DT, observation.joint_names)
        return PolicyResult(chunk, [0] * 10, "ok", StageTimes(0.0, self.latency_s, 0.0, 0.0))

    def warmup(self) -> None:
        pass


@pytest.mark.parametrize("task", ["touch", "push", "pick"])
def test_expert_chunks_succeed_through_the_closed_loop_despite_latency(task):
    seed = 100000
    with ArmSimulator(image_size=(32, 32)) as sim:
        recorder = FrameRecorder(sim.camera_names)
        result = run_episode(ExpertChunks(sim, seed, 0.3), sim, task, seed, ("scene",), on_tick=recorder)
    assert result.success, f"{task} seed {seed}: the expert's chunks failed after {result.seconds:.2f} s"
    assert result.seconds < 6.0
    # One prediction per replan period (the default, longer than the 0.3 s each is in flight).
    assert len(result.timings) == len(result.latencies_s) == pytest.approx(result.seconds / REPLAN_PERIOD_S, abs=1)
    assert all(t.total_s == pytest.approx(0.3) for t in result.timings)
    assert len(recorder.frames) == round(result.seconds / CONTROL_DT)
    assert recorder.frames[0].shape == (32, 64, 3)
    assert summarize([result])["success"] == {task: 1.0}
