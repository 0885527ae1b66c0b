"""How well a tokenizer does on a set of chunks: sequence length, reconstruction error, failed decodes.

One definition shared by the CLI, the report and the benchmark, so their numbers mean the same thing.
Errors are in normalized units (the [-1, 1] of ``QuantileNormalizer``), comparable across datasets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from fast_vla_ros.tokenizers.base import ActionTokenizer, DecodeStatus


@dataclass(frozen=True)
class ReconstructionStats:
    chunks: int
    horizon: int
    action_dim: int
    tokens_mean: float
    tokens_p50: float
    tokens_p99: float
    tokens_max: int
    rmse: float
    max_abs: float
    failed_decodes: int  # chunks whose decode status was not OK

    @property
    def values_per_chunk(self) -> int:
        """What binning spends: one token per value."""
        return self.horizon * self.action_dim


@dataclass(frozen=True)
class Reconstruction:
    tokens: list[list[int]]
    decoded: np.ndarray  # [N, H, D]
    statuses: list[DecodeStatus]
    stats: ReconstructionStats


def reconstruct(
    tokenizer: ActionTokenizer,
    chunks: np.ndarray,
    batch_size: int = 1024,
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> Reconstruction:
    """Encode and decode ``chunks`` ``[N, H, D]`` in batches; ``progress`` may wrap the batch loop (tqdm)."""
    n, horizon, action_dim = chunks.shape
    tokens: list[list[int]] = []
    decoded = np.empty_like(chunks, dtype=np.float64)
    statuses: list[DecodeStatus] = []
    for start in progress(range(0, n, batch_size)):
        batch_tokens = tokenizer.encode(chunks[start : start + batch_size])
        batch_decoded, batch_statuses = tokenizer.decode(batch_tokens, horizon, action_dim, return_status=True)
        tokens.extend(batch_tokens)
        decoded[start : start + batch_size] = batch_decoded
        statuses.extend(batch_statuses)
    lengths = np.array([len(t) for t in tokens], dtype=np.float64)
    error = decoded - chunks
    stats = ReconstructionStats(
        chunks=n,
        horizon=horizon,
        action_dim=action_dim,
        tokens_mean=float(lengths.mean()),
        tokens_p50=float(np.percentile(lengths, 50)),
        tokens_p99=float(np.percentile(lengths, 99)),
        tokens_max=int(lengths.max()),
        rmse=float(np.sqrt(np.mean(error**2))),
        max_abs=float(np.abs(error).max()),
        failed_decodes=sum(status != DecodeStatus.OK for status in statuses),
    )
    return Reconstruction(tokens, decoded, statuses, stats)


def format_table(header: list[str], rows: list[list[object]]) -> str:
    """A plain fixed-width text table: readable in a terminal and in a CI log."""
    cells = [[_cell(value) for value in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(_align(value, width, i) for i, (value, width) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def _align(value: str, width: int, column: int) -> str:
    """Names in the first column read left to right; numbers line up on the right."""
    return value.ljust(width) if column == 0 else value.rjust(width)
