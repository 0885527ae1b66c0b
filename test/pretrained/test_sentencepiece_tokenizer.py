"""PaliGemma's SentencePiece ``tokenizer.model`` in place of ``tokenizer.json``: SentencePiece's own ids."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import sentencepiece

from fast_vla_ros.policy.errors import CheckpointError
from fast_vla_ros.policy.pi0_fast_prompt import ACTION_PREFIX, PI0_FAST, prompt_text
from fast_vla_ros.policy.pi0_fast_runtime import load_pi0_fast
from fast_vla_ros.policy.sentencepiece_tokenizer import load_sentencepiece

from .conftest import FAST_PLUS, INSTRUCTION, VOCAB_SIZE, embodiment, observation

STATE = np.array([0.3, -1.2, 0.999, 0.0])


def train_gemma_like(path: Path) -> Path:
    """A BPE model with Gemma's settings (byte fallback, digits split, no dummy prefix, spaces kept, ids
    0-3 <pad> <eos> <bos> <unk>, user-defined <mask> and newline) over random words and the prompt's
    template, of the tiny network's vocabulary size; single characters come last, above the action ids."""
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, rng.integers(3, 9))) for _ in range(6000)]
    template = prompt_text(INSTRUCTION, STATE, PI0_FAST).replace("\n", " ") + " Action: |"
    sentences = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)] + [template] * 20
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        byte_fallback=True,
        split_digits=True,
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        normalization_rule_name="identity",
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=["<mask>", "\n"],
        minloglevel=2,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return path


def test_checkpoint_with_only_tokenizer_model_prompts_with_sentencepieces_ids(write, tmp_path) -> None:
    directory = write("pi0_fast")
    processor = sentencepiece.SentencePieceProcessor(
        model_file=str(train_gemma_like(directory / "tokenizer" / "tokenizer.model"))
    )
    policy = load_pi0_fast(directory, embodiment(tmp_path / "arm.yaml"), [], [FAST_PLUS])
    text = prompt_text(INSTRUCTION, STATE, PI0_FAST)
    assert policy.prompt.prefix_ids(INSTRUCTION, STATE, image_tokens=1) == [VOCAB_SIZE, 2, *processor.encode(text), 2]
    assert policy.prompt.forced_ids == processor.encode(ACTION_PREFIX)
    assert policy.vocab.end_of_action_id == processor.piece_to_id("|")
    for other in ("Zürich  twice\tover", "<mask> kept whole, 12.5 -3"):
        assert policy.vocab.encode_text(other) == processor.encode(other)
    assert policy.predict(observation()).timing.total_s > 0


def test_missing_packages_and_foreign_files_say_what_to_do(tmp_path, monkeypatch) -> None:
    path = tmp_path / "tokenizer.model"
    path.write_bytes(b"not a protobuf")
    with pytest.raises(CheckpointError, match="not a SentencePiece model"):
        load_sentencepiece(path)
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # as if it were not installed
    with pytest.raises(CheckpointError, match="needs the sentencepiece and protobuf packages"):
        load_sentencepiece(path)
