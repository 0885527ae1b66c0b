"""Fine-tuning preparation: the shipped policy keeps its network and vocabulary, gains rows for new words
without moving any learned row, and reports both tokenizers' reconstruction errors on the new data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fast_vla_ros.package_files import package_file
from fast_vla_ros.policy.checkpoint import load_checkpoint, save_checkpoint
from fast_vla_ros.tokenizers import TOKENIZER_KINDS
from fast_vla_ros.training.fine_tuning import extend_vocabulary, fine_tuning_parts

DEFAULT = package_file("models/default")


@pytest.fixture(scope="module")
def default_parts():
    return load_checkpoint(DEFAULT)


@pytest.fixture(scope="module")
def new_data(default_parts):
    """Chunks of slow motion around the middle of the policy's state range."""
    space = default_parts.action_space
    rng = np.random.default_rng(0)
    middle = (space.state.low + space.state.high) / 2
    states = middle + rng.normal(0, 0.05, (40, space.action_dim))
    ramps = np.linspace(0, 1, 50)[None, :, None] * rng.normal(0, 0.1, (40, 1, space.action_dim))
    return states, states[:, None, :] + ramps


def test_new_words_get_rows_of_their_own_and_every_learned_row_stays(tmp_path):
    parts = load_checkpoint(DEFAULT)
    before = parts.model.get_input_embeddings().weight.detach().clone()
    text_ids = parts.vocab.actions.first_id
    assert parts.vocab.unknown_words("Poke the red cube") == ["poke"]
    extended, added = extend_vocabulary(parts, ["poke", "the", "gently"])
    assert added == ["poke", "gently"] and extended.vocab.unknown_words("poke the red cube gently") == []
    after = extended.model.get_input_embeddings().weight.detach()
    assert after.shape[0] == before.shape[0] + 2 == extended.model.config.text_config.vocab_size
    assert torch.equal(after[:text_ids], before[:text_ids]) and torch.equal(after[text_ids + 2 :], before[text_ids:])
    assert extended.vocab.actions.to_vocab([0]) == [parts.vocab.actions.to_vocab([0])[0] + 2]
    save_checkpoint(extended, tmp_path / "p")
    reloaded = load_checkpoint(tmp_path / "p")
    assert reloaded.vocab.encode_text("poke gently") == extended.vocab.encode_text("poke gently")


@pytest.mark.parametrize(("statistics", "tokenizer"), [("keep", "keep"), ("refit", "refit")])
def test_fine_tuning_parts_keep_or_refit_and_report_both_tokenizers(default_parts, new_data, statistics, tokenizer):
    states, targets = new_data
    space = default_parts.action_space
    parts, report = fine_tuning_parts(
        DEFAULT, states, targets, ["poke the blue can"], space.joint_names, space.dt,
        TOKENIZER_KINDS["fast"].fit, statistics=statistics, tokenizer=tokenizer,
    )  # fmt: skip
    assert report.new_words == ("poke",) and report.kept_tokenizer_rmse > 0 and report.refit_tokenizer_rmse > 0
    assert any("kept" in line and "refit" in line for line in report.lines())
    kept_stats = np.array_equal(parts.action_space.state.low, space.state.low)
    assert kept_stats == (statistics == "keep")
    normalized = np.stack([parts.action_space.normalize_targets(t, s) for t, s in zip(targets, states, strict=True)])
    same_tokens = parts.action_tokenizer.encode(normalized) == default_parts.action_tokenizer.encode(normalized)
    assert same_tokens == (tokenizer == "keep")
    assert parts.vocab.actions.count == parts.action_tokenizer.vocab_size
    assert parts.model.get_input_embeddings().weight.shape[0] == parts.vocab.vocab_size


def test_a_data_set_of_other_joints_is_refused(default_parts, new_data):
    states, targets = new_data
    names = tuple(reversed(default_parts.action_space.joint_names))
    with pytest.raises(ValueError, match="not the policy's"):
        fine_tuning_parts(DEFAULT, states, targets, ["x"], names, 0.02, TOKENIZER_KINDS["fast"].fit)
