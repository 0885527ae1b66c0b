"""Recovery demonstrations: they start at rest beside the expert's plan, clear of the objects, and the
expert's correction from there succeeds within the joint limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fast_vla_ros.cli import main
from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.sim.demonstrations import run_recovery_episode
from fast_vla_ros.sim.expert import CONTROL_DT, REALIGN_MIN_HEIGHT, ScriptedExpert, waypoints
from fast_vla_ros.sim.recovery import MISS_RADIUS, misjudged
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.sim.tasks import TASK_FAMILIES


@pytest.fixture(scope="module")
def sim():
    with ArmSimulator(image_size=(32, 32)) as simulator:
        yield simulator


@settings(max_examples=50, deadline=None)
@given(family=st.sampled_from(sorted(TASK_FAMILIES)), seed=st.integers(0, 2**32 - 1))
def test_a_misjudged_target_lies_within_the_miss_radius_and_nothing_else_changes(family, seed):
    rng = np.random.default_rng(seed)
    episode = TASK_FAMILIES[family].sample(rng)
    believed = misjudged(episode, rng)
    offset = np.hypot(believed.target.x - episode.target.x, believed.target.y - episode.target.y)
    assert MISS_RADIUS[0] - 1e-9 <= offset <= MISS_RADIUS[1] + 1e-9
    assert believed.layout[1:] == episode.layout[1:]
    assert (believed.family, believed.instruction, believed.direction) == (
        episode.family,
        episode.instruction,
        episode.direction,
    )
    assert (believed.target.colour, believed.target.shape) == (episode.target.colour, episode.target.shape)


class Recording:
    """``on_step``: the tcp, joint velocities and target position at the first recorded step, and the actions."""

    def __init__(self) -> None:
        self.start: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.actions: list[np.ndarray] = []

    def __call__(self, sim: ArmSimulator, action: np.ndarray) -> None:
        if self.start is None:
            tcp = sim.data.site_xpos[sim.arm.tcp_site_id].copy()
            self.start = (tcp, sim.joint_velocities(), sim.object_position(0))
        self.actions.append(action)


@pytest.mark.parametrize("family", sorted(TASK_FAMILIES))
def test_a_recovery_starts_at_rest_beside_the_plan_and_succeeds_within_limits(sim, family):
    expert = ScriptedExpert(sim.arm)
    limits = sim.arm.limits
    for seed in range(20, 30):  # a miss can be unusable (out of reach, target bumped): the next seed then
        recording = Recording()
        if run_recovery_episode(sim, expert, family, seed, recording):
            break
    else:
        pytest.fail("no recovery among seeds 20..29 succeeded")
    tcp, velocity, target = recording.start
    assert np.abs(velocity[:6]).max() < 0.05, "the recording should start with the arm at rest"
    assert tcp[2] >= REALIGN_MIN_HEIGHT - 0.005, "the arm should stop clear of the objects"
    sim.reset(family, seed)
    approach_end = np.array(waypoints(sim.episode)[0].position[:2])
    assert np.linalg.norm(tcp[:2] - approach_end) > 0.005, "the recording should start beside the plan"
    np.testing.assert_allclose(target, sim.object_position(0), atol=0.005)  # the miss left the target alone
    plan = np.array(recording.actions)
    assert np.all(plan >= limits.lower) and np.all(plan <= limits.upper)
    velocity = np.diff(plan, axis=0) / CONTROL_DT
    assert np.all(np.abs(velocity) <= limits.max_velocity)
    assert np.all(np.abs(np.diff(velocity, axis=0)) / CONTROL_DT <= limits.max_acceleration)


def test_sim_demos_records_recovery_episodes_from_their_first_recorded_step(tmp_path):
    out = tmp_path / "recovery"
    argv = ["sim-demos", "--recovery", "--tasks", "touch", "--episodes", "1", "--seed", "7", "--image-size", "32"]
    assert main([*argv, "--out", str(out)]) == 0
    dataset = EpisodeDataset(out)
    info = dataset.episodes[0]
    assert info.metadata["recovery"] is True and info.metadata["family"] == "touch"
    timestamps = dataset.timestamp[dataset.frame_rows(0)]
    assert timestamps[0] == 0.0
    np.testing.assert_allclose(np.diff(timestamps), CONTROL_DT, atol=1e-6)
