"""The pi0-FAST token layout of one example.

    prefix, bidirectional:  <image> x (cameras * patches)  <bos>  "Task: <instruction>, State: <bins>;\\nAction: "
    suffix, causal:         <action tokens>  "|"  <eos>

The state is the normalized joint vector discretized into 256 bins over [-1, 1] and written as numbers,
exactly as openpi's ``FASTTokenizer`` does. Unlike openpi, "Action: " closes the prefix instead of opening
the suffix: it is always the same, so it costs nothing to encode it bidirectionally, and decoding can
start straight at the first action token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fast_vla_ros.policy.errors import ObservationError
from fast_vla_ros.policy.vocabulary import PromptVocabulary


def clean_instruction(instruction: str) -> str:
    text = " ".join(instruction.strip().lower().replace("_", " ").split())
    if not text:
        raise ObservationError("the instruction is empty")
    return text


def discretize_state(normalized_state: np.ndarray, bins: int = 256) -> np.ndarray:
    """[-1, 1] -> integer bins 0..bins-1 (openpi: ``np.digitize`` over ``linspace(-1, 1, bins + 1)[:-1]``)."""
    edges = np.linspace(-1.0, 1.0, bins + 1)[:-1]
    return np.clip(np.digitize(normalized_state, edges) - 1, 0, bins - 1)


def prompt_text(instruction: str, normalized_state: np.ndarray, bins: int = 256) -> str:
    state = " ".join(str(b) for b in discretize_state(normalized_state, bins))
    return f"Task: {clean_instruction(instruction)}, State: {state};\nAction: "


@dataclass(frozen=True)
class Prefix:
    """Token ids of the prefix; the image placeholders come first and are replaced by image features."""

    ids: list[int]
    image_tokens: int


def encode_prefix(
    vocab: PromptVocabulary,
    instruction: str,
    normalized_state: np.ndarray,
    image_tokens: int,
    bins: int = 256,
    max_text_tokens: int = 64,
) -> Prefix:
    if not np.all(np.isfinite(normalized_state)):
        raise ObservationError("the joint state contains NaN or Inf")
    text_ids = vocab.encode_text(prompt_text(instruction, normalized_state, bins))
    if len(text_ids) + 1 > max_text_tokens:
        raise ObservationError(
            f"the prompt takes {len(text_ids) + 1} tokens, more than the {max_text_tokens} this policy accepts; "
            "shorten the instruction"
        )
    return Prefix([vocab.image_id] * image_tokens + [vocab.bos_id] + text_ids, image_tokens)


def encode_suffix(vocab: PromptVocabulary, action_tokens: list[int]) -> list[int]:
    """The training target after the prefix: action ids, end-of-action marker, EOS."""
    return vocab.actions.to_vocab(action_tokens) + [vocab.end_of_action_id, vocab.eos_id]
