"""``fast-vla fit-tokenizer`` and ``fast-vla tokenizer-report``: fit, inspect and compare action tokenizers.

Actions come from ``.npz`` (an array ``[T, D]`` for one episode or ``[E, T, D]`` for episodes) or
``.parquet`` (a list-valued action column, one row per step, split into episodes by ``episode_index``
when present). Chunks are windows of ``--horizon`` steps every ``--stride`` steps inside an episode,
never across episodes: a chunk spanning two episodes would be a motion no robot made.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fast_vla_ros.cli import CommandError

if TYPE_CHECKING:  # the tokenizer stack is imported inside the handlers, keeping `fast-vla --help` quick
    from fast_vla_ros.tokenizers.evaluation import ReconstructionStats

NORMALIZER_FILE = "normalizer.json"
ACTION_KEYS = ("actions", "action")
DEFAULT_REPORT = Path("out") / "tokenizer_report.png"


def register(subparsers: argparse._SubParsersAction) -> None:
    fit = subparsers.add_parser(
        "fit-tokenizer",
        help="fit a normalizer and an action tokenizer on recorded actions",
        description="Fit a QuantileNormalizer and a tokenizer on recorded actions and save both to --out.",
    )
    _add_data_arguments(fit)
    fit.add_argument(
        "--kind", choices=("fast", "binning", "faster"), default="fast", help="tokenizer kind (default fast)"
    )
    fit.add_argument("--scale", type=float, default=10.0, help="FAST: DCT coefficient scale (default 10)")
    fit.add_argument("--vocab-size", type=int, default=1024, help="FAST: BPE vocabulary size (default 1024)")
    fit.add_argument("--bins", type=int, default=256, help="binning: bins per value (default 256)")
    fit.add_argument("--codebook-size", type=int, help="faster: codes per quantizer level (default: FasterTokenizer's)")
    fit.add_argument("--fit-steps", type=int, help="faster: training steps (default: FasterTokenizer's)")
    fit.add_argument("--threads", type=int, default=0, help="faster: torch CPU threads (default 0: torch's choice)")
    fit.add_argument("--out", type=Path, required=True, help="output directory (FAST: reference processor layout)")
    fit.set_defaults(handler=fit_tokenizer)

    report = subparsers.add_parser(
        "tokenizer-report",
        help="table and PNG of how a tokenizer compresses and reconstructs recorded actions",
        description="Encode and decode recorded actions, print a table, write one PNG. Without --tokenizer, "
        "a normalizer and a FAST tokenizer are fitted on the same actions first.",
    )
    _add_data_arguments(report)
    report.add_argument("--tokenizer", type=Path, help="a directory written by fit-tokenizer")
    report.add_argument("--png", type=Path, default=DEFAULT_REPORT, help=f"figure path (default {DEFAULT_REPORT})")
    report.add_argument("--samples", type=int, default=3, help="chunks drawn in the figure (default 3)")
    report.set_defaults(handler=tokenizer_report)


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("actions", type=Path, help="actions file (.npz or .parquet) or an episode data set directory")
    parser.add_argument("--key", help=f"npz array or parquet column (default: the first of {list(ACTION_KEYS)}, "
                        "else the first name ending in 'actions')")  # fmt: skip
    parser.add_argument("--horizon", type=int, default=50, help="steps per chunk (default 50: 1 s at 50 Hz)")
    parser.add_argument("--stride", type=int, help="steps between chunk starts (default: the horizon)")


def fit_tokenizer(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fast_vla_ros.tokenizers import BinningTokenizer, FasterTokenizer, FastTokenizer, QuantileNormalizer
    from fast_vla_ros.tokenizers.evaluation import reconstruct

    episodes, key = load_episodes(args.actions, args.key)
    normalizer = QuantileNormalizer.fit(episodes)
    chunks = cut_chunks([normalizer.normalize(e) for e in episodes], args.horizon, args.stride)
    print(f"{args.actions} [{key}]: {len(episodes)} episodes -> {len(chunks)} chunks of {args.horizon} x "
          f"{chunks.shape[2]}; fitting {args.kind}")  # fmt: skip
    start = time.perf_counter()
    try:
        if args.kind == "fast":
            tokenizer = FastTokenizer.fit(
                chunks, args.scale, args.vocab_size, time_horizon=args.horizon, action_dim=chunks.shape[2]
            )
        elif args.kind == "faster":
            if args.threads > 0:
                import torch

                torch.set_num_threads(args.threads)
            options = {"codebook_size": args.codebook_size, "steps": args.fit_steps}
            tokenizer = FasterTokenizer.fit(chunks, **{k: v for k, v in options.items() if v is not None})
        else:
            tokenizer = BinningTokenizer.fit(chunks, args.bins)
    except ValueError as error:
        raise CommandError(str(error)) from error
    fit_s = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(args.out)
    normalizer.save(args.out / NORMALIZER_FILE)
    result = reconstruct(tokenizer, chunks, progress=lambda r: tqdm(r, desc="evaluating", unit="batch"))
    print(_stats_table(args.kind, tokenizer.vocab_size, result.stats, fit_s))
    print(f"saved {args.kind} tokenizer and {NORMALIZER_FILE} to {args.out}")
    return 0


def tokenizer_report(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fast_vla_ros.tokenizers import FastTokenizer, QuantileNormalizer, load_tokenizer
    from fast_vla_ros.tokenizers.evaluation import reconstruct
    from fast_vla_ros.tokenizers.report_figure import save_report_figure

    episodes, key = load_episodes(args.actions, args.key)
    if args.tokenizer is None:
        normalizer = QuantileNormalizer.fit(episodes)
        chunks = cut_chunks([normalizer.normalize(e) for e in episodes], args.horizon, args.stride)
        print(f"no --tokenizer: fitting a normalizer and FAST on the {len(chunks)} chunks being reported")
        tokenizer = FastTokenizer.fit(chunks)
    else:
        try:
            tokenizer = load_tokenizer(args.tokenizer)
            normalizer = QuantileNormalizer.load(args.tokenizer / NORMALIZER_FILE)
        except (FileNotFoundError, ValueError, KeyError) as error:
            raise CommandError(f"cannot load tokenizer from {args.tokenizer}: {error}") from error
        if normalizer.action_dim != episodes[0].shape[1]:
            raise CommandError(f"the tokenizer's normalizer has {normalizer.action_dim} dimensions, "
                               f"{args.actions} [{key}] has {episodes[0].shape[1]}")  # fmt: skip
        chunks = cut_chunks([normalizer.normalize(e) for e in episodes], args.horizon, args.stride)
    kind = type(tokenizer).__name__
    result = reconstruct(tokenizer, chunks, progress=lambda r: tqdm(r, desc="encoding", unit="batch"))
    print(_stats_table(kind, tokenizer.vocab_size, result.stats))
    scale = tokenizer.config.scale if isinstance(tokenizer, FastTokenizer) else None
    title = f"{kind} on {args.actions.name} [{key}]"
    save_report_figure(args.png, title, chunks, result, samples=args.samples, scale=scale)
    print(f"wrote {args.png}")
    return 0


def _stats_table(kind: str, vocab_size: int, stats: ReconstructionStats, fit_s: float | None = None) -> str:
    from fast_vla_ros.tokenizers.evaluation import format_table

    rows = [
        ["tokenizer", kind],
        ["vocabulary", vocab_size],
        ["chunks", f"{stats.chunks} x {stats.horizon} steps x {stats.action_dim} dims"],
        ["tokens per chunk (mean / p50 / p99 / max)",
         f"{stats.tokens_mean:.1f} / {stats.tokens_p50:.0f} / {stats.tokens_p99:.0f} / {stats.tokens_max}"],
        ["compression vs binning", f"{stats.values_per_chunk / stats.tokens_mean:.2f}x"],
        ["reconstruction RMSE (normalized)", f"{stats.rmse:.5f}"],
        ["max |error| (normalized)", f"{stats.max_abs:.5f}"],
        ["chunks that did not decode cleanly", stats.failed_decodes],
    ]  # fmt: skip
    if fit_s is not None:
        rows.append(["fit time", f"{fit_s:.2f} s"])
    return format_table(["", "value"], rows)


def load_episodes(path: Path, key: str | None) -> tuple[list[np.ndarray], str]:
    """Episodes ``[T_i, D]`` (float64) and the key they came from; every user mistake is a CommandError."""
    if (path / "meta" / "info.json").is_file():  # a data set of sim-demos, recorder_node or import-bag
        episodes, key = _data_set_episodes(path), "action"
    elif not path.is_file():
        raise CommandError(f"actions file not found: {path}")
    elif path.suffix == ".npz":
        episodes, key = _npz_episodes(path, key)
    elif path.suffix == ".parquet":
        episodes, key = _parquet_episodes(path, key)
    else:
        raise CommandError(f"{path}: unsupported file type {path.suffix!r} (use .npz or .parquet)")
    if not episodes:
        raise CommandError(f"{path} [{key}]: no actions")
    for e, episode in enumerate(episodes):
        bad = np.argwhere(~np.isfinite(episode))
        if len(bad):
            step, dim = bad[0]
            raise CommandError(f"{path} [{key}]: {len(bad)} NaN/Inf values, the first in episode {e}, "
                               f"step {step}, dimension {dim}")  # fmt: skip
    return episodes, key


def _choose_key(names: list[str], key: str | None, path: Path) -> str:
    if key is not None:
        if key not in names:
            raise CommandError(f"{path}: no {key!r} (it has {names})")
        return key
    for candidate in [*ACTION_KEYS, *sorted(n for n in names if n.endswith("actions"))]:
        if candidate in names:
            return candidate
    raise CommandError(f"{path}: no actions array found among {names}; name one with --key")


def _npz_episodes(path: Path, key: str | None) -> tuple[list[np.ndarray], str]:
    try:
        with np.load(path, allow_pickle=False) as data:
            key = _choose_key(list(data.files), key, path)
            array = data[key]
    except (OSError, ValueError) as error:
        raise CommandError(f"{path}: cannot read as .npz ({error})") from error
    if not np.issubdtype(array.dtype, np.number):
        raise CommandError(f"{path} [{key}]: expected numbers, got dtype {array.dtype}")
    if array.ndim == 2:
        return [array.astype(np.float64)], key
    if array.ndim == 3:
        return [episode.astype(np.float64) for episode in array], key
    raise CommandError(f"{path} [{key}]: expected [T, D] (one episode) or [E, T, D] (episodes), got {array.shape}")


def _data_set_episodes(path: Path) -> list[np.ndarray]:
    from fast_vla_ros.data.episode_dataset import EpisodeDataset

    try:
        dataset = EpisodeDataset(path)
    except (OSError, KeyError, ValueError) as error:
        raise CommandError(f"{path} is not a readable data set: {error}") from error
    return [dataset.action[dataset.frame_rows(e)].astype(np.float64) for e in range(len(dataset))]


def _parquet_episodes(path: Path, key: str | None) -> tuple[list[np.ndarray], str]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types for unreadable files
        raise CommandError(f"{path}: cannot read as parquet ({error})") from error
    key = _choose_key(table.column_names, key, path)
    try:
        steps = np.array(table.column(key).to_pylist(), dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise CommandError(f"{path} [{key}]: every row must be a list of the same length of numbers") from error
    if steps.ndim == 1:
        steps = steps[:, None]
    if steps.ndim != 2:
        raise CommandError(f"{path} [{key}]: expected one action vector per row, got rows of shape {steps.shape[1:]}")
    if "episode_index" not in table.column_names:
        return [steps], key
    episode_of = np.asarray(table.column("episode_index").to_numpy())
    return [steps[episode_of == e] for e in dict.fromkeys(episode_of.tolist())], key


def cut_chunks(episodes: list[np.ndarray], horizon: int, stride: int | None) -> np.ndarray:
    """``[N, horizon, D]`` windows inside each episode; a CommandError when none fit."""
    stride = horizon if stride is None else stride
    if horizon < 1 or stride < 1:
        raise CommandError(f"--horizon and --stride must be positive, got {horizon} and {stride}")
    windows = [
        episode[start : start + horizon]
        for episode in episodes
        for start in range(0, episode.shape[0] - horizon + 1, stride)
    ]
    if not windows:
        longest = max(episode.shape[0] for episode in episodes)
        raise CommandError(f"no chunk fits: the longest episode has {longest} steps, --horizon is {horizon}")
    return np.stack(windows)
