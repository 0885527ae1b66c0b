"""Against files written by the reference FAST processor: same ids, same decoded chunks, same files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.fft import dct

from fast_vla_ros.tokenizers import FastTokenizer, QuantileNormalizer
from fast_vla_ros.tokenizers.reference_format import BPE_FOLDER, PROCESSOR_CONFIG, TOKENIZER_CONFIG, TOKENIZER_FILE

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
REFERENCE = SHARED_DATA / "fast_reference"
BRIDGE_FILE = SHARED_DATA / "bridge_v1_sample.npz"
FIXTURES = ["bridge", "smooth50hz"]


def _probe(name: str) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    probe = np.load(REFERENCE / name / "probe.npz")
    tokens = json.loads((REFERENCE / name / "probe_tokens.json").read_text())
    return probe["chunks"], probe["decoded"], tokens


@pytest.mark.parametrize("name", FIXTURES)
def test_ids_and_decoded_chunks_equal_the_reference(name: str) -> None:
    tokenizer = FastTokenizer.load(REFERENCE / name)
    chunks, decoded, tokens = _probe(name)
    assert tokenizer.encode(chunks) == tokens
    ours, statuses = tokenizer.decode(tokens, chunks.shape[1], chunks.shape[2], return_status=True)
    np.testing.assert_allclose(ours, decoded, rtol=0, atol=1e-12)
    assert not any(statuses)


@pytest.mark.parametrize("name", FIXTURES)
def test_saved_reference_directory_loads_back_identically(name: str, tmp_path: Path) -> None:
    FastTokenizer.load(REFERENCE / name).save(tmp_path)
    for relative in (PROCESSOR_CONFIG, f"{BPE_FOLDER}/{TOKENIZER_FILE}", f"{BPE_FOLDER}/{TOKENIZER_CONFIG}"):
        assert json.loads((tmp_path / relative).read_text()) == json.loads((REFERENCE / name / relative).read_text())
    chunks, _, tokens = _probe(name)
    assert FastTokenizer.load(tmp_path).encode(chunks) == tokens


def test_hub_layout_with_tokenizer_at_the_root_loads(tmp_path: Path) -> None:
    shutil.copy(REFERENCE / "smooth50hz" / PROCESSOR_CONFIG, tmp_path)
    shutil.copy(REFERENCE / "smooth50hz" / BPE_FOLDER / TOKENIZER_FILE, tmp_path)
    chunks, _, tokens = _probe("smooth50hz")
    assert FastTokenizer.load(tmp_path).encode(chunks) == tokens


def test_fitting_on_the_reference_data_gives_the_reference_tokenizer(tmp_path: Path) -> None:
    """The bridge fixture was fitted on the normalized training episodes: so must ours be, file for file."""
    data = np.load(BRIDGE_FILE)
    normalizer = QuantileNormalizer.fit(data["train_actions"].astype(np.float64))
    chunks, _, _ = _probe("bridge")
    np.testing.assert_array_equal(normalizer.normalize(data["val_actions"].astype(np.float64)), chunks)
    train = normalizer.normalize(data["train_actions"].astype(np.float64))
    FastTokenizer.fit(train, scale=10, vocab_size=1024).save(tmp_path)
    reference = REFERENCE / "bridge"
    for relative in (PROCESSOR_CONFIG, f"{BPE_FOLDER}/{TOKENIZER_FILE}"):
        assert json.loads((tmp_path / relative).read_text()) == json.loads((reference / relative).read_text())


def test_transformers_reads_the_saved_bpe_to_the_same_ids(tmp_path: Path) -> None:
    """The reference processor wraps the BPE in a transformers fast tokenizer; it must read our files."""
    from transformers import PreTrainedTokenizerFast

    FastTokenizer.load(REFERENCE / "smooth50hz").save(tmp_path)
    wrapped = PreTrainedTokenizerFast.from_pretrained(str(tmp_path / BPE_FOLDER))
    chunks, _, tokens = _probe("smooth50hz")
    min_token = FastTokenizer.load(tmp_path).config.min_token
    codes = np.rint(dct(chunks, axis=1, norm="ortho") * 10).reshape(len(chunks), -1).astype(int) - min_token
    assert [wrapped("".join(map(chr, row)))["input_ids"] for row in codes] == tokens
    assert [[ord(c) for c in wrapped.decode(ids)] for ids in tokens] == codes.tolist()


def test_fast_plus_settings_load_and_round_trip(tmp_path: Path) -> None:
    """FAST+ (scale 10, vocab 2048, min_token -354): codes above 127 are two UTF-8 bytes under ByteLevel."""
    rng = np.random.default_rng(1)
    extreme = -354 / (10 * np.sqrt(50))  # a constant chunk at this level has mean coefficient -354 after scaling
    anchors = np.stack([np.full((50, 7), extreme), np.full((50, 7), -extreme)])
    walks = 5.0 * np.tanh(rng.normal(0, 0.6, (300, 1, 7)) + np.cumsum(rng.normal(0, 0.05, (300, 50, 7)), axis=1))
    chunks = np.concatenate([walks, anchors])
    FastTokenizer.fit(chunks, scale=10, vocab_size=2048).save(tmp_path)
    config = json.loads((tmp_path / PROCESSOR_CONFIG).read_text())
    assert (config["scale"], config["vocab_size"], config["min_token"]) == (10, 2048, -354)
    tokenizer = FastTokenizer.load(tmp_path)
    decoded, statuses = tokenizer.decode(tokenizer.encode(chunks), 50, 7, return_status=True)
    assert not any(statuses)
    assert np.sqrt(np.mean((decoded - chunks) ** 2)) <= 0.5 / 10
