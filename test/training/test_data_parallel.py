"""`accelerate launch` with two CPU processes (gloo) trains as one process on the same global batch: the
same losses step by step, the same weights within floating-point reordering, and both replicas in step."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from fast_vla_ros.cli import main

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos") / "data"
    assert main(["sim-demos", "--tasks", "touch", "--episodes", "2", "--image-size", "32", "--out", str(out)]) == 0
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_args(data: Path, out: Path) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--horizon", "10", "--stride", "5", "--steps", "3",
            "--batch-size", "4", "--learning-rate", "0.05", "--validation-episodes", "0", "--validate-every", "1",
            "--lookahead-steps", "0", "--threads", "1", "--seed", "3"]  # fmt: skip


def history(out: Path) -> dict:
    return json.loads((out / "training_state.json").read_text())["history"]


def test_two_processes_train_as_one_on_the_same_global_batch(demos, tmp_path):
    single, parallel = tmp_path / "single", tmp_path / "parallel"
    assert main(train_args(demos, single)) == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    # --multi_gpu makes accelerate start the processes with torchrun; on a machine without GPUs each one's
    # Accelerator joins a gloo group on the CPU (accelerate's --cpu alone starts one process, or uses mpirun).
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()),
              "-m", "fast_vla_ros.cli", *train_args(demos, parallel)]  # fmt: skip
    result = subprocess.run(launch, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ran = history(parallel)
    assert ran["replicas"] == 2 and ran["replica_weight_spread"] == 0.0, "the replicas' weights differ"
    losses = np.array([loss for _, loss in history(single)["train_loss"]])
    np.testing.assert_allclose([loss for _, loss in ran["train_loss"]], losses, rtol=1e-4)
    assert losses[-1] < losses[0]  # the steps did change the weights, so equal losses compare equal updates
    a, b = load_file(str(single / "model.safetensors")), load_file(str(parallel / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-3, f"weights differ by up to {worst} after 3 steps at learning rate 0.05"
