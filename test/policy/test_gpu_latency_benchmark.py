"""benchmarks/gpu_latency.py runs end to end (tiny model, CPU) and writes its JSON; the real run needs a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_gpu_latency_benchmark_plumbing(tmp_path):
    out = tmp_path / "gpu.json"
    subprocess.run(
        [sys.executable, "benchmarks/gpu_latency.py", "--size", "tiny", "--device", "cpu", "--tokens", "3",
         "--cameras", "1,3", "--codes", "5", "--block-size", "2", "--repeats", "1", "--json", str(out)],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True, timeout=300,
    )
    results = json.loads(out.read_text())
    assert results["tokens"] == 3 and results["bandwidth_floor_ms"] > 0
    assert set(results["cameras"]) == {"1", "3"}
    for paths in results["cameras"].values():
        assert set(paths) == {"generate", "static_compiled", "faster_b2"}
        assert all(p["ms_p50"] > 0 and p["x_floor"] > 0 for p in paths.values())
        assert paths["faster_b2"]["forward_passes"] == 3  # ceil(5 / 2) blocks, the first from the prefill
    per_pass_ms = results["bandwidth_floor_ms"] / results["tokens"]
    assert results["faster"]["bandwidth_floor_ms"] == pytest.approx(per_pass_ms * 3)
