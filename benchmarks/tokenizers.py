"""Benchmark of the action tokenizers: binning (RT-2 / OpenVLA), FAST and FASTer, on up to three datasets.

    python benchmarks/tokenizers.py [--json out/tokenizers.json] [--check] [--sim-data DIR]

Datasets (normalized per dimension to [-1, 1] by a QuantileNormalizer fitted on the training split):
  smooth50hz  7-D, 50-step chunks at 50 Hz: windows of the simulator's scripted expert's planned joint
              targets (fast_vla_ros.sim.expert_chunks), train and test from disjoint episode seeds.
  sim         the simulator's expert: 50-step windows of the absolute joint targets of a data set written by
              `fast-vla sim-demos` (default ../data/demos240; skipped when absent). The first 5/6 of the
              episodes train (windows every 2 steps), the rest test (every 10 steps).
  bridge      ../shared/data/bridge_v1_sample.npz: real WidowX end-effector deltas, 10 steps x 7 at 5 Hz.
              Its 25 validation episodes are its 25 training episodes reordered: a learned tokenizer
              (FASTer) can memorise them, so
  bridge_unseen fits on 13 of the 25 distinct episodes and tests on the other 12.
Tokenizers are fitted on the training split and measured on the held-out split. Errors are in
normalized units. FASTer (torch, one thread) is fitted with the settings in ``FASTER_FIT``.
``--check`` exits with 1 when FAST misses the floors on smooth50hz, or when FASTer on sim uses more
tokens per chunk than FAST or does not reconstruct more precisely.
"""

import sys
from pathlib import Path

# This file shares its name with the Hugging Face ``tokenizers`` package: run as a script, its folder
# would come first on sys.path and shadow the library.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fast_vla_ros.sim.expert_chunks import expert_action_chunks  # noqa: E402
from fast_vla_ros.tokenizers import BinningTokenizer, FasterTokenizer, FastTokenizer, QuantileNormalizer  # noqa: E402
from fast_vla_ros.tokenizers.evaluation import format_table, reconstruct  # noqa: E402
from fast_vla_ros.types import JointLimits  # noqa: E402

BRIDGE_FILE = _HERE.parent.parent / "shared" / "data" / "bridge_v1_sample.npz"
SIM_DATA = _HERE.parent.parent / "data" / "demos240"
SIM_LIMITS = _HERE.parent / "config" / "sim_arm_limits.yaml"
THROUGHPUT_BATCH = 256
LATENCY_CALLS = 1000
THROUGHPUT_SECONDS = 0.5  # per measurement: long enough to average over scheduler noise
# The floors the issue sets for FAST on smooth50hz at scale 10.
FLOORS = {"tokens_mean": 60.0, "rmse": 0.03, "decode_p99_ms": 1.0}


@dataclass(frozen=True)
class Dataset:
    train: np.ndarray  # [N, H, D], normalized
    test: np.ndarray
    name: str = ""
    joint_names: tuple[str, ...] | None = None


def _normalized(train: np.ndarray, test: np.ndarray, name: str = "", joint_names=None) -> Dataset:
    normalizer = QuantileNormalizer.fit(train)
    return Dataset(normalizer.normalize(train), normalizer.normalize(test), name, joint_names)


def smooth50hz(n_train: int = 2000, n_test: int = 500) -> Dataset:
    """The expert's 50 Hz motion; test episodes (seeds from 100000) are never seen in fitting."""
    train = expert_action_chunks(n_train, seed=0)
    test = expert_action_chunks(n_test, seed=100_000)
    return _normalized(train, test, "smooth50hz", JointLimits.from_yaml(SIM_LIMITS).joint_names)


def sim(path: Path = SIM_DATA, horizon: int = 50) -> Dataset:
    """Expert windows of a simulator data set, split by episode (no window of a test episode is seen in fitting)."""
    from fast_vla_ros.data.episode_dataset import EpisodeDataset

    dataset = EpisodeDataset(path)
    split = len(dataset) * 5 // 6

    def windows(episodes: range, stride: int) -> np.ndarray:
        out = []
        for episode in episodes:
            actions = dataset.action[dataset.frame_rows(episode)].astype(np.float64)
            out.extend(actions[s : s + horizon] for s in range(0, len(actions) - horizon + 1, stride))
        return np.stack(out)

    train, test = windows(range(split), 2), windows(range(split, len(dataset)), 10)
    return _normalized(train, test, "sim", tuple(dataset.joint_names))


def bridge(path: Path = BRIDGE_FILE) -> Dataset:
    """Each 10-step episode is one chunk: split as the file splits it (25 train, 25 validation)."""
    data = np.load(path)
    return _normalized(data["train_actions"].astype(np.float64), data["val_actions"].astype(np.float64), "bridge")


def bridge_unseen(path: Path = BRIDGE_FILE) -> Dataset:
    """The sample's validation episodes are its training episodes reordered (checked here), so ``bridge``
    cannot tell memorising from generalising; this split fits on 13 episodes and tests on the other 12."""
    data = np.load(path)
    train, val = data["train_actions"].astype(np.float64), data["val_actions"].astype(np.float64)
    if sorted(map(bytes, train)) != sorted(map(bytes, val)):
        raise ValueError(f"{path}: validation episodes are no longer a reordering of the training ones")
    return _normalized(train[:13], train[13:], "bridge_unseen")


DATASETS: dict[str, Callable[[], Dataset]] = {
    "smooth50hz": smooth50hz,
    "sim": sim,
    "bridge": bridge,
    "bridge_unseen": bridge_unseen,
}
TOKENIZERS = {"binning": BinningTokenizer, "fast": FastTokenizer, "faster": FasterTokenizer}
# FASTer per dataset. 50-step chunks: one 50-step window x 3 joint groups x 5 levels = 15 codes (FAST needs
# ~16-19 tokens there). Bridge has 25 training chunks of 10 steps: one window, 3 levels, tiny codebooks.
FASTER_FIT: dict[str, dict[str, object]] = {
    "smooth50hz": {},
    "sim": {},
    "bridge": {"patch_steps": 10, "codebook_size": 16, "num_quantizers": 3, "steps": 600, "batch_size": 25},
    "bridge_unseen": {"patch_steps": 10, "codebook_size": 16, "num_quantizers": 3, "steps": 600, "batch_size": 13},
}
FASTER_FIT_STEPS: int | None = None  # overrides every dataset's step count (the tests shorten the fit)


def _batch_of(chunks: np.ndarray, size: int) -> np.ndarray:
    return np.resize(chunks, (size, *chunks.shape[1:]))


def _per_second(function: Callable[[], object], items: int) -> float:
    function()  # warm caches and lazy initialisation
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < THROUGHPUT_SECONDS or calls < 3:
        function()
        calls += 1
    return items * calls / elapsed


def _fit(kind: str, dataset: Dataset):
    if kind != "faster":
        return TOKENIZERS[kind].fit(dataset.train)
    options = dict(FASTER_FIT.get(dataset.name, {}))
    if FASTER_FIT_STEPS is not None:
        options["steps"] = FASTER_FIT_STEPS
    return FasterTokenizer.fit(dataset.train, joint_names=dataset.joint_names, progress=False, **options)


def measure(kind: str, dataset: Dataset) -> dict[str, float]:
    start = time.perf_counter()
    tokenizer = _fit(kind, dataset)
    fit_s = time.perf_counter() - start
    stats = reconstruct(tokenizer, dataset.test).stats
    horizon, action_dim = dataset.test.shape[1:]
    batch = _batch_of(dataset.test, THROUGHPUT_BATCH)
    batch_tokens = tokenizer.encode(batch)
    single = [tokenizer.encode(dataset.test[i : i + 1]) for i in range(min(len(dataset.test), 64))]
    latencies = np.empty(LATENCY_CALLS)
    for i in range(LATENCY_CALLS):
        tokens = single[i % len(single)]
        start = time.perf_counter()
        tokenizer.decode(tokens, horizon, action_dim)
        latencies[i] = time.perf_counter() - start
    result = {
        "tokens_mean": stats.tokens_mean,
        "tokens_p99": stats.tokens_p99,
        "rmse": stats.rmse,
        "max_abs": stats.max_abs,
        "encode_chunks_per_s": _per_second(lambda: tokenizer.encode(batch), THROUGHPUT_BATCH),
        "decode_chunks_per_s": _per_second(
            lambda: tokenizer.decode(batch_tokens, horizon, action_dim), THROUGHPUT_BATCH
        ),
        "decode_p99_ms": float(np.percentile(latencies, 99) * 1e3),
        # Printed, not written to JSON (its schema is fixed):
        "decode_p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "fit_s": fit_s,
    }
    if kind == "faster":  # share of the (level, code) pairs the training split uses: dead codes show here
        used = {token for row in tokenizer.encode(dataset.train) for token in row}
        result["codebook_use"] = len(used) / tokenizer.vocab_size
    return result


JSON_KEYS = (
    "tokens_mean",
    "tokens_p99",
    "rmse",
    "max_abs",
    "encode_chunks_per_s",
    "decode_chunks_per_s",
    "decode_p99_ms",
)
FASTER_KEYS = ("codebook_use",)  # FASTer rows only


def floor_failures(results: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    fast = results["smooth50hz"]["fast"]
    failures = [f"{key} = {fast[key]:.4g} > {limit}" for key, limit in FLOORS.items() if fast[key] > limit]
    if "faster" in results.get("sim", {}):
        faster, fast = results["sim"]["faster"], results["sim"]["fast"]
        if faster["tokens_mean"] > fast["tokens_mean"]:
            failures.append(f"sim: FASTer {faster['tokens_mean']:.1f} tokens > FAST {fast['tokens_mean']:.1f}")
        if faster["rmse"] >= fast["rmse"]:
            failures.append(f"sim: FASTer RMSE {faster['rmse']:.4g} >= FAST {fast['rmse']:.4g}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 if FAST or FASTer misses a floor")
    parser.add_argument("--sim-data", type=Path, default=SIM_DATA, help=f"sim data set (default {SIM_DATA})")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # FASTer's fit; timings comparable on a shared machine

    results: dict[str, dict[str, dict[str, float]]] = {}
    rows = []
    for name, load in DATASETS.items():
        if load is sim:
            if not (args.sim_data / "meta" / "info.json").is_file():
                print(f"skipping sim: no data set at {args.sim_data} (fast-vla sim-demos --out DIR)")
                continue
            dataset = sim(args.sim_data)
        else:
            dataset = load()
        results[name] = {kind: measure(kind, dataset) for kind in TOKENIZERS}
        binning_tokens = results[name]["binning"]["tokens_mean"]
        for kind, r in results[name].items():
            rows.append([
                name, kind, f"{len(dataset.train)}/{len(dataset.test)}", r["tokens_mean"], r["tokens_p99"],
                f"{binning_tokens / r['tokens_mean']:.2f}x", r["rmse"], r["max_abs"], f"{r['fit_s']:.3f}",
                f"{r['encode_chunks_per_s']:.0f}", f"{r['decode_chunks_per_s']:.0f}",
                f"{r['decode_p50_ms']:.3f}", f"{r['decode_p99_ms']:.3f}",
                f"{r['codebook_use']:.2f}" if "codebook_use" in r else "-",
            ])  # fmt: skip
    header = [
        "dataset", "tokenizer", "train/test", "tok mean", "tok p99", "vs binning", "rmse", "max abs", "fit s",
        "enc chunk/s", "dec chunk/s", "dec p50 ms", "dec p99 ms", "codes used",
    ]  # fmt: skip
    print(f"tokenizer benchmark ({os.cpu_count()} CPUs; batch {THROUGHPUT_BATCH} for throughput, "
          f"{LATENCY_CALLS} single-chunk decodes for latency; errors in normalized units)")  # fmt: skip
    print(format_table(header, rows))
    failures = floor_failures(results)
    print("floors:", "all met" if not failures else "MISSED: " + "; ".join(failures))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            name: {kind: {key: r[key] for key in (*JSON_KEYS, *FASTER_KEYS) if key in r} for kind, r in per.items()}
            for name, per in results.items()
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
