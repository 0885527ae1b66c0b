"""``fast-vla sim-demos`` and ``fast-vla sim-render`` end to end, with small frames to stay fast."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from fast_vla_ros.cli import main
from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.data.training_chunks import TrainingChunks
from fast_vla_ros.sim.simulator import ArmSimulator

DEMOS = ["sim-demos", "--tasks", "touch,push", "--episodes", "2", "--seed", "40", "--image-size", "32"]


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """The same run twice: in this process, and in two worker processes."""
    roots = [tmp_path_factory.mktemp("demos") / name for name in ("a", "b")]
    for root, workers in zip(roots, ("1", "2"), strict=True):
        assert main([*DEMOS, "--out", str(root), "--workers", workers]) == 0
    return roots


def test_sim_demos_writes_readable_episodes_matching_the_simulator(demos):
    dataset = EpisodeDataset(demos[0])
    assert len(dataset) == 2 and dataset.cameras == ("scene", "wrist")
    with ArmSimulator() as sim:
        for index, task in enumerate(("touch", "push")):
            info = dataset.episodes[index]
            assert info.metadata == {"family": task, "seed": 40 + index, "success": True, "recovery": False}
            assert info.instruction == sim.reset(task, 40 + index)
            np.testing.assert_allclose(dataset.state[dataset.frame_rows(index)][0], sim.joint_positions(), atol=1e-6)
    observation, actions = next(iter(TrainingChunks(dataset, horizon=16)))
    assert observation.images["wrist"].shape == (32, 32, 3) and actions.shape == (16, 7)


def test_sim_demos_is_deterministic_by_seed_whatever_the_worker_count(demos):
    files = [sorted(root.glob("data/chunk-*/*.parquet")) for root in demos]
    assert [f.relative_to(demos[0]) for f in files[0]] == [f.relative_to(demos[1]) for f in files[1]]
    assert len(files[0]) == 2 and all(pq.read_table(a).equals(pq.read_table(b)) for a, b in zip(*files, strict=True))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tasks", "touch,juggle"], "unknown task"),
        (["--episodes", "0"], "at least 1"),
        (["--workers", "0"], "at least 1"),
    ],
)
def test_sim_demos_rejects_bad_arguments(tmp_path, capsys, argv, message):
    assert main(["sim-demos", *argv, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err


def test_sim_demos_rejects_a_bad_output_path(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["sim-demos", "--episodes", "1", "--out", str(blocker)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["sim-demos", "--episodes", "1", "--out", str(blocker / "sub")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_sim_render_writes_a_video_and_a_contact_sheet(demos, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "episode.gif"
    assert main(["sim-render", "--dataset", str(demos[0]), "--episode", "1", "--out", str(out)]) == 0
    sheet = iio.imread(out.with_name("episode_sheet.png"))
    assert out.stat().st_size > 0 and sheet.shape[2] == 3 and sheet.shape[1] > 4 * 64


def test_sim_render_rejects_bad_requests(demos, tmp_path, capsys):
    assert main(["sim-render", "--task", "juggle", "--out", str(tmp_path / "v.mp4")]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert main(["sim-render", "--dataset", str(tmp_path / "none"), "--out", str(tmp_path / "v.mp4")]) == 2
    assert "not an episode data set" in capsys.readouterr().err
    assert main(["sim-render", "--dataset", str(demos[0]), "--episode", "9", "--out", str(tmp_path / "v.mp4")]) == 2
    assert "has 2 episodes" in capsys.readouterr().err
    assert main(["sim-render", "--task", "pick", "--out", str(tmp_path / "v.avi")]) == 2
    assert ".mp4 or .gif" in capsys.readouterr().err
