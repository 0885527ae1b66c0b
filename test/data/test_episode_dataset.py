"""Write -> read round trip of the episode data set, and the training chunks cut from it."""

from __future__ import annotations

import json

import numpy as np
import pandas
import pyarrow.parquet as pq
import pytest

from fast_vla_ros.data import lerobot_layout as layout
from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.data.episode_writer import EpisodeWriter, RecordedEpisode
from fast_vla_ros.data.frame_codec import encode_frame
from fast_vla_ros.data.training_chunks import TrainingChunks, action_windows

JOINTS = ("a", "b", "gripper")
CAMERAS = ("scene", "wrist")
SIZE = (12, 16)


FRAME_TOLERANCE = 3  # grey levels: H.264 in yuv420p, then the reader's JPEG cache, on flat frames


def make_episode(rng: np.random.Generator, length: int, instruction: str) -> tuple[RecordedEpisode, dict]:
    """Flat frames (video codecs keep them to a grey level or two, unlike noise) of a level of their own."""
    levels = {c: rng.choice(np.arange(8, 248, 12), size=length) for c in CAMERAS}
    images = {c: np.broadcast_to(levels[c][:, None, None, None], (length, *SIZE, 3)).astype(np.uint8) for c in CAMERAS}
    episode = RecordedEpisode(
        instruction=instruction,
        timestamps=np.arange(length) * 0.02,
        state=rng.normal(size=(length, 3)),
        velocity=rng.normal(size=(length, 3)),
        action=rng.normal(size=(length, 3)),
        frames={c: [encode_frame(f, "png") for f in images[c]] for c in CAMERAS},
        metadata={"family": "touch", "seed": length, "success": True},
    )
    return episode, images


def assert_frame_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape and actual.dtype == np.uint8
    assert np.abs(actual.astype(int) - expected).max() <= FRAME_TOLERANCE


def write_data_set(root, episodes, fps=50):
    with EpisodeWriter(root, fps=fps, joint_names=JOINTS, cameras=CAMERAS, image_size=SIZE, robot_type="t") as w:
        for episode in episodes:
            w.add(episode)
    return root


@pytest.fixture
def written(tmp_path):
    rng = np.random.default_rng(0)
    episodes = [make_episode(rng, n, text) for n, text in ((7, "touch the red cube"), (5, "lift the blue can"))]
    return write_data_set(tmp_path / "ds", [episode for episode, _ in episodes]), episodes


def test_round_trip_keeps_every_array_frame_and_instruction(written):
    root, episodes = written
    ds = EpisodeDataset(root)
    assert len(ds) == 2 and ds.num_frames == 12
    assert ds.joint_names == JOINTS and ds.cameras == CAMERAS and ds.fps == 50
    for index, (episode, images) in enumerate(episodes):
        info = ds.episodes[index]
        assert info.instruction == episode.instruction
        assert info.metadata == {"family": "touch", "seed": len(episode), "success": True}
        rows = ds.frame_rows(index)
        np.testing.assert_array_equal(ds.state[rows], episode.state.astype(np.float32))
        np.testing.assert_array_equal(ds.velocity[rows], episode.velocity.astype(np.float32))
        np.testing.assert_array_equal(ds.action[rows], episode.action.astype(np.float32))
        np.testing.assert_allclose(ds.timestamp[rows], episode.timestamps, atol=1e-6)
        for camera in CAMERAS:
            for frame in range(len(episode)):
                assert_frame_close(ds.image(index, frame, camera), images[camera][frame])


def test_layout_is_lerobot_v3(written):
    root, _ = written
    info = json.loads((root / layout.INFO_PATH).read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 2 and info["total_tasks"] == 2
    wrist = info["features"]["observation.images.wrist"]
    assert wrist["dtype"] == "video" and wrist["shape"] == [*SIZE, 3]
    assert wrist["info"]["video.codec"] == "h264" and wrist["info"]["video.fps"] == 50
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert info["features"]["action"]["names"] == list(JOINTS)
    for i in range(2):
        for camera in CAMERAS:
            assert (root / f"videos/observation.images.{camera}/chunk-000/file-00{i}.mp4").stat().st_size > 0
    tables = [pq.read_table(root / f"data/chunk-000/file-00{i}.parquet") for i in range(2)]
    assert not [name for name in tables[0].column_names if name.startswith("observation.images")]
    assert [t.column("index").to_pylist() for t in tables] == [list(range(7)), list(range(7, 12))]
    assert [t.column("episode_index").to_pylist()[0] for t in tables] == [0, 1]
    episodes = pq.read_table(root / layout.EPISODES_PATH).to_pylist()
    assert [(e["data/file_index"], e["dataset_from_index"], e["dataset_to_index"]) for e in episodes] == [
        (0, 0, 7),
        (1, 7, 12),
    ]
    video = "videos/observation.images.scene/"
    assert [(e[video + "file_index"], e[video + "from_timestamp"], e[video + "to_timestamp"]) for e in episodes] == [
        (0, 0.0, pytest.approx(7 / 50)),
        (1, 0.0, pytest.approx(5 / 50)),
    ]
    # LeRobot reads meta/tasks.parquet with pandas, the task text as the index
    tasks = pandas.read_parquet(root / layout.TASKS_PATH)
    assert tasks.loc["lift the blue can", "task_index"] == 1 and tasks.loc["touch the red cube", "task_index"] == 0
    stats = json.loads((root / layout.STATS_PATH).read_text())
    assert stats["action"]["count"] == [12] and len(stats["action"]["mean"]) == 3


@pytest.mark.parametrize("horizon", [1, 4, 10])
def test_chunks_hold_the_next_actions_and_pad_with_the_last(written, horizon):
    root, episodes = written
    chunks = TrainingChunks(root, horizon)
    pairs = list(chunks)
    assert len(pairs) == len(chunks) == 12
    observation, actions = pairs[7]  # frame 0 of the second episode
    episode = episodes[1][0]
    assert observation.instruction == episode.instruction and observation.stamp == 0.0
    assert observation.joint_names == JOINTS and set(observation.images) == set(CAMERAS)
    assert actions.shape == (horizon, 3)
    expected = episode.action[np.minimum(np.arange(horizon), len(episode) - 1)].astype(np.float32)
    np.testing.assert_array_equal(actions, expected)
    chunk = chunks.chunk(1, 3)
    assert chunk.t0 == pytest.approx(0.06) and chunk.dt == pytest.approx(0.02) and chunk.horizon == horizon


def test_shuffled_chunks_visit_every_frame_in_a_new_order_each_pass(written):
    root, _ = written
    chunks = TrainingChunks(root, 3, shuffle=True, seed=1, cameras=("wrist",))
    first = [o.stamp for o, _ in chunks]
    second = [o.stamp for o, _ in chunks]
    assert sorted(first) == sorted(second) and len(first) == 12
    assert first != second


@pytest.mark.parametrize("interleave", [1, 2])
def test_interleaved_shuffle_mixes_that_many_episodes(written, interleave):
    root, _ = written
    chunks = TrainingChunks(root, 3, shuffle=True, interleave=interleave, seed=3, cameras=("wrist",))
    visits = [(o.instruction, o.stamp) for o, _ in chunks]
    assert len(set(visits)) == len(visits) == 12
    episode_switches = sum(a[0] != b[0] for a, b in zip(visits, visits[1:], strict=False))
    if interleave == 1:
        assert episode_switches == 1  # one episode after the other
    else:
        assert episode_switches > 1  # frames of both episodes mixed


def test_start_frames_are_visited_more_often(written):
    root, _ = written
    chunks = TrainingChunks(root, 3, stride=2, shuffle=True, start_frames=2, start_repeats=3, cameras=("wrist",))
    assert chunks.frames(0) == [0, 2, 4, 6, 0, 1, 0, 1, 0, 1]  # the 7-frame episode
    visits = [(o.instruction, round(o.stamp, 3)) for o, _ in chunks]
    assert len(visits) == len(chunks) == 10 + 3 + 6
    assert visits.count(("touch the red cube", 0.0)) == 4 and visits.count(("touch the red cube", 0.02)) == 3
    with pytest.raises(ValueError, match="start_frames"):
        TrainingChunks(root, 3, start_frames=-1)


def test_action_windows_stay_inside_episodes(written):
    root, episodes = written
    windows = action_windows(root, horizon=5)
    assert windows.shape == (3 + 1, 5, 3)  # 7-frame episode: 3 windows, 5-frame episode: 1
    np.testing.assert_array_equal(windows[-1], episodes[1][0].action.astype(np.float32))


def test_several_roots_read_as_one_data_set_in_order(written, tmp_path):
    root, episodes = written
    extra, extra_images = make_episode(np.random.default_rng(2), 6, "push the green cube to the left")
    second = write_data_set(tmp_path / "second", [extra])
    ds = EpisodeDataset([second, root])
    assert len(ds) == 3 and ds.num_frames == 18
    assert [e.instruction for e in ds.episodes] == [extra.instruction, *(e.instruction for e, _ in episodes)]
    assert [e.index for e in ds.episodes] == [0, 1, 2]
    for index, (episode, images) in enumerate([(extra, extra_images), *episodes]):
        rows = ds.frame_rows(index)
        np.testing.assert_array_equal(ds.action[rows], episode.action.astype(np.float32))
        assert_frame_close(ds.image(index, len(episode) - 1, "wrist"), images["wrist"][-1])
    chunks = TrainingChunks(ds, 4)
    assert len(chunks) == 18
    np.testing.assert_array_equal(chunks.chunk(1, 6).actions[0], episodes[0][0].action[6].astype(np.float32))


def test_roots_that_disagree_are_refused(written, tmp_path):
    root, _ = written
    episode, _ = make_episode(np.random.default_rng(3), 4, "x")
    other_rate = write_data_set(tmp_path / "rate", [episode], fps=25)
    with pytest.raises(ValueError, match="does not match"):
        EpisodeDataset([root, other_rate])
    with pytest.raises(ValueError, match="no data set"):
        EpisodeDataset([])


def test_missing_data_set_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an episode data set"):
        EpisodeDataset(tmp_path / "nowhere")


def test_writer_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        EpisodeWriter(tmp_path, fps=50, joint_names=JOINTS, cameras=CAMERAS, image_size=SIZE, robot_type="t")


def test_writer_rejects_mismatched_shapes(tmp_path):
    episode, _ = make_episode(np.random.default_rng(1), 4, "x")
    episode.action = episode.action[:3]
    with EpisodeWriter(
        tmp_path / "d", fps=50, joint_names=JOINTS, cameras=CAMERAS, image_size=SIZE, robot_type="t"
    ) as w:
        with pytest.raises(ValueError, match="action"):
            w.add(episode)
