"""The toy-size version of the shipped pipeline: sim demos -> fast-vla train -> load -> predict."""

from __future__ import annotations

import pytest

from fast_vla_ros.cli import main
from fast_vla_ros.data.training_chunks import TrainingChunks
from fast_vla_ros.policy.checkpoint import load_policy


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos") / "data"
    assert main(["sim-demos", "--tasks", "touch", "--episodes", "2", "--image-size", "32", "--out", str(out)]) == 0
    return out


def test_train_command_writes_a_policy_that_predicts(demos, tmp_path, capsys):
    out = tmp_path / "policy"
    common = ["train", "--data", str(demos), "--out", str(out), "--horizon", "10", "--stride", "10"]
    schedule = ["--batch-size", "4", "--validation-episodes", "1", "--validate-every", "2", "--threads", "1"]
    assert main([*common, *schedule, "--steps", "2"]) == 0
    assert "fast tokenizer" in capsys.readouterr().out
    assert main([*common, *schedule, "--steps", "3"]) == 0  # continues the same run
    assert "resuming" in capsys.readouterr().out
    policy = load_policy(out)
    observation, _ = next(iter(TrainingChunks(demos, 10)))
    result = policy.predict(observation)
    assert result.status and result.timing.total_s > 0  # a chunk or a reason, never an exception
    assert policy.config.cameras == TrainingChunks(demos, 10).cameras


def test_train_command_rejects_a_missing_data_set(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "p")]) == 2
    assert "data set directory not found" in capsys.readouterr().err
