"""The tokenizer benchmark: its JSON schema and the compression and error floors on smooth 50 Hz data.

Timing floors are left to the benchmark itself (``--check``): on a shared CI machine they would make
this suite flaky, while tokens and error are deterministic.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "tokenizers.py"


@pytest.fixture(scope="module")
def benchmark():
    # Imported under another name: the file's own name would shadow the Hugging Face ``tokenizers``.
    spec = importlib.util.spec_from_file_location("tokenizer_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fast_meets_the_floors_on_smooth_50hz(benchmark, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchmark, "LATENCY_CALLS", 20)
    monkeypatch.setattr(benchmark, "THROUGHPUT_SECONDS", 0.01)
    dataset = benchmark.smooth50hz(n_train=1000, n_test=200)
    assert dataset.test.shape[1:] == (50, 7) and np.abs(dataset.test).max() <= 1.0
    fast = benchmark.measure("fast", dataset)
    binning = benchmark.measure("binning", dataset)
    assert binning["tokens_mean"] == 350
    assert fast["tokens_mean"] <= benchmark.FLOORS["tokens_mean"]
    assert fast["rmse"] <= benchmark.FLOORS["rmse"]


def test_json_has_exactly_the_agreed_schema(benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = benchmark.smooth50hz(n_train=200, n_test=20)
    monkeypatch.setattr(benchmark, "DATASETS", {"smooth50hz": lambda: small, "bridge": benchmark.bridge})
    monkeypatch.setattr(benchmark, "FASTER_FIT_STEPS", 3)
    monkeypatch.setattr(benchmark, "LATENCY_CALLS", 20)
    monkeypatch.setattr(benchmark, "THROUGHPUT_SECONDS", 0.01)
    assert benchmark.main(["--json", str(tmp_path / "result.json")]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    keys = {"tokens_mean", "tokens_p99", "rmse", "max_abs", "encode_chunks_per_s", "decode_chunks_per_s",
            "decode_p99_ms"}  # fmt: skip
    assert set(result) == {"smooth50hz", "bridge"}
    for per_tokenizer in result.values():
        assert set(per_tokenizer) == {"binning", "fast", "faster"}
        assert all(set(values) == keys for kind, values in per_tokenizer.items() if kind != "faster")
        assert set(per_tokenizer["faster"]) == keys | {"codebook_use"}
