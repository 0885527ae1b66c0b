"""The binning baseline: half-bin error, one token per value, robust decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fast_vla_ros.tokenizers import BinningTokenizer, DecodeStatus, load_tokenizer


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bins=st.sampled_from([2, 16, 256]))
def test_round_trip_error_is_at_most_half_a_bin(seed: int, bins: int) -> None:
    chunks = np.random.default_rng(seed).uniform(-1, 1, (5, 12, 7))
    tokenizer = BinningTokenizer.fit(chunks, bins=bins)
    tokens = tokenizer.encode(chunks)
    assert all(len(t) == 12 * 7 for t in tokens)
    assert max(max(t) for t in tokens) < tokenizer.vocab_size
    np.testing.assert_array_less(np.abs(tokenizer.decode(tokens, 12, 7) - chunks), 1.0 / bins + 1e-12)


@settings(max_examples=40, deadline=None)
@given(tokens=st.lists(st.lists(st.integers(-(2**70), 2**70), max_size=100), max_size=5), horizon=st.integers(1, 12))
def test_decoding_any_ids_never_raises(tokens, horizon: int) -> None:
    decoded, statuses = BinningTokenizer().decode(tokens, horizon, 3, return_status=True)
    assert decoded.shape == (len(tokens), horizon, 3) and len(statuses) == len(tokens)
    assert np.all(np.abs(decoded) <= 1.0)


def test_a_short_sequence_holds_the_last_step() -> None:
    chunk = np.random.default_rng(0).uniform(-1, 1, (1, 5, 3))
    tokenizer = BinningTokenizer()
    tokens = tokenizer.encode(chunk)[0]
    decoded, statuses = tokenizer.decode([tokens[:7]], 5, 3, return_status=True)  # two steps and one value
    assert statuses == [DecodeStatus.TOO_SHORT]
    np.testing.assert_allclose(decoded[0, :2], chunk[0, :2], atol=1 / 256)
    np.testing.assert_allclose(decoded[0, 2, 0], chunk[0, 2, 0], atol=1 / 256)
    np.testing.assert_array_equal(decoded[0, 2, 1:], decoded[0, 1, 1:])
    np.testing.assert_array_equal(decoded[0, 3:], np.broadcast_to(decoded[0, 2], (2, 3)))


def test_save_then_load(tmp_path: Path) -> None:
    BinningTokenizer(bins=64).save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, BinningTokenizer) and loaded.vocab_size == 64
