from __future__ import annotations

import numpy as np
import pytest

from fast_vla_ros.policy.errors import ObservationError
from fast_vla_ros.policy.prompt import discretize_state, encode_prefix, encode_suffix, prompt_text
from fast_vla_ros.policy.vocabulary import ActionTokenMap, PromptVocabulary


@pytest.fixture
def vocab() -> PromptVocabulary:
    return PromptVocabulary.build(["Pick_up the red cube.", "touch the blue block"], action_token_count=100)


def test_action_tokens_take_the_last_ids_counting_down(vocab):
    assert vocab.actions.to_vocab([0, 1, 99]) == [vocab.vocab_size - 1, vocab.vocab_size - 2, vocab.vocab_size - 100]
    assert vocab.actions.from_vocab(vocab.actions.to_vocab(range(100))) == list(range(100))
    assert vocab.vocab_size - 100 == vocab.tokenizer.get_vocab_size()  # appended after every text id
    with pytest.raises(ValueError, match="action tokens must lie in"):
        vocab.actions.to_vocab([100])


def test_paligemma_layout_matches_pi0_fast_formula():
    paligemma = ActionTokenMap(vocab_size=257152, count=2048, skip=128)
    assert paligemma.to_vocab([0, 5]) == [257152 - 1 - 128, 257152 - 1 - 128 - 5]


def test_prompt_text_follows_pi0_fast(vocab):
    text = prompt_text("  Pick_up the RED cube ", np.array([-1.0, 0.0, 0.999, 1.0]))
    assert text == "Task: pick up the red cube, State: 0 128 255 255;\nAction: "
    assert list(discretize_state(np.array([-5.0, 5.0]))) == [0, 255]


def test_prefix_has_images_then_bos_then_known_words(vocab):
    prefix = encode_prefix(vocab, "pick up the red cube", np.zeros(3), image_tokens=8)
    assert prefix.ids[:8] == [vocab.image_id] * 8 and prefix.ids[8] == vocab.bos_id
    unk = vocab.tokenizer.token_to_id("<unk>")
    assert unk not in prefix.ids
    assert vocab.encode_text("Action: ")[-2:] == [
        vocab.tokenizer.token_to_id("action"),
        vocab.tokenizer.token_to_id(":"),
    ]
    assert encode_suffix(vocab, [3, 4])[-2:] == [vocab.end_of_action_id, vocab.eos_id]


def test_unknown_words_map_to_unk_and_bad_prompts_are_rejected(vocab):
    assert vocab.encode_text("juggle")[0] == vocab.tokenizer.token_to_id("<unk>")
    with pytest.raises(ObservationError, match="empty"):
        encode_prefix(vocab, "   ", np.zeros(3), image_tokens=4)
    with pytest.raises(ObservationError, match="shorten the instruction"):
        encode_prefix(vocab, "red " * 80, np.zeros(3), image_tokens=4, max_text_tokens=64)
    with pytest.raises(ObservationError, match="NaN"):
        encode_prefix(vocab, "touch", np.array([0.0, np.nan, 0.0]), image_tokens=4)


def test_vocabulary_round_trips_through_files(vocab, tmp_path):
    vocab.save(tmp_path)
    loaded = PromptVocabulary.load(tmp_path)
    text = "Task: touch the blue block, State: 1 2 3;\nAction: "
    assert loaded.encode_text(text) == vocab.encode_text(text)
    assert (loaded.vocab_size, loaded.end_of_action_id, loaded.actions) == (
        vocab.vocab_size,
        vocab.end_of_action_id,
        vocab.actions,
    )
