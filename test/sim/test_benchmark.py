"""benchmarks/sim.py keeps its JSON schema (a short run: 2 episodes per family, 2 s of speed runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sim_benchmark_writes_the_issue_schema(tmp_path):
    out = tmp_path / "sim.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "sim.py"), "--episodes", "2", "--seconds", "2"]
    done = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results["realtime_factor_physics"] > results["realtime_factor_cameras"] > 0
    assert set(results["expert_success"]) == {"touch", "push", "pick"}
    assert all(0.0 <= rate <= 1.0 for rate in results["expert_success"].values())
    assert "real-time factor, 2 cameras" in done.stdout
