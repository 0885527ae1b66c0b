"""benchmarks/policy.py keeps the issue's JSON schema and its floors, and fast-vla eval writes its videos.

Toy size: two untrained micro checkpoints (FAST and binning) over the simulator's joints, 1 episode per
family of 1 simulated second on 32-pixel frames. Untrained models fail every task, which ``--check`` must say.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from fast_vla_ros.cli import main as fast_vla
from fast_vla_ros.data.minimum_jerk import reaching_chunks
from fast_vla_ros.policy.checkpoint import save_checkpoint
from fast_vla_ros.policy.config import PolicyConfig
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.tokenizers import BinningTokenizer, FastTokenizer
from fast_vla_ros.training.train_loop import new_policy_parts

from ..policy.conftest import MICRO

ROOT = Path(__file__).resolve().parents[2]
HORIZON = 8
FAMILIES = {"touch", "push", "pick"}


def load_benchmark():
    spec = importlib.util.spec_from_file_location("policy_benchmark", ROOT / "benchmarks" / "policy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Untrained micro policies that take the simulator's observations (its joints, both cameras)."""
    with ArmSimulator(image_size=(32, 32)) as sim:
        joints = sim.joint_names
        cameras = sim.camera_names
    targets = reaching_chunks(16, horizon=HORIZON, action_dim=len(joints), seed=0, trajectory_steps=100)
    states = targets[:, 0]
    instructions = ["touch the red cube", "push the blue can to the left", "pick up the green block"]
    out = {}
    for kind, fit in (("fast", FastTokenizer.fit), ("binning", BinningTokenizer.fit)):
        config = PolicyConfig(
            cameras=cameras, horizon=HORIZON, max_action_tokens=HORIZON * len(joints) + 4, action_tokenizer=kind
        )
        parts = new_policy_parts(states, targets, instructions, joints, 0.02, fit, config, size=MICRO)
        out[kind] = tmp_path_factory.mktemp(kind) / "policy"
        save_checkpoint(parts, out[kind])
    return out


def test_policy_benchmark_writes_the_issue_schema_and_checks_floors(checkpoints, tmp_path, capsys):
    benchmark = load_benchmark()
    out = tmp_path / "results" / "policy.json"
    common = ["--episodes", "1", "--max-seconds", "1", "--image-size", "32", "--json", str(out)]
    policies = ["--policy", f"FAST={checkpoints['fast']}", "--policy", f"bins={checkpoints['binning']}"]
    assert benchmark.main([*policies, *common, "--check"]) == 1  # untrained: the success floor is missed
    printed = capsys.readouterr().out
    assert "floor missed: FAST: success_mean 0.00 < 0.8" in printed
    assert all(stage in printed for stage in ("preprocess", "prefill", "decode", "detokenize"))

    results = json.loads(out.read_text())
    assert set(results) == {"fast", "binning"}
    for entry in results.values():
        assert set(entry) == {
            "success",
            "success_mean",
            "latency_ms_p50",
            "latency_ms_p99",
            "tokens_mean",
            "forward_passes_mean",
        }
        assert set(entry["success"]) == FAMILIES
        assert all(0.0 <= rate <= 1.0 for rate in entry["success"].values())
        assert 0 < entry["latency_ms_p50"] <= entry["latency_ms_p99"]
        assert entry["tokens_mean"] > 0
        assert entry["forward_passes_mean"] == pytest.approx(entry["tokens_mean"] + 1)  # token-wise: prefill + 1/token
    assert benchmark.main([*policies, *common]) == 0  # without --check a missed floor is only reported


def test_policy_benchmark_rejects_ambiguous_or_missing_policies(checkpoints, tmp_path, capsys):
    benchmark = load_benchmark()
    with pytest.raises(SystemExit):
        benchmark.main(["--policy", f"a={checkpoints['fast']}", "--policy", f"b={checkpoints['fast']}"])
    assert "the JSON is keyed by tokenizer kind" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        benchmark.main(["--policy", f"gone={tmp_path / 'none'}"])
    assert "policy gone" in capsys.readouterr().err


def test_eval_writes_a_video_and_contact_sheet_per_family(checkpoints, tmp_path):
    summary = tmp_path / "eval" / "summary.json"
    command = ["eval", "--policy", str(checkpoints["fast"]), "--tasks", "touch,push", "--episodes", "2"]
    toy = ["--max-seconds", "0.4", "--image-size", "32", "--threads", "1"]
    assert fast_vla([*command, *toy, "--json", str(summary)]) == 0
    assert json.loads(summary.read_text())["success"] == {"push": 0.0, "touch": 0.0}
    # One episode per family (the first, seed 100000), next to the JSON by default.
    videos = sorted(p.name for p in summary.parent.glob("*.mp4"))
    assert videos == ["push_seed100000_failure.mp4", "touch_seed100000_failure.mp4"]
    import imageio.v3 as iio

    frames = iio.imread(summary.parent / videos[0], plugin="FFMPEG")
    assert frames.shape[1:] == (32, 64, 3) and len(frames) == 10  # two cameras side by side, 0.4 s at 25 fps
    sheet = iio.imread(summary.parent / "push_seed100000_failure.png")
    assert sheet.ndim == 3 and sheet.shape[2] == 3
    other = tmp_path / "videos"
    assert fast_vla([*command[:4], "touch", "--episodes", "1", "--max-seconds", "0.1", "--video-dir", str(other)]) == 0
    assert [p.name for p in other.glob("*.mp4")] == ["touch_seed100000_failure.mp4"]
    assert np.any(iio.imread(other / "touch_seed100000_failure.png") < 255)


def load_grounding_benchmark():
    spec = importlib.util.spec_from_file_location("grounding_benchmark", ROOT / "benchmarks" / "grounding.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grounding_statistic_tells_looking_from_guessing():
    grounding = load_grounding_benchmark().grounding
    rng = np.random.default_rng(0)
    objects = rng.uniform(-0.5, 0.5, (400, 3))  # independent bearings: chance correlations ~0.05
    expert = objects[:, 0] * 0.9
    looking = grounding(objects[:, 0], expert, objects)
    assert looking["target_corr"] == pytest.approx(1.0) and abs(looking["distractor_corr"]) < 0.3
    wrong_object = grounding(objects[:, 1], expert, objects)
    assert abs(wrong_object["target_corr"]) < 0.3 and wrong_object["rms_to_expert_rad"] > 0.1
    standing_still = grounding(np.zeros(400), expert, objects)
    assert standing_still["target_corr"] == 0.0 == standing_still["distractor_corr"]


def test_grounding_benchmark_writes_its_schema(checkpoints, tmp_path, capsys):
    out = tmp_path / "grounding.json"
    argv = ["--policy", str(checkpoints["fast"]), "--episodes", "3", "--image-size", "32", "--json", str(out)]
    assert load_grounding_benchmark().main(argv) == 0
    results = json.loads(out.read_text())
    assert set(results) == {"expert", "policy"}
    for row in results.values():
        assert set(row) == {"target_corr", "distractor_corr", "rms_to_expert_rad"}
        assert -1.0 <= row["target_corr"] <= 1.0 and row["rms_to_expert_rad"] >= 0.0
    assert "corr target" in capsys.readouterr().out
