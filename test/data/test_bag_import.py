"""rosbag2 import: a real bag written with the rosbags library (MCAP and sqlite3), episodes found by the
instruction topic or by pauses in the commands, rows and actions as the live recorder makes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from fast_vla_ros.cli import main
from fast_vla_ros.data.bag_import import find_episodes, import_bag
from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.data.recording_config import RecordingConfig, load_recording_config

JOINTS = ("j1", "j2", "gripper")
SLOPE = np.array([0.1, -0.2, 0.01])
OFFSET = 0.05
T0 = 1000.0
SIZE = 16
INSTRUCTIONS = ((0.5, "touch the red cube"), (4.0, "lift the blue can"))
COMMANDS = ((0.6, 2.6), (4.1, 5.6))  # s after T0: commands stream at 50 Hz in these stretches
SKIPPED_FRAMES = {140, 141, 142, 143}  # camera frames (30 Hz) lost in the second episode
END = 6.0
TYPES = get_typestore(Stores.ROS2_HUMBLE)


def config(**changes) -> RecordingConfig:
    return RecordingConfig(
        joint_names=JOINTS,
        command_joint_names=("gripper", "j1", "j2"),
        camera_names=("scene",),
        camera_topics=("/camera/scene/image_raw",),
        image_size=(SIZE, SIZE),
        image_format="png",
        **changes,
    )


def header(t: float):
    Header, Time = TYPES.types["std_msgs/msg/Header"], TYPES.types["builtin_interfaces/msg/Time"]
    sec = int(np.floor(t))
    return Header(stamp=Time(sec=sec, nanosec=int(round((t - sec) * 1e9))), frame_id="")


def write_bag(path: Path, storage: StoragePlugin) -> Path:
    """Joint states at 100 Hz along a ramp, forward commands leading them by OFFSET, one camera at 30 Hz
    whose frame n is a flat image of value n, and an instruction before each episode. Each message is
    received 3 ms after its stamp."""
    t = TYPES.types
    messages: list[tuple[float, str, object]] = []
    for k in range(int(END * 100)):
        s = T0 + k / 100
        q = SLOPE * (s - T0)
        messages.append((s, "/joint_states", t["sensor_msgs/msg/JointState"](
            header=header(s), name=list(JOINTS), position=q, velocity=np.zeros(0), effort=np.zeros(0))))
    for begin, end in COMMANDS:
        for k in range(int(round((end - begin) * 50)) + 1):
            s = T0 + begin + k / 50
            q = SLOPE * (s - T0) + OFFSET
            layout = t["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
            messages.append((s, "/forward_position_controller/commands",
                             t["std_msgs/msg/Float64MultiArray"](layout=layout, data=np.array([q[2], q[0], q[1]]))))
    for n in range(int(END * 30)):
        if n in SKIPPED_FRAMES:
            continue
        s = T0 + n / 30
        pixels = np.full(SIZE * SIZE * 3, n * 4 % 256, dtype=np.uint8)  # 4 grey levels apart: H.264 keeps them
        messages.append((s, "/camera/scene/image_raw", t["sensor_msgs/msg/Image"](
            header=header(s), height=SIZE, width=SIZE, encoding="rgb8", is_bigendian=0, step=SIZE * 3, data=pixels)))
    for s, text in INSTRUCTIONS:
        messages.append((T0 + s, "/instruction", t["std_msgs/msg/String"](data=text)))
    with Writer(path, version=9, storage_plugin=storage) as writer:
        connections = {}
        for _, topic, msg in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=TYPES)
        for s, topic, msg in sorted(messages, key=lambda m: m[0]):
            data = TYPES.serialize_cdr(msg, msg.__msgtype__)
            writer.write(connections[topic], int(round((s + 0.003) * 1e9)), data)
    return path
    # fmt: skip


@pytest.fixture(scope="module", params=[StoragePlugin.MCAP, StoragePlugin.SQLITE3], ids=["mcap", "sqlite3"])
def bag(request, tmp_path_factory) -> Path:
    return write_bag(tmp_path_factory.mktemp("bags") / "session", request.param)


def test_episodes_start_at_each_instruction_and_end_at_their_last_command(bag):
    episodes = find_episodes(bag, config())
    assert [e.instruction for e in episodes] == [text for _, text in INSTRUCTIONS]
    assert [(round(e.start - T0, 3), round(e.stop - T0, 3)) for e in episodes] == [(0.503, 2.603), (4.003, 5.603)]
    by_gap = find_episodes(bag, config(bag_split="gap", bag_split_gap=1.0))
    assert [(round(e.start - T0, 3), round(e.stop - T0, 3)) for e in by_gap] == [(0.603, 2.603), (4.103, 5.603)]
    assert [e.instruction for e in by_gap] == [text for _, text in INSTRUCTIONS]


def test_the_imported_rows_hold_the_resampled_state_the_commands_and_the_newest_frame(bag, tmp_path):
    report = import_bag(bag, config(), tmp_path / "ds")
    assert not report.skipped and [index for index, _ in report.written] == [0, 1]
    dataset = EpisodeDataset(tmp_path / "ds")
    assert [e.instruction for e in dataset.episodes] == [text for _, text in INSTRUCTIONS]
    for index, episode in enumerate(dataset.episodes):
        rows = dataset.frame_rows(index)
        assert episode.length == int(np.floor(episode.metadata["duration_s"] * 50 + 1e-6)) + 1
        start = episode.metadata["bag_start_s"]
        times = start + dataset.timestamp[rows].astype(np.float64)
        np.testing.assert_allclose(dataset.state[rows], np.outer(times - T0, SLOPE), atol=2e-4)
        commanded = slice(episode.metadata["rows_without_command"], None)
        sent_before = (dataset.action[rows][commanded] - dataset.state[rows][commanded] - OFFSET) / SLOPE
        # sent at most one command period (20 ms) plus the 3 ms transport before the row, never after it
        assert np.all(sent_before <= -0.003 + 1e-4) and np.all(sent_before >= -0.023 - 1e-4)
        shown = [round(dataset.image(index, k, "scene")[0, 0, 0] / 4) % 64 for k in range(episode.length)]
        expected = [max(n for n in range(int(END * 30)) if n not in SKIPPED_FRAMES and n / 30 <= t - T0 + 0.01)
                    for t in times]  # fmt: skip
        assert shown == [n % 64 for n in expected]
    assert [e.metadata["frames_dropped"] for e in dataset.episodes] == [0, len(SKIPPED_FRAMES)]
    assert dataset.episodes[0].metadata["rows_without_command"] == 5  # 0.5 s instruction to 0.6 s command


def test_import_bag_command_reads_the_recorder_yaml_and_appends(bag, tmp_path, capsys):
    mapping = tmp_path / "recorder.yaml"
    parameters = {k: v for k, v in config().parameters().items() if k != "output_dir"}
    mapping.write_text(yaml.safe_dump({"recorder_node": {"ros__parameters": parameters}}))
    assert load_recording_config(mapping) == config()
    out = tmp_path / "ds"
    assert main(["import-bag", str(bag), "--config", str(mapping), "--out", str(out)]) == 0
    assert "wrote 2 of 2 episodes" in capsys.readouterr().out
    assert main(["import-bag", str(bag), "--config", str(mapping), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["import-bag", str(bag), "--config", str(mapping), "--out", str(out), "--append"]) == 0
    assert len(EpisodeDataset(out)) == 4
    capsys.readouterr()
    # fit-tokenizer reads an imported (or recorded) data set as it reads sim-demos output
    assert main(["fit-tokenizer", str(out), "--horizon", "20", "--stride", "10", "--out", str(tmp_path / "tok")]) == 0
    assert "4 episodes -> " in capsys.readouterr().out


def test_a_bag_without_a_mapped_topic_is_a_clear_error(bag, tmp_path, capsys):
    mapping = tmp_path / "recorder.yaml"
    parameters = {**config().parameters(), "joint_states_topic": "/arm/joint_states"}
    mapping.write_text(yaml.safe_dump({"recorder_node": {"ros__parameters": parameters}}))
    assert main(["import-bag", str(bag), "--config", str(mapping), "--out", str(tmp_path / "ds")]) == 2
    assert "no messages on ['/arm/joint_states']" in capsys.readouterr().err
