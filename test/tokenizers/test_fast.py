"""FAST's promises: bounded error, decoding that never raises, graceful short and long sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fast_vla_ros.tokenizers import ActionTokenizer, BinningTokenizer, DecodeStatus, FastTokenizer

SCALE = 10.0  # the session tokenizer's (see conftest)
# Session fixtures only, so hypothesis's warning about function-scoped fixtures does not apply.
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), horizon=st.sampled_from([10, 32, 50]))
def test_reconstruction_error_is_within_the_quantization_bound(
    fast_tokenizer: FastTokenizer, make_smooth_chunks, seed: int, n: int, horizon: int
) -> None:
    chunks = make_smooth_chunks(np.random.default_rng(seed), n, horizon=horizon)
    decoded, statuses = fast_tokenizer.decode(fast_tokenizer.encode(chunks), horizon, 7, return_status=True)
    assert statuses == [DecodeStatus.OK] * n
    # Rounding moves each orthonormal coefficient by at most 0.5 / scale; the inverse DCT keeps norms.
    per_chunk_rms = np.sqrt(np.mean((decoded - chunks) ** 2, axis=(1, 2)))
    assert np.all(per_chunk_rms <= 0.5 / SCALE + 1e-12)
    per_dim_norm = np.linalg.norm(decoded - chunks, axis=1)
    assert np.all(per_dim_norm <= np.sqrt(horizon) * 0.5 / SCALE + 1e-12)


ids = st.one_of(st.integers(-(2**70), 2**70), st.integers(-5, 1100))


@PROPERTY_SETTINGS
@given(
    tokens=st.lists(st.lists(ids, max_size=400), max_size=6),
    horizon=st.integers(1, 60),
    action_dim=st.integers(1, 9),
)
def test_decoding_any_ids_never_raises(fast_tokenizer: FastTokenizer, tokens, horizon: int, action_dim: int) -> None:
    decoded, statuses = fast_tokenizer.decode(tokens, horizon, action_dim, return_status=True)
    assert decoded.shape == (len(tokens), horizon, action_dim)
    assert np.isfinite(decoded).all()
    assert len(statuses) == len(tokens)
    for row, status in zip(tokens, statuses, strict=True):
        if any(not 0 <= i < fast_tokenizer.vocab_size for i in row):
            assert DecodeStatus.OUT_OF_RANGE in status


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_save_then_load_gives_identical_tokens(
    fast_tokenizer: FastTokenizer, make_smooth_chunks, saved_fast_dir: Path, seed: int
) -> None:
    chunks = make_smooth_chunks(np.random.default_rng(seed), 4)
    assert FastTokenizer.load(saved_fast_dir).encode(chunks) == fast_tokenizer.encode(chunks)


@pytest.fixture(scope="module")
def saved_fast_dir(fast_tokenizer: FastTokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fast")
    fast_tokenizer.save(directory)
    return directory


def test_a_short_sequence_keeps_the_low_frequencies(fast_tokenizer: FastTokenizer, make_smooth_chunks) -> None:
    chunk = make_smooth_chunks(np.random.default_rng(3), 1)
    tokens = fast_tokenizer.encode(chunk)[0]
    decoded, statuses = fast_tokenizer.decode([tokens[: len(tokens) // 2]], 50, 7, return_status=True)
    assert statuses == [DecodeStatus.TOO_SHORT]
    # The first coefficient of each dimension comes first, so the chunk's mean survives.
    np.testing.assert_allclose(decoded[0].mean(axis=0), chunk[0].mean(axis=0), atol=0.5 / SCALE / np.sqrt(50))
    assert np.sqrt(np.mean((decoded - chunk) ** 2)) < 0.5 * np.sqrt(np.mean(chunk**2))


def test_a_long_sequence_drops_the_extra_coefficients(fast_tokenizer: FastTokenizer, make_smooth_chunks) -> None:
    chunk = make_smooth_chunks(np.random.default_rng(4), 1)
    tokens = fast_tokenizer.encode(chunk)[0]
    clean = fast_tokenizer.decode([tokens], 50, 7)
    decoded, statuses = fast_tokenizer.decode([tokens + tokens[:5]], 50, 7, return_status=True)
    assert statuses == [DecodeStatus.TOO_LONG]
    np.testing.assert_array_equal(decoded, clean)


def test_empty_and_out_of_range_sequences_are_reported(fast_tokenizer: FastTokenizer) -> None:
    decoded, statuses = fast_tokenizer.decode([[], [fast_tokenizer.vocab_size, -1]], 50, 7, return_status=True)
    assert statuses == [DecodeStatus.EMPTY, DecodeStatus.EMPTY | DecodeStatus.OUT_OF_RANGE]
    np.testing.assert_array_equal(decoded, 0.0)


def test_ids_that_are_not_integers_are_reported(fast_tokenizer: FastTokenizer) -> None:
    _, statuses = fast_tokenizer.decode([[3.0, 2], None, "ab"], 50, 7, return_status=True)
    assert all(DecodeStatus.OUT_OF_RANGE in status for status in statuses)


def test_every_tokenizer_keeps_the_common_interface(fast_tokenizer: FastTokenizer) -> None:
    assert isinstance(fast_tokenizer, ActionTokenizer)
    assert isinstance(BinningTokenizer(), ActionTokenizer)


def test_bytes_that_form_no_character_are_reported(tmp_path: Path) -> None:
    # Codes above 127 are two UTF-8 bytes; a token holding only a lead byte decodes to U+FFFD.
    rng = np.random.default_rng(5)
    tokenizer = FastTokenizer.fit(rng.uniform(-30, 30, (200, 20, 3)), scale=10, vocab_size=2048)
    lone = [i for i in range(tokenizer.vocab_size) if "\ufffd" in tokenizer._bpe.decode([i])]
    assert lone, "expected a token holding a partial UTF-8 sequence"
    decoded, statuses = tokenizer.decode([[lone[0]]], 20, 3, return_status=True)
    assert DecodeStatus.INVALID_BYTES in statuses[0]
    assert np.isfinite(decoded).all()


def test_chunks_of_different_horizons_encode_as_when_alone(fast_tokenizer: FastTokenizer, make_smooth_chunks) -> None:
    rng = np.random.default_rng(6)
    chunks = [make_smooth_chunks(rng, 1, horizon=h)[0] for h in (50, 20, 50, 33)]
    assert fast_tokenizer.encode(chunks) == [fast_tokenizer.encode(c[None])[0] for c in chunks]


@pytest.mark.parametrize(
    "bad",
    [np.zeros((50, 7)), np.full((2, 50, 7), np.nan), [np.zeros((50, 7)), np.zeros((50, 6))], [np.zeros(7)]],
    ids=["2-d array", "nan", "mixed action dims", "1-d chunk"],
)
def test_encode_rejects_malformed_chunks(fast_tokenizer: FastTokenizer, bad) -> None:
    with pytest.raises(ValueError):
        fast_tokenizer.encode(bad)


def test_fit_refuses_a_vocabulary_smaller_than_the_coefficient_range() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        FastTokenizer.fit(np.random.default_rng(7).uniform(-1, 1, (50, 50, 7)), scale=100, vocab_size=300)
