"""The prompt of a published pi0-FAST checkpoint, token for token, in each LeRobot format.

Both formats write ``Task: <instruction>, State: <bins>;\\n`` where the bins discretize the normalized
state into 256 bins over [-1, 1], and then let the model write ``Action: <action tokens>`` and an end
marker. They differ in every detail, and each detail changes the ids the model sees:

=====================  ==========================================  ===========================================
                       ``pi0_fast`` (LeRobot >= 0.4.3)             legacy ``pi0fast`` (LeRobot 0.3)
=====================  ==========================================  ===========================================
instruction            strip, "_" and "\\n" -> " ", case kept        lowercased, stripped, "_" -> " "
state bins             ``np.digitize(x, edges) - 1``               ``torch.bucketize(x, edges) - 1`` (right
                       (a value on an edge goes up)                 closed: a value on an edge stays below),
                                                                    first 32 dimensions only
state padding          zeros up to ``max_state_dim`` in 0.4.x,      none
                       none from 0.5 (``pad_prompt_state_to``)
ids                    ``<bos> prompt <bos>``: the tokenizer step   ``<bos> prompt``
                       adds one, decoding appends a second
after the prompt       "Action: " (written by the model), action    "Action: ", action tokens, ``<eos>``
                       tokens, "|", ``<eos>``
=====================  ==========================================  ===========================================

Neither clips the normalized state, so a state outside the statistics' range gives bin -1 or 256
exactly as it did in training. Images and prompt attend to each other bidirectionally, "Action: " and
the action tokens causally (``decoding.decode_actions`` with ``forced_ids``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fast_vla_ros.policy.errors import CheckpointError, ObservationError
from fast_vla_ros.policy.vocabulary import PromptVocabulary

STATE_BINS = 256
ACTION_PREFIX = "Action: "
LEGACY_STATE_DIMS = 32  # legacy pi0fast keeps only the first 32 bins


@dataclass(frozen=True)
class PromptFormat:
    """What distinguishes one checkpoint format's prompt; ``PI0_FAST`` and ``LEGACY_PI0FAST`` below."""

    name: str
    lowercase: bool
    right_closed_bins: bool  # torch.bucketize (legacy) rather than np.digitize
    max_state_dims: int | None  # bins kept, None for all
    bos_after_prompt: bool
    end_of_action: str  # the token that closes the action tokens


PI0_FAST = PromptFormat("pi0_fast", False, False, None, True, "|")
LEGACY_PI0FAST = PromptFormat("pi0fast", True, True, LEGACY_STATE_DIMS, False, "<eos>")


def clean_instruction(instruction: str, prompt_format: PromptFormat) -> str:
    if prompt_format.lowercase:
        text = instruction.lower().strip().replace("_", " ")
    else:
        text = instruction.strip().replace("_", " ").replace("\n", " ")
    if not text.strip():
        raise ObservationError("the instruction is empty")
    return text


def state_bins(normalized_state: np.ndarray, prompt_format: PromptFormat, pad_to: int | None = None) -> np.ndarray:
    """Normalized state [D] -> integer bins as the format writes them (not clipped: -1 and 256 can occur)."""
    state = np.asarray(normalized_state, dtype=np.float64)
    if pad_to is not None and state.shape[0] < pad_to:
        state = np.concatenate([state, np.zeros(pad_to - state.shape[0])])
    edges = np.linspace(-1.0, 1.0, STATE_BINS + 1)[:-1]
    # np.digitize counts edges <= x; torch.bucketize(right=False) counts edges < x.
    bins = np.searchsorted(edges, state, side="left" if prompt_format.right_closed_bins else "right") - 1
    if prompt_format.max_state_dims is not None:
        bins = bins[: prompt_format.max_state_dims]
    return bins


def prompt_text(
    instruction: str, normalized_state: np.ndarray, prompt_format: PromptFormat, pad_to: int | None = None
) -> str:
    bins = " ".join(str(int(b)) for b in state_bins(normalized_state, prompt_format, pad_to))
    return f"Task: {clean_instruction(instruction, prompt_format)}, State: {bins};\n"


def single_id(vocab: PromptVocabulary, text: str) -> int:
    """The one id ``text`` encodes to; a tokenizer that splits it is not PaliGemma's."""
    ids = vocab.encode_text(text)
    if len(ids) != 1:
        raise CheckpointError(f"the text tokenizer encodes {text!r} as {len(ids)} ids {ids}, expected one")
    return ids[0]


@dataclass(frozen=True)
class Pi0FastPrompt:
    """Builds the ids of one observation: ``prefix`` (bidirectional) and ``forced`` (causal "Action: ")."""

    vocab: PromptVocabulary
    prompt_format: PromptFormat
    max_text_tokens: int | None  # pi0_fast: tokenizer_max_length; legacy pi0fast sets no bound
    pad_state_to: int | None = None

    def __post_init__(self) -> None:
        if not self.forced_ids:
            raise CheckpointError(f"the text tokenizer encodes {ACTION_PREFIX!r} to nothing")

    @property
    def forced_ids(self) -> list[int]:
        return self.vocab.encode_text(ACTION_PREFIX)

    def prefix_ids(self, instruction: str, normalized_state: np.ndarray, image_tokens: int) -> list[int]:
        if not np.all(np.isfinite(normalized_state)):
            raise ObservationError("the joint state contains NaN or Inf")
        text = prompt_text(instruction, normalized_state, self.prompt_format, self.pad_state_to)
        ids = [self.vocab.bos_id] + self.vocab.encode_text(text)
        # LeRobot truncates a longer prompt silently (losing the state); refusing keeps the state intact.
        if self.max_text_tokens is not None and len(ids) > self.max_text_tokens:
            raise ObservationError(
                f"the prompt takes {len(ids)} tokens, more than the {self.max_text_tokens} this checkpoint was "
                "trained with; shorten the instruction"
            )
        if self.prompt_format.bos_after_prompt:
            ids.append(self.vocab.bos_id)
        return [self.vocab.image_id] * image_tokens + ids
