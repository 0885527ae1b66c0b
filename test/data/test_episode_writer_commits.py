"""The writer commits each episode on its own: a crash at any point keeps every earlier episode readable,
and a data set can be continued (appended to) by a writer started later, as a restarted recorder does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fast_vla_ros.data import lerobot_layout as layout
from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.data.episode_writer import EpisodeWriter, RecordedEpisode
from fast_vla_ros.data.frame_codec import encode_frame

JOINTS = ("a", "b", "gripper")
CAMERAS = ("scene",)
SIZE = (8, 8)
REPO_ROOT = Path(__file__).resolve().parents[2]


def episode(length: int, instruction: str, seed: int = 0) -> RecordedEpisode:
    rng = np.random.default_rng(seed)
    frames = [encode_frame(rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8), "png") for _ in range(length)]
    return RecordedEpisode(
        instruction=instruction,
        timestamps=np.arange(length) * 0.02,
        state=rng.normal(size=(length, 3)),
        velocity=rng.normal(size=(length, 3)),
        action=rng.normal(size=(length, 3)),
        frames={"scene": frames},
        metadata={"seed": seed},
    )


def writer(root: Path, append: bool = False, fps: int = 50) -> EpisodeWriter:
    return EpisodeWriter(
        root, fps=fps, joint_names=JOINTS, cameras=CAMERAS, image_size=SIZE, robot_type="t", append=append
    )


def test_a_new_data_set_is_readable_before_its_first_episode(tmp_path):
    writer(tmp_path / "d")
    dataset = EpisodeDataset(tmp_path / "d")
    assert len(dataset) == 0 and dataset.num_frames == 0 and dataset.joint_names == JOINTS


def test_each_episode_is_readable_as_soon_as_add_returns(tmp_path):
    w = writer(tmp_path / "d")
    w.add(episode(4, "one", seed=1))
    assert len(EpisodeDataset(tmp_path / "d")) == 1
    w.add(episode(6, "two", seed=2))
    dataset = EpisodeDataset(tmp_path / "d")  # no close() yet
    assert [e.length for e in dataset.episodes] == [4, 6] and dataset.num_frames == 10
    assert json.loads((tmp_path / "d" / layout.INFO_PATH).read_text())["total_frames"] == 10


def test_append_continues_indices_tasks_and_statistics(tmp_path):
    first = [episode(4, "one", seed=1), episode(5, "two", seed=2)]
    w = writer(tmp_path / "d")
    for e in first:
        w.add(e)
    later = writer(tmp_path / "d", append=True)
    assert later.add(episode(3, "one", seed=3)) == 2
    dataset = EpisodeDataset(tmp_path / "d")
    assert [e.instruction for e in dataset.episodes] == ["one", "two", "one"]
    assert [e.metadata for e in dataset.episodes] == [{"seed": 1}, {"seed": 2}, {"seed": 3}]
    table = pq.read_table(tmp_path / "d" / "data/chunk-000/file-002.parquet")
    assert table.column("index").to_pylist() == [9, 10, 11] and set(table.column("task_index").to_pylist()) == {0}
    stats = json.loads((tmp_path / "d" / layout.STATS_PATH).read_text())
    assert stats["action"]["count"] == [12]
    np.testing.assert_allclose(stats["action"]["mean"], dataset.action.astype(np.float64).mean(axis=0), rtol=1e-6)


def test_append_refuses_a_data_set_of_another_shape_and_new_refuses_an_existing_one(tmp_path):
    writer(tmp_path / "d").add(episode(2, "x"))
    with pytest.raises(ValueError, match="cannot append"):
        writer(tmp_path / "d", append=True, fps=30)
    with pytest.raises(FileExistsError, match="not empty"):
        writer(tmp_path / "d")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not a data set"):
        writer(tmp_path / "other", append=True)


def test_a_failed_write_commits_nothing_and_the_writer_goes_on(tmp_path):
    w = writer(tmp_path / "d")
    w.add(episode(3, "one"))
    # A directory where the next data file's temporary copy must go: opening it for writing fails for any
    # user, as a full or read-only disk would make it fail.
    blocker = tmp_path / "d" / "data" / "chunk-000" / "file-001.parquet.tmp"
    blocker.mkdir()
    with pytest.raises(OSError):
        w.add(episode(4, "two"))
    assert len(EpisodeDataset(tmp_path / "d")) == 1
    blocker.rmdir()
    assert w.add(episode(5, "three")) == 1
    dataset = EpisodeDataset(tmp_path / "d")
    assert [(e.instruction, e.length) for e in dataset.episodes] == [("one", 3), ("three", 5)]


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import pyarrow.parquet as pq
    sys.path.insert(0, {test_dir!r})
    from test_episode_writer_commits import episode, writer

    root = sys.argv[1]
    w = writer(root)
    w.add(episode(4, "kept", seed=1))
    real_write_table = pq.write_table

    def dies_midway(table, path, **kwargs):
        # half a data file on disk, then the process is killed as by a power cut or kill -9
        with open(path, "wb") as handle:
            handle.write(b"PAR1 half a file")
        os.kill(os.getpid(), signal.SIGKILL)

    pq.write_table = dies_midway
    import fast_vla_ros.data.episode_writer as module
    module.pq.write_table = dies_midway
    w.add(episode(6, "lost", seed=2))
    """
)


def test_a_writer_killed_mid_episode_leaves_the_committed_ones_readable(tmp_path):
    root = tmp_path / "d"
    script = KILLED_WRITER.format(test_dir=str(Path(__file__).parent))
    result = subprocess.run([sys.executable, "-c", script, str(root)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert list(root.glob("data/chunk-000/*.tmp")), "the kill should have left half a data file behind"
    assert list(root.glob("videos/*/chunk-000/file-001.mp4")), "and the lost episode's video, unlisted"
    dataset = EpisodeDataset(root)
    assert [e.instruction for e in dataset.episodes] == ["kept"] and dataset.num_frames == 4
    assert dataset.image(0, 3, "scene").shape == (*SIZE, 3)  # the committed episode's video decodes
    resumed = writer(root, append=True)
    assert not list(root.rglob("*.tmp")), "append removes what the crash left"
    assert not list(root.glob("videos/*/chunk-000/file-001.mp4"))
    assert resumed.add(episode(2, "after", seed=3)) == 1
    assert [e.instruction for e in EpisodeDataset(root).episodes] == ["kept", "after"]
