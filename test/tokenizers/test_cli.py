"""The tokenizer subcommands end to end, and the one-line errors users get for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fast_vla_ros.cli import main
from fast_vla_ros.tokenizers import FastTokenizer, QuantileNormalizer

BRIDGE = Path(__file__).resolve().parents[3] / "shared" / "data" / "bridge_v1_sample.npz"


@pytest.fixture
def episodes_file(tmp_path: Path, make_smooth_chunks) -> Path:
    path = tmp_path / "episodes.npz"
    np.savez(path, actions=3.0 * make_smooth_chunks(np.random.default_rng(0), 6, horizon=100))
    return path


def test_fit_tokenizer_writes_a_loadable_tokenizer_and_normalizer(
    episodes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tok"
    assert main(["fit-tokenizer", str(episodes_file), "--horizon", "50", "--stride", "25", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "6 episodes -> 18 chunks of 50 x 7" in table  # 3 windows of 50 every 25 steps in 100
    assert "tokens per chunk" in table and "compression vs binning" in table
    tokenizer = FastTokenizer.load(out)
    assert (tokenizer.config.time_horizon, tokenizer.config.action_dim) == (50, 7)
    assert QuantileNormalizer.load(out / "normalizer.json").action_dim == 7


def test_tokenizer_report_on_the_shared_bridge_data_writes_a_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "report.png"
    assert main(["tokenizer-report", str(BRIDGE), "--horizon", "10", "--png", str(png)]) == 0
    assert "25 x 10 steps x 7 dims" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_report_with_a_fitted_binning_tokenizer(episodes_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "binning"
    assert main(["fit-tokenizer", str(episodes_file), "--kind", "binning", "--out", str(out)]) == 0
    png = tmp_path / "binning.png"
    assert main(["tokenizer-report", str(episodes_file), "--tokenizer", str(out), "--png", str(png)]) == 0
    assert png.is_file()


def test_parquet_episodes_are_split_by_episode_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    steps = np.random.default_rng(1).uniform(-1, 1, (30, 4))
    table = pa.table({"action": steps.tolist(), "episode_index": [0] * 12 + [1] * 18})
    pq.write_table(table, tmp_path / "steps.parquet")
    out = tmp_path / "tok"
    args = ["fit-tokenizer", str(tmp_path / "steps.parquet"), "--horizon", "10", "--kind", "binning"]
    assert main([*args, "--out", str(out)]) == 0
    assert "2 episodes -> 2 chunks" in capsys.readouterr().out  # no chunk spans the two episodes


def _error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error_of(["fit-tokenizer", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "o")], capsys)
    assert "not found" in err and "nope.npz" in err


@pytest.mark.parametrize("shape", [(100,), (2, 3, 50, 7)])
def test_wrong_array_shapes_are_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], shape) -> None:
    np.savez(tmp_path / "bad.npz", actions=np.zeros(shape))
    err = _error_of(["fit-tokenizer", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o")], capsys)
    assert "expected [T, D]" in err and str(shape) in err


def test_nan_in_the_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    actions = np.zeros((3, 60, 7))
    actions[1, 5, 2] = np.nan
    np.savez(tmp_path / "nan.npz", actions=actions)
    err = _error_of(["tokenizer-report", str(tmp_path / "nan.npz")], capsys)
    assert "NaN" in err and "episode 1, step 5, dimension 2" in err


def test_a_horizon_longer_than_every_episode_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error_of(["tokenizer-report", str(BRIDGE), "--horizon", "50"], capsys)
    assert "longest episode has 10 steps" in err


def test_an_unknown_key_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _error_of(["fit-tokenizer", str(BRIDGE), "--key", "joint_actions", "--out", str(tmp_path)], capsys)
    assert "joint_actions" in err and "train_actions" in err
