"""VLAPolicy.predict end to end, bad observations, invalid decodes, and checkpoint save/load."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from fast_vla_ros.policy.checkpoint import load_policy, policy_parts, save_checkpoint
from fast_vla_ros.policy.errors import CheckpointError, ObservationError
from fast_vla_ros.policy.runtime import VLAPolicy
from fast_vla_ros.types import ActionChunk

from .conftest import DIM, HORIZON, JOINTS


@pytest.fixture
def policy(trained) -> VLAPolicy:
    parts = trained[0]
    return VLAPolicy(parts.model, parts.vocab, parts.action_tokenizer, parts.action_space, parts.config)


def test_predict_returns_a_timed_chunk_of_absolute_targets(policy, trained):
    samples = trained[1]
    policy.warmup(iterations=1)
    for observation, target in samples:
        result = policy.predict(observation)
        assert result.ok and result.status == "ok", result.status
        assert isinstance(result.chunk, ActionChunk)
        assert result.chunk.actions.shape == (HORIZON, DIM)
        assert result.chunk.t0 == observation.stamp and result.chunk.dt == 0.02
        assert result.chunk.joint_names == JOINTS
        assert len(result.action_tokens) == HORIZON * DIM
        # Overfitted: the model writes the demonstration's own tokens, and they decode to the targets.
        normalized = policy.action_space.normalize_targets(target, observation.state)
        assert result.action_tokens == policy.action_tokenizer.encode(normalized[None])[0]
        assert np.abs(result.chunk.actions - target).max() < 0.02
        times = result.timing.as_ms()
        assert all(times[stage] > 0 for stage in ("preprocess", "prefill", "decode", "detokenize"))


def test_joint_order_is_resolved_by_name(policy, trained):
    observation, _ = trained[1][0]
    shuffled = dataclasses.replace(
        observation, state=observation.state[::-1].copy(), joint_names=observation.joint_names[::-1]
    )
    assert policy.predict(shuffled).action_tokens == policy.predict(observation).action_tokens


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"images": {"scene": np.zeros((8, 8, 3), np.uint8)}}, "missing camera images \\['wrist'\\]"),
        ({"images": {"scene": np.zeros((8, 8), np.uint8), "wrist": np.zeros((8, 8, 3), np.uint8)}}, "HxWx3"),
        ({"images": {"scene": np.zeros((8, 8, 3)), "wrist": np.zeros((8, 8, 3), np.uint8)}}, "uint8"),
        ({"state": np.array([0.0, np.nan, 0.0])}, "NaN"),
        ({"joint_names": ("shoulder", "elbow", "wrist")}, "lacks joints \\['gripper'\\]"),
        ({"instruction": " "}, "empty"),
    ],
)
def test_bad_observations_raise_a_clear_error(policy, trained, change, message):
    observation, _ = trained[1][0]
    with pytest.raises(ObservationError, match=message):
        policy.predict(dataclasses.replace(observation, **change))


def test_invalid_decodes_are_reported_not_raised(policy, trained):
    observation, _ = trained[1][0]
    state = policy.action_space.state_from(observation.joint_names, observation.state)
    chunk, status = policy._detokenize([], True, state, 1.0)
    assert chunk is None and "EMPTY" in status
    chunk, status = policy._detokenize([3, 4, 5], True, state, 1.0)  # too short: tolerated, says so
    assert chunk is not None and status == "ok (TOO_SHORT)"
    short = dataclasses.replace(policy.config, max_action_tokens=5)
    bounded = VLAPolicy(policy.model, policy.vocab, policy.action_tokenizer, policy.action_space, short)
    result = bounded.predict(observation)
    assert result.chunk is None and "no end-of-action marker within 5" in result.status
    assert len(result.action_tokens) == 5


def test_save_then_load_gives_identical_predictions(policy, trained, tmp_path):
    save_checkpoint(policy_parts(policy), tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt")
    for observation, _ in trained[1][:2]:
        a, b = policy.predict(observation), loaded.predict(observation)
        assert a.action_tokens == b.action_tokens
        np.testing.assert_array_equal(a.chunk.actions, b.chunk.actions)


@pytest.mark.parametrize(
    "name", ["model.safetensors", "config.json", "action_space.json", "text_tokenizer.json", "action_tokenizer"]
)
def test_missing_file_is_named_in_the_error(trained, tmp_path, name):
    directory = tmp_path / "ckpt"
    shutil.copytree(trained[2], directory)
    target = directory / name
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(CheckpointError, match=f"missing \\[.*'{name}/?'"):
        load_policy(directory)


def test_weights_that_do_not_fit_the_config_are_rejected(trained, tmp_path):
    directory = tmp_path / "ckpt"
    shutil.copytree(trained[2], directory)
    config = json.loads((directory / "config.json").read_text())
    config["text_config"]["intermediate_size"] *= 2
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="shapes disagree with config.json.*mlp"):
        load_policy(directory)
    with pytest.raises(CheckpointError, match="directory not found"):
        load_policy(tmp_path / "nowhere")
