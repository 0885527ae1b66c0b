"""Policy checkpoints: a directory of safetensors and JSON, never pickle.

    config.json                 PaliGemmaConfig (Hugging Face layout): the network's shape
    model.safetensors           weights, named as the model's own ``state_dict`` (tied copies stored once)
    policy_config.json          PolicyConfig: cameras, horizon, decode bounds, action tokenizer kind
    action_space.json           normalization statistics, absolute/delta convention, joint names, dt
    text_tokenizer.json         Hugging Face ``tokenizers`` file of the text vocabulary
    vocabulary.json             model vocabulary size and where the action tokens sit
    action_tokenizer/           the action tokenizer's own ``save`` directory

Loading checks every file before touching the weights and names what is missing or mismatched, so a
half-copied or mixed-up directory fails at start-up with a readable message, not at the first predict.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.action_space import ActionSpace
from fast_vla_ros.policy.config import PolicyConfig
from fast_vla_ros.policy.errors import CheckpointError
from fast_vla_ros.policy.lerobot_checkpoint import checkpoint_type
from fast_vla_ros.policy.pi0_fast_runtime import Pi0FastPolicy, load_pi0_fast
from fast_vla_ros.policy.runtime import VLAPolicy
from fast_vla_ros.policy.vocabulary import TEXT_TOKENIZER_FILE, VOCABULARY_FILE, PromptVocabulary
from fast_vla_ros.tokenizers import TOKENIZER_KINDS, ActionTokenizer

MODEL_CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
POLICY_CONFIG_FILE = "policy_config.json"
ACTION_SPACE_FILE = "action_space.json"
ACTION_TOKENIZER_DIR = "action_tokenizer"
REQUIRED_FILES = (
    MODEL_CONFIG_FILE,
    WEIGHTS_FILE,
    POLICY_CONFIG_FILE,
    ACTION_SPACE_FILE,
    TEXT_TOKENIZER_FILE,
    VOCABULARY_FILE,
)


@dataclass
class PolicyParts:
    """Everything a checkpoint holds, unassembled: what training resumes from and ``VLAPolicy`` runs."""

    model: PaliGemmaForConditionalGeneration
    vocab: PromptVocabulary
    action_tokenizer: ActionTokenizer
    action_space: ActionSpace
    config: PolicyConfig


def tokenizer_kind(tokenizer: ActionTokenizer) -> str:
    for kind, cls in TOKENIZER_KINDS.items():
        if type(tokenizer) is cls:
            return kind
    raise ValueError(f"{type(tokenizer).__name__} is not a known action tokenizer kind {sorted(TOKENIZER_KINDS)}")


def tokenizer_class(kind: str) -> type:
    """Resolved only from ``TOKENIZER_KINDS``: a checkpoint names a kind, it never picks code to import."""
    if kind not in TOKENIZER_KINDS:
        raise CheckpointError(f"unknown action tokenizer kind {kind!r}; known: {sorted(TOKENIZER_KINDS)}")
    return TOKENIZER_KINDS[kind]


def _unique_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with tied tensors (lm_head = embeddings) kept under their first name only."""
    seen: set[int] = set()
    unique = {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        unique[name] = tensor.detach().to("cpu").contiguous()
    return unique


def save_checkpoint(
    parts: PolicyParts, directory: str | Path, write_extra: Callable[[Path], None] | None = None
) -> None:
    """Write all files to a sibling temporary directory first, then swap it in: a crash never leaves half a checkpoint.

    ``write_extra(staging_dir)`` adds files that must stay consistent with the weights (training state).
    """
    kind = tokenizer_kind(parts.action_tokenizer)
    if kind != parts.config.action_tokenizer:
        raise ValueError(
            f"the policy config names a {parts.config.action_tokenizer!r} tokenizer but holds a {kind!r} one"
        )
    directory = Path(directory)
    staging = directory.with_name(directory.name + ".saving")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    parts.model.config.to_json_file(str(staging / MODEL_CONFIG_FILE))
    save_file(_unique_tensors(parts.model), str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
    parts.config.save(staging / POLICY_CONFIG_FILE)
    parts.action_space.save(staging / ACTION_SPACE_FILE)
    parts.vocab.save(staging)
    parts.action_tokenizer.save(staging / ACTION_TOKENIZER_DIR)
    if write_extra is not None:
        write_extra(staging)
    previous = directory.with_name(directory.name + ".previous")
    if directory.exists():
        shutil.rmtree(previous, ignore_errors=True)
        directory.rename(previous)
    staging.rename(directory)
    shutil.rmtree(previous, ignore_errors=True)


def load_model(directory: str | Path) -> PaliGemmaForConditionalGeneration:
    """Build the network from ``config.json`` and fill it from ``model.safetensors``, strictly."""
    directory = Path(directory)
    try:
        config = PaliGemmaConfig.from_json_file(str(directory / MODEL_CONFIG_FILE))
    except (OSError, ValueError, TypeError) as error:
        raise CheckpointError(f"{directory / MODEL_CONFIG_FILE}: not a PaliGemma config ({error})") from error
    model = PaliGemmaForConditionalGeneration(config)
    try:
        weights = load_file(str(directory / WEIGHTS_FILE))
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"{directory / WEIGHTS_FILE}: unreadable ({error})") from error
    expected = model.state_dict()
    aliases: dict[int, set[str]] = {}
    for name, tensor in expected.items():
        aliases.setdefault(tensor.data_ptr(), set()).add(name)
    loaded = set(weights)
    missing = sorted(n for n, t in expected.items() if not (aliases[t.data_ptr()] & loaded))
    unexpected = sorted(loaded - set(expected))
    mismatched = [
        f"{n}: file {tuple(weights[n].shape)} vs config {tuple(expected[n].shape)}"
        for n in sorted(loaded & set(expected))
        if weights[n].shape != expected[n].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors missing (first: {missing[:3]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (first: {unexpected[:3]})")
    if mismatched:
        problems.append(f"{len(mismatched)} shapes disagree with config.json (first: {mismatched[:3]})")
    if problems:
        raise CheckpointError(
            f"{directory / WEIGHTS_FILE} does not fit {directory / MODEL_CONFIG_FILE}: " + "; ".join(problems)
        )
    model.load_state_dict(weights, strict=False)
    return model


def load_checkpoint(directory: str | Path) -> PolicyParts:
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"policy checkpoint directory not found: {directory}")
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if not (directory / ACTION_TOKENIZER_DIR).is_dir():
        missing.append(ACTION_TOKENIZER_DIR + "/")
    if missing:
        raise CheckpointError(f"{directory} is not a complete policy checkpoint: missing {missing}")
    config = PolicyConfig.load(directory / POLICY_CONFIG_FILE)
    try:
        action_tokenizer = tokenizer_class(config.action_tokenizer).load(directory / ACTION_TOKENIZER_DIR)
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"{directory / ACTION_TOKENIZER_DIR}: cannot load the action tokenizer ({error})"
        ) from error
    parts = PolicyParts(
        model=load_model(directory),
        vocab=PromptVocabulary.load(directory),
        action_tokenizer=action_tokenizer,
        action_space=ActionSpace.load(directory / ACTION_SPACE_FILE),
        config=config,
    )
    if parts.model.config.text_config.vocab_size != parts.vocab.vocab_size:
        raise CheckpointError(
            f"{directory}: the model has {parts.model.config.text_config.vocab_size} embeddings but "
            f"{VOCABULARY_FILE} declares {parts.vocab.vocab_size} ids"
        )
    if action_tokenizer.vocab_size != parts.vocab.actions.count:
        raise CheckpointError(
            f"{directory}: the action tokenizer has {action_tokenizer.vocab_size} tokens but {VOCABULARY_FILE} "
            f"reserves {parts.vocab.actions.count}"
        )
    return parts


def load_policy(
    directory: str | Path,
    device: str | torch.device | None = None,
    temperature: float = 0.0,
    seed: int = 0,
    embodiment_file: str | Path | None = None,
    text_tokenizer_dirs: Sequence[str | Path] = (),
    fast_processor_dirs: Sequence[str | Path] = (),
) -> VLAPolicy | Pi0FastPolicy:
    """The one call a node or an evaluation needs: a ready policy from a local directory, ours or a LeRobot
    pi0-FAST checkpoint (which also needs ``embodiment_file`` and the tokenizers' directories)."""
    if checkpoint_type(directory) is not None:
        return load_pi0_fast(
            directory, embodiment_file, text_tokenizer_dirs, fast_processor_dirs, device, None, temperature, seed
        )
    parts = load_checkpoint(directory)
    return VLAPolicy(
        parts.model, parts.vocab, parts.action_tokenizer, parts.action_space, parts.config, device, temperature, seed
    )


def policy_parts(policy: VLAPolicy) -> PolicyParts:
    return PolicyParts(policy.model, policy.vocab, policy.action_tokenizer, policy.action_space, policy.config)
