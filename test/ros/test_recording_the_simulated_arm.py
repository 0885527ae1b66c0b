"""The flywheel over real DDS: sim_node, recorder_node and expert_teleop_node as separate processes. The
teleop stand-in lays out each episode, publishes its instruction, starts the recorder and streams the
expert's plan as forward position commands; the data set that comes out holds the sim's instructions, the
arm's measured motion and exactly the commands the teleop sent. The test also records the same topics into
a rosbag2 bag (as `ros2 bag record` would: serialized messages with receive times), imports it, fine-tunes
the shipped default policy on the import for a few steps, loads the result and predicts with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String

from fast_vla_ros.cli import main
from fast_vla_ros.data.bag_import import import_bag
from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.data.recording_config import load_recording_config
from fast_vla_ros.data.training_chunks import TrainingChunks
from fast_vla_ros.demo.episode_runner import NODE_OVERRIDES
from fast_vla_ros.demo.processes import NodeProcesses
from fast_vla_ros.policy.checkpoint import load_policy
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


LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
BAG_TOPICS = {
    "/joint_states": JointState,
    "/forward_position_controller/commands": Float64MultiArray,
    "/camera/scene/image_raw": Image,
    "/camera/wrist/image_raw": Image,
    "/instruction": String,
}


class BagRecorder:
    """What `ros2 bag record` does, from the harness's node: each message serialized (CDR) as it arrives,
    with its receive time, into an MCAP bag written by rosbags."""

    def __init__(self, harness: Any, path: Path) -> None:
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        types = get_typestore(Stores.ROS2_HUMBLE)
        self._clock = harness.node.get_clock()
        self.counts: dict[str, int] = {}
        for topic, msg_type in BAG_TOPICS.items():
            name = msg_type.__module__.split(".")[0] + "/msg/" + msg_type.__name__
            connection = self._writer.add_connection(topic, name, typestore=types)
            # as `ros2 bag record` adapts to its publishers: the instruction is latched (transient local)
            qos = qos_profile_sensor_data if msg_type is not String else LATCHED
            harness.node.create_subscription(
                msg_type, topic, lambda msg, c=connection: self._write(c, msg), qos, raw=False
            )

    def _write(self, connection, msg) -> None:
        self._writer.write(connection, self._clock.now().nanoseconds, serialize_message(msg))
        self.counts[connection.topic] = self.counts.get(connection.topic, 0) + 1

    def close(self) -> None:
        self._writer.close()


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
    bag = BagRecorder(harness, tmp_path / "session_bag")
    try:
        # the teleop operates the episodes: sim_node neither forwards instructions nor holds the arm on reset
        overrides = {**NODE_OVERRIDES["sim_node"], "camera_rate": "30.0", "image_size": f"[{IMAGE},{IMAGE}]"}
        processes.start("sim_node", SIM_PARAMS, overrides)
        processes.start("recorder_node", params)
        sensors = ["/joint_states", "/camera/scene/image_raw", "/camera/wrist/image_raw"]
        harness.spin_until(lambda: all(bag.counts.get(t) for t in sensors), what="the bag recording the sim")
        processes.start("expert_teleop_node", params)

        def done() -> bool:
            processes.check_alive()
            return bool(statuses) and json.loads(statuses[-1].data)["state"] == "done"

        harness.spin_until(done, timeout_s=240.0, what="the teleop to finish its episodes")
        bag.close()
        yield json.loads(statuses[-1].data), output, params
    finally:
        harness.close()
        context.try_shutdown()
        processes.stop_all()


def test_the_teleop_records_the_episodes_it_was_asked_for(recorded):
    status, output, _ = recorded
    # an attempt may fail on a loaded machine (the recorder refusing an episode whose joint states stalled):
    # the teleop then goes on with the next seed, and counts only episodes the recorder wrote
    assert status["kept"] == EPISODES and status["failed"] <= 2, status
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


def test_the_bag_of_the_session_imports_to_the_same_episodes_and_fine_tunes_the_default_policy(recorded, tmp_path):
    status, output, params = recorded
    bag, imported = output.parent / "session_bag", tmp_path / "imported"
    report = import_bag(bag, load_recording_config(params), imported)
    live, from_bag = EpisodeDataset(output), EpisodeDataset(imported)
    # the bag also saw the teleop's discarded attempts: the kept episodes are among its episodes
    kept = [e.instruction for e in live.episodes]
    assert set(kept) <= {e.instruction for e in from_bag.episodes}, report.skipped
    for same in live.episodes:
        # the bag's episode runs from the instruction to the last command, the live one from the start call
        # to the stop call a moment after it: both end on the plan's last command. A discarded attempt may
        # have had the same instruction, so one of the bag's episodes of that text must match.
        live_last = live.action[live.frame_rows(same.index)][-1]
        candidates = [e for e in from_bag.episodes if e.instruction == same.instruction]
        matches = [
            e for e in candidates
            if np.abs(from_bag.action[from_bag.frame_rows(e.index)][-1] - live_last).max() < 1e-5
            and e.length >= same.length - 25
        ]  # fmt: skip
        assert matches, (same, candidates)
    policy_dir = tmp_path / "fine_tuned"
    command = ["train", "--data", str(imported), "--init-from", "default", "--out", str(policy_dir), "--steps", "3",
               "--batch-size", "2", "--validation-episodes", "0", "--lookahead-steps", "0", "--threads", "1",
               "--checkpoint-every", "3", "--validate-every", "3"]  # fmt: skip
    assert main(command) == 0
    policy = load_policy(policy_dir)
    observation, _ = next(iter(TrainingChunks(imported, horizon=50)))
    result = policy.predict(observation)
    assert result.chunk is not None and result.chunk.actions.shape == (50, 7)
    assert np.all(np.isfinite(result.chunk.actions))
