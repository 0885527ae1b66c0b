"""The policy runtime stands alone: importing every module of ``fast_vla_ros.policy`` loads neither the
simulator nor the training or evaluation code, so the arrows between the layers keep running one way and
``policy_node`` loads only what it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: this pytest process may already hold the simulator and the training code.
IMPORT_EVERY_POLICY_MODULE = """
import importlib, json, pkgutil, sys
import fast_vla_ros.policy as policy
names = [m.name for m in pkgutil.walk_packages(policy.__path__, "fast_vla_ros.policy.")]
for name in names:
    importlib.import_module(name)
loaded = {n: getattr(m, "__file__", None) for n, m in sys.modules.items() if n.split(".")[0] == "fast_vla_ros"}
print(json.dumps({"policy_modules": names, "loaded": loaded}))
"""


def test_importing_the_policy_runtime_loads_no_simulator_training_or_evaluation():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-c", IMPORT_EVERY_POLICY_MODULE]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert {"fast_vla_ros.policy.runtime", "fast_vla_ros.policy.checkpoint"} <= set(report["policy_modules"])
    loaded = report["loaded"]
    assert set(report["policy_modules"]) <= set(loaded)
    rooms = ("fast_vla_ros.sim", "fast_vla_ros.training", "fast_vla_ros.evaluation")
    assert sorted(n for n in loaded if n in rooms or n.startswith(tuple(f"{room}." for room in rooms))) == []
    # fast_vla_ros.__path__ also lists the installed copy: the modules checked must be this checkout's.
    assert {n: f for n, f in loaded.items() if f and not Path(f).is_relative_to(REPO_ROOT)} == {}
