"""benchmarks/fuzz.py on a tiny budget: every message class once (one e-stop each), the three nodes as processes.
Its JSON has the issue's keys, and the floors that do not depend on the machine's speed hold: no crash, no dead
thread, no command outside the limits, none while disarmed or e-stopped. The e-stop latency is measured under
every load class; its 40 ms floor is the full run's to judge, not a test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
LOADS = {"none", "action_chunk", "joint_states", "camera_raw", "camera_compressed", "instruction", "estop", "services"}


def test_a_short_campaign_finds_the_nodes_safe(tmp_path, ros_env):
    out = tmp_path / "fuzz.json"
    command = [sys.executable, "benchmarks/fuzz.py", "--seconds", "20", "--json", str(out), "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO_ROOT, env=ros_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    keys = {"messages", "crashes", "dead_threads", "limit_violations", "commands_while_stopped", "estop_latency_ms_p99"}
    assert keys <= set(results) and len(results["classes"]) >= 30
    assert results["crashes"] == 0 and not results["crash"], results["crash"]
    assert results["dead_threads"] == 0, results["dead_thread_names"]
    assert results["limit_violations"] == 0, results["violation_examples"]
    assert results["commands_while_stopped"] == 0
    assert results["unmatched_controller_commands"] == 0 and results["estops_unconfirmed"] == 0
    assert set(results["estop_latency_by_load"]) == LOADS
    assert all(load["estops"] >= 1 and load["p99_ms"] >= 0.0 for load in results["estop_latency_by_load"].values())
    storms = [c for name, c in results["classes"].items() if name != "idle"]
    assert all(c["sent"] > 0 and c["commands"] > 0 for c in storms)
    assert results["messages"] > sum(c["sent"] for c in storms)
    assert "e-stop latency p99 <= 40 ms under every load class" in done.stdout
