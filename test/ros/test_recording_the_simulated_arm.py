"""The recording half of the flywheel over real DDS: sim_node, recorder_node and expert_teleop_node as
separate processes. The teleop stand-in lays out each episode, publishes its instruction, starts the
recorder and streams the expert's plan as forward position commands; the data set that comes out holds
the sim's instructions, the arm's measured motion and exactly the commands the teleop sent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from std_msgs.msg import String

from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.demo.processes import NodeProcesses
from fast_vla_ros.sim.expert import ScriptedExpert
from fast_vla_ros.sim.simulator import ArmSimulator

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
SIM_PARAMS = REPO_ROOT / "config" / "sim.yaml"
RECORDING_PARAMS = REPO_ROOT / "config" / "recording_sim.yaml"
IMAGE = 64
SEED = 7100
EPISODES = 2


def params_file(tmp_path: Path, output: Path) -> Path:
    """config/recording_sim.yaml with this test's output directory, image size and episode count."""
    document = yaml.safe_load(RECORDING_PARAMS.read_text())
    document["recorder_node"]["ros__parameters"].update(output_dir=str(output), image_size=[IMAGE, IMAGE])
    document["expert_teleop_node"]["ros__parameters"].update(seed=SEED, episodes=EPISODES)
    path = tmp_path / "recording.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def recorded(ros_env, tmp_path_factory):
    import rclpy
    from rclpy.context import Context

    from test.ros.conftest import Harness

    tmp_path = tmp_path_factory.mktemp("flywheel")
    output = tmp_path / "dataset"
    params = params_file(tmp_path, output)
    processes = NodeProcesses(ros_env, tmp_path / "logs", REPO_ROOT)
    context = Context()
    rclpy.init(context=context)
    harness = Harness(context)
    statuses = harness.record(String, "/expert_teleop_node/status")
    try:
        processes.start("sim_node", SIM_PARAMS, {"camera_rate": "30.0", "image_size": f"[{IMAGE},{IMAGE}]"})
        processes.start("recorder_node", params)
        processes.start("expert_teleop_node", params)

        def done() -> bool:
            processes.check_alive()
            return bool(statuses) and json.loads(statuses[-1].data)["state"] == "done"

        harness.spin_until(done, timeout_s=240.0, what="the teleop to finish its episodes")
        yield json.loads(statuses[-1].data), output, params
    finally:
        harness.close()
        context.try_shutdown()
        processes.stop_all()


def test_the_teleop_records_the_episodes_it_was_asked_for(recorded):
    status, output, _ = recorded
    assert status["kept"] == EPISODES and not status["last_error"], status
    dataset = EpisodeDataset(output)
    assert len(dataset) == EPISODES and dataset.cameras == ("scene", "wrist") and dataset.fps == 50
    with ArmSimulator() as sim:
        instructions = {sim.reset("touch", seed) for seed in range(SEED, status["seed"])}
    assert {e.instruction for e in dataset.episodes} <= instructions
    for episode in dataset.episodes:
        assert episode.metadata["success"] is True
        assert episode.length == int(np.floor(episode.metadata["duration_s"] * 50 + 1e-6)) + 1
        frames = [dataset.image(episode.index, k, "scene") for k in (0, episode.length - 1)]
        assert frames[0].shape == (IMAGE, IMAGE, 3) and np.abs(frames[0].astype(int) - frames[1]).max() > 0


def test_recorded_actions_are_the_commands_the_teleop_sent_in_order(recorded):
    """Each row's action is a row of the expert's plan for that layout (the teleop streams nothing else), the
    rows advance through the plan in order, and the measured state follows the commands."""
    status, output, _ = recorded
    dataset = EpisodeDataset(output)
    with ArmSimulator() as sim:
        expert = ScriptedExpert(sim.arm)
        for episode in dataset.episodes:
            seed = next(s for s in range(SEED, status["seed"]) if sim.reset("touch", s) == episode.instruction)
            rows = dataset.frame_rows(episode.index)
            plan = expert.plan(sim.episode, dataset.state[rows][0], np.random.default_rng((seed, 1)))
            commanded = dataset.action[rows][episode.metadata["rows_without_command"] :].astype(np.float64)
            distance = np.abs(commanded[:, None, :] - plan[None, :, :]).max(axis=2)
            nearest = distance.argmin(axis=1)
            assert distance.min(axis=1).max() < 1e-3, "an action that is no row of the expert's plan"
            assert np.all(np.diff(nearest) >= 0), "the actions went back along the plan"
            assert distance[-1, -1] < 1e-3, "the episode ended before the plan's last command"
            measured = dataset.state[rows][-1]
            assert np.abs(measured - plan[-1]).max() < 0.05, "the arm did not follow the commands"

