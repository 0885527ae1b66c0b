"""Fine-tuning an existing policy on new demonstrations (``fast-vla train --init-from``).

The network and its vocabulary are kept: training continues from the policy's weights. Three choices
decide what else carries over, each printed with what it costs on the new data:

- normalization statistics: ``keep`` (default) leaves the state and action normalization the network
  learned; ``refit`` recomputes them on the new data, which moves every normalized value the network knew
  (use it when the new data lies well outside the old range: the report shows how much falls outside);
- action tokenizer: ``keep`` (default) or ``refit`` (the same kind fitted anew; its action embeddings then
  start over). The reconstruction error of both on the new chunks is reported either way;
- words: any word of the new instructions missing from the text vocabulary gets an embedding row of its
  own (initialised from the mean and covariance of the others, Hewitt 2021, as Hugging Face's
  ``resize_token_embeddings`` does), every existing row kept, instead of reaching the model as ``<unk>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, models

from fast_vla_ros.policy.action_space import ActionSpace
from fast_vla_ros.policy.checkpoint import PolicyParts, load_checkpoint
from fast_vla_ros.policy.vocabulary import SPECIAL_TOKENS, PromptVocabulary
from fast_vla_ros.tokenizers.base import ActionTokenizer
from fast_vla_ros.tokenizers.evaluation import reconstruct

CHOICES = ("keep", "refit")


@dataclass(frozen=True)
class FineTuningReport:
    new_words: tuple[str, ...]
    statistics: str
    tokenizer: str
    kept_tokenizer_rmse: float  # reconstruction error (normalized units) of each tokenizer on the new chunks
    refit_tokenizer_rmse: float
    outside_state_range: float  # fraction of new state values outside the kept statistics' [low, high]

    def lines(self) -> list[str]:
        words = ", ".join(self.new_words) if self.new_words else "none"
        return [
            f"normalization statistics: {self.statistics} ({self.outside_state_range:.1%} of the new joint states "
            "lie outside the policy's range)",
            f"action tokenizer: {self.tokenizer} (reconstruction rmse on the new chunks: kept "
            f"{self.kept_tokenizer_rmse:.5f}, refit {self.refit_tokenizer_rmse:.5f})",
            f"words added to the vocabulary: {words}",
        ]


def fine_tuning_parts(
    policy_dir: str | Path,
    states: np.ndarray,
    targets: np.ndarray,
    instructions: Iterable[str],
    joint_names: tuple[str, ...],
    dt: float,
    fit_tokenizer: Callable[[np.ndarray], ActionTokenizer],
    statistics: str = "keep",
    tokenizer: str = "keep",
) -> tuple[PolicyParts, FineTuningReport]:
    """The policy at ``policy_dir`` prepared for training on these chunks: ``states`` [N, D] at each chunk
    start, absolute ``targets`` [N, >= horizon, D]; ``fit_tokenizer`` fits the policy's tokenizer kind."""
    for name, choice in (("statistics", statistics), ("tokenizer", tokenizer)):
        if choice not in CHOICES:
            raise ValueError(f"{name} must be one of {CHOICES}, got {choice!r}")
    parts = load_checkpoint(policy_dir)
    space = parts.action_space
    if tuple(joint_names) != space.joint_names:
        raise ValueError(f"the data set's joints {list(joint_names)} are not the policy's {list(space.joint_names)}")
    if abs(dt - space.dt) > 1e-9:
        raise ValueError(f"the data set's step {dt:g} s is not the policy's {space.dt:g} s")
    states = np.asarray(states, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)[:, : parts.config.horizon]
    outside = float(np.mean((states < space.state.low) | (states > space.state.high)))
    if statistics == "refit":
        space = ActionSpace.fit(states, targets, space.joint_names, space.dt, space.convention, space.absolute_joints)
    normalized = np.stack([space.normalize_targets(t, s) for t, s in zip(targets, states, strict=True)])
    refit = fit_tokenizer(normalized)
    kept_rmse = reconstruct(parts.action_tokenizer, normalized).stats.rmse
    refit_rmse = reconstruct(refit, normalized).stats.rmse
    parts = dataclasses.replace(parts, action_space=space)
    if tokenizer == "refit":
        parts = replace_action_tokenizer(parts, refit)
        longest = max(len(tokens) for tokens in refit.encode(normalized))
        parts.config = dataclasses.replace(parts.config, max_action_tokens=int(longest * 1.25) + 4)
    words = [w for text in instructions for w in parts.vocab.unknown_words(text)]
    parts, added = extend_vocabulary(parts, words)
    report = FineTuningReport(tuple(added), statistics, tokenizer, kept_rmse, refit_rmse, outside)
    return parts, report


def extend_vocabulary(parts: PolicyParts, words: Iterable[str]) -> tuple[PolicyParts, list[str]]:
    """``parts`` with ``words`` (those it lacks) added to the text vocabulary; returns the words added.

    New text ids follow the old ones and the action ids move up by as many (they stay last, see
    ``vocabulary``); the embedding rows move with their ids, so nothing the model learned changes."""
    old = parts.vocab
    if old.actions.skip:
        raise ValueError("this vocabulary overlays action tokens on text ids (pi0-FAST); it cannot grow")
    added = list(dict.fromkeys(w for w in words if old.tokenizer.token_to_id(w) is None))
    if not added:
        return parts, []
    text_ids = old.actions.first_id
    mapping = old.tokenizer.get_vocab()
    mapping.update({word: text_ids + i for i, word in enumerate(added)})
    tokenizer = Tokenizer.from_str(old.tokenizer.to_str())
    tokenizer.model = models.WordLevel(mapping, unk_token=SPECIAL_TOKENS["unk"])
    vocab = PromptVocabulary(tokenizer, old.vocab_size + len(added), old.actions.count)
    _rearrange_embeddings(parts.model, old.vocab_size, vocab.vocab_size, text_ids, keep_actions=True)
    return dataclasses.replace(parts, vocab=vocab), added


def replace_action_tokenizer(parts: PolicyParts, tokenizer: ActionTokenizer) -> PolicyParts:
    """``parts`` with a new action tokenizer: the text rows kept, the action rows started afresh."""
    old = parts.vocab
    if old.actions.skip:
        raise ValueError("this vocabulary overlays action tokens on text ids (pi0-FAST); refit is not possible")
    text_ids = old.actions.first_id
    vocab = PromptVocabulary(old.tokenizer, text_ids + tokenizer.vocab_size, tokenizer.vocab_size)
    _rearrange_embeddings(parts.model, old.vocab_size, vocab.vocab_size, text_ids, keep_actions=False)
    return dataclasses.replace(parts, vocab=vocab, action_tokenizer=tokenizer)


@torch.no_grad()
def _rearrange_embeddings(
    model: torch.nn.Module, old_size: int, new_size: int, text_ids: int, keep_actions: bool
) -> None:
    """Resize the (tied) embedding from ``old_size`` to ``new_size`` rows: the ``text_ids`` text rows first as
    before, then fresh rows, then the old action rows moved up (``keep_actions``) or none (all fresh)."""
    old = model.get_input_embeddings().weight.detach().clone()
    fresh_count = new_size - old_size if keep_actions else new_size - text_ids
    model.resize_token_embeddings(old_size + fresh_count)  # rows drawn from the old rows' mean and covariance
    fresh = model.get_input_embeddings().weight.detach()[old_size:].clone()
    rows = torch.cat([old[:text_ids], fresh, old[text_ids:old_size]] if keep_actions else [old[:text_ids], fresh])
    model.resize_token_embeddings(new_size, mean_resizing=False)
    model.get_input_embeddings().weight.copy_(rows)
    if model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        model.lm_head.weight.copy_(rows)
