"""The model's vocabulary: text ids from a Hugging Face ``tokenizers`` file, action tokens at the end.

Mapping of action tokens (pi0-FAST's convention, so a PaliGemma checkpoint works the same way):

    vocab_id = vocab_size - 1 - skip - action_token        action_token = vocab_size - 1 - skip - vocab_id

Action token 0 is the last usable id, counting down. PaliGemma keeps its last 128 ids for special
tokens, so pi0-FAST uses ``skip = 128`` over its 257 152-id vocabulary, overlapping rarely used text
pieces. Our own small vocabulary appends the action ids after the text ids instead (``skip = 0``,
``vocab_size = text ids + action tokens``), so no text id is ever shadowed.

The small text vocabulary is a word-level ``tokenizers`` model built from the task instructions, the
prompt template's words and the numbers 0..255 (one id per state bin, so a 7-joint state costs 7
tokens). Unknown words map to ``<unk>``; case and underscores are normalized away as openpi does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from fast_vla_ros.policy.errors import CheckpointError

SPECIAL_TOKENS = {"pad": "<pad>", "eos": "<eos>", "bos": "<bos>", "unk": "<unk>", "image": "<image>"}
# pi0-FAST closes the action tokens with "|" followed by EOS.
END_OF_ACTION = "|"
TEMPLATE_WORDS = ("task", "state", "action", ":", ",", ";", END_OF_ACTION)
TEXT_TOKENIZER_FILE = "text_tokenizer.json"
VOCABULARY_FILE = "vocabulary.json"


@dataclass(frozen=True)
class ActionTokenMap:
    """Action token ``k`` (0 <= k < count) <-> model vocabulary id, per the formula in the module docstring."""

    vocab_size: int
    count: int
    skip: int = 0

    def __post_init__(self) -> None:
        if self.count < 1 or self.skip < 0 or self.count + self.skip > self.vocab_size:
            raise ValueError(f"{self.count} action tokens (+{self.skip} skipped) do not fit {self.vocab_size} ids")

    @property
    def first_id(self) -> int:
        """Smallest vocabulary id holding an action token (that of action token ``count - 1``)."""
        return self.vocab_size - self.skip - self.count

    @property
    def last_id(self) -> int:
        return self.vocab_size - 1 - self.skip

    def to_vocab(self, action_tokens: Iterable[int]) -> list[int]:
        tokens = np.asarray(list(action_tokens), dtype=np.int64)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.count):
            raise ValueError(f"action tokens must lie in [0, {self.count}), got range [{tokens.min()}, {tokens.max()}]")
        return (self.last_id - tokens).tolist()

    def from_vocab(self, vocab_ids: Iterable[int]) -> list[int]:
        """Inverse of ``to_vocab``; the caller guarantees the ids are action ids (constrained decoding does)."""
        return [self.last_id - int(i) for i in vocab_ids]


class PromptVocabulary:
    """Text tokenizer + the ids the runtime needs by name (BOS, EOS, pad, image placeholder, end of action)."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        vocab_size: int,
        action_token_count: int,
        action_skip: int = 0,
        end_of_action: str = END_OF_ACTION,
    ):
        """``end_of_action`` closes the action tokens: "|" for pi0-FAST, "<eos>" for legacy LeRobot ``pi0fast``."""
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.actions = ActionTokenMap(vocab_size, action_token_count, action_skip)
        ids = {}
        for role, token in {**SPECIAL_TOKENS, "end_of_action": end_of_action}.items():
            token_id = tokenizer.token_to_id(token)
            if token_id is None:
                raise CheckpointError(f"text tokenizer has no {token!r} token (needed as {role})")
            if self.actions.first_id <= token_id <= self.actions.last_id:
                raise CheckpointError(f"{role} token {token!r} (id {token_id}) collides with the action-token ids")
            ids[role] = token_id
        self.pad_id, self.eos_id, self.bos_id = ids["pad"], ids["eos"], ids["bos"]
        self.image_id, self.end_of_action_id = ids["image"], ids["end_of_action"]

    @classmethod
    def build(cls, instructions: Iterable[str], action_token_count: int, state_bins: int = 256) -> PromptVocabulary:
        """A word-level vocabulary covering the instructions; action ids appended after the text ids."""
        normalizer = _normalizer()
        pre_tokenizer = _pre_tokenizer()
        words: set[str] = set()
        for text in instructions:
            words.update(piece for piece, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
        numbers = [str(i) for i in range(state_bins)]
        ordered = list(SPECIAL_TOKENS.values()) + list(TEMPLATE_WORDS) + numbers
        ordered += sorted(words - set(ordered))
        tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(ordered)}, unk_token=SPECIAL_TOKENS["unk"]))
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = pre_tokenizer
        return cls(tokenizer, len(ordered) + action_token_count, action_token_count)

    def encode_text(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def unknown_words(self, text: str) -> list[str]:
        """The words of ``text`` this vocabulary lacks, once each in order: the model sees each as ``<unk>``.
        Only a word-level vocabulary has such words (a subword one spells any word out of pieces)."""
        if not isinstance(self.tokenizer.model, models.WordLevel):
            return []
        normalizer, pre_tokenizer = self.tokenizer.normalizer, self.tokenizer.pre_tokenizer
        normalized = normalizer.normalize_str(text) if normalizer is not None else text
        pieces = [p for p, _ in pre_tokenizer.pre_tokenize_str(normalized)] if pre_tokenizer else normalized.split()
        return list(dict.fromkeys(p for p in pieces if self.tokenizer.token_to_id(p) is None))

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.tokenizer.save(str(directory / TEXT_TOKENIZER_FILE))
        meta = {
            "vocab_size": self.vocab_size,
            "action_token_count": self.actions.count,
            "action_skip": self.actions.skip,
        }
        (directory / VOCABULARY_FILE).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> PromptVocabulary:
        directory = Path(directory)
        for name in (TEXT_TOKENIZER_FILE, VOCABULARY_FILE):
            if not (directory / name).is_file():
                raise CheckpointError(f"{directory}: missing {name}")
        meta = json.loads((directory / VOCABULARY_FILE).read_text())
        tokenizer = Tokenizer.from_file(str(directory / TEXT_TOKENIZER_FILE))
        return cls(tokenizer, int(meta["vocab_size"]), int(meta["action_token_count"]), int(meta["action_skip"]))


def _normalizer() -> normalizers.Normalizer:
    return normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace("_", " ")])


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    # Every punctuation mark is its own word so "cube," and "cube" share an id.
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(r"[^\w\s]"), behavior="isolated")]
    )
