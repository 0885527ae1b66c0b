"""The toy-size version of the shipped pipeline: sim demos -> fast-vla train -> load -> predict."""

from __future__ import annotations

import pytest

from fast_vla_ros.cli import main
from fast_vla_ros.data.training_chunks import TrainingChunks
from fast_vla_ros.evaluation.closed_loop import run_episode, summarize
from fast_vla_ros.policy.checkpoint import load_policy
from fast_vla_ros.sim.simulator import ArmSimulator


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos") / "data"
    assert main(["sim-demos", "--tasks", "touch", "--episodes", "2", "--image-size", "32", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    out = tmp_path_factory.mktemp("recovery") / "data"
    argv = ["sim-demos", "--recovery", "--tasks", "touch", "--episodes", "1", "--image-size", "32"]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def test_train_command_writes_a_policy_that_predicts(demos, recovery, tmp_path, capsys):
    """As the shipped default is made: expert and recovery demonstrations trained as one data set."""
    out = tmp_path / "policy"
    data = ["--data", str(recovery), "--data", str(demos)]
    common = ["train", *data, "--out", str(out), "--horizon", "10", "--stride", "10"]
    schedule = ["--batch-size", "4", "--validation-episodes", "1", "--validate-every", "2", "--threads", "1"]
    schedule += ["--lookahead-steps", "30", "--lookahead-stride", "10"]  # reaches past the 10-step chunks
    schedule += ["--colour-patch-weight", "1", "--named-colour-weight", "1", "--precision", "bf16"]
    assert main([*common, *schedule, "--steps", "2"]) == 0
    printed = capsys.readouterr()
    assert "fast tokenizer" in printed.out and "lookahead mse" in printed.err + printed.out
    assert " of 2 episodes" in printed.out  # 1 recovery + 2 expert, the last expert one held out
    assert "colour loss" in printed.err + printed.out and "named-colour loss" in printed.err + printed.out
    assert main([*common, *schedule, "--steps", "3"]) == 0  # continues the same run
    assert "resuming" in capsys.readouterr().out
    policy = load_policy(out)
    observation, _ = next(iter(TrainingChunks(demos, 10)))
    result = policy.predict(observation)
    assert result.status and result.timing.total_s > 0  # a chunk or a reason, never an exception
    assert policy.config.cameras == TrainingChunks(demos, 10).cameras

    # The closed loop without ROS: predictions are charged to simulated time and the episode runs out.
    sim = ArmSimulator(image_size=(32, 32))
    try:
        episode = run_episode(policy, sim, "touch", 5, policy.config.cameras, max_seconds=0.6, replan_period=0.25)
    finally:
        sim.close()
    assert 1 <= len(episode.latencies_s) <= 3 and all(s > 0 for s in episode.latencies_s)
    if max(episode.latencies_s) < 0.25 - 0.02:  # each arrived before the next observation was due
        assert len(episode.latencies_s) == 3  # at 0, 0.26 and 0.52 s (the first ticks past each 0.25 s)
    assert episode.seconds == pytest.approx(0.6, abs=0.021) and not episode.success
    summary = summarize([episode])
    assert set(summary["success"]) == {"touch"} and summary["latency_ms_p50"] > 0


def test_commands_reject_missing_inputs_clearly(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "p")]) == 2
    assert "data set directory not found" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "p"), "--lookahead-stride", "0"]) == 2
    assert "lookahead_stride" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "p"), "--colour-patch-weight", "-1"]) == 2
    assert "colour_patch_weight" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "p"), "--named-colour-weight", "-1"]) == 2
    assert "named_colour_weight" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "p"), "--moving-state-noise", "-1"]) == 2
    assert "--moving-state-noise must be >= 0" in capsys.readouterr().err
    assert main(["eval", "--policy", str(tmp_path / "none")]) == 2
    assert "policy checkpoint directory not found" in capsys.readouterr().err
    assert main(["eval", "--policy", str(tmp_path), "--tasks", "juggle"]) == 2
    assert "juggle" in capsys.readouterr().err
