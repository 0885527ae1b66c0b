"""Shared batch plumbing: validating chunk batches and turning ragged token lists into arrays.

Both directions are vectorised over the batch. Chunks of different horizons are grouped so that each
group is one array operation; token lists of different lengths are flattened once and indexed.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from fast_vla_ros.tokenizers.base import Chunks, DecodeStatus, TokenBatch


def horizon_groups(chunks: Chunks) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validate ``chunks`` and group them by horizon: ``[(indices into the batch, array [n, H, D])]``.

    Raises ``ValueError`` for anything a tokenizer must not silently accept: wrong rank, differing
    action dimensions, empty chunks, NaN or Inf.
    """
    if isinstance(chunks, np.ndarray):
        if chunks.ndim != 3:
            raise ValueError(f"chunks must be [N, H, D] (use chunk[None] for one chunk), got shape {chunks.shape}")
        arrays: Sequence[np.ndarray] = [np.asarray(chunks, dtype=np.float64)]
        indices = [np.arange(chunks.shape[0])]
    else:
        by_horizon: dict[int, list[int]] = {}
        converted = [np.asarray(chunk, dtype=np.float64) for chunk in chunks]
        for i, chunk in enumerate(converted):
            if chunk.ndim != 2:
                raise ValueError(f"chunk {i} must be [H, D], got shape {chunk.shape}")
            by_horizon.setdefault(chunk.shape[0], []).append(i)
        indices = [np.array(members) for members in by_horizon.values()]
        arrays = [np.stack([converted[i] for i in members]) for members in indices]
    dims = {array.shape[2] for array in arrays if array.shape[0]}
    if len(dims) > 1:
        raise ValueError(f"all chunks must have the same action dimension, got {sorted(dims)}")
    groups = []
    for members, array in zip(indices, arrays, strict=True):
        if array.shape[0] == 0:
            continue
        if array.shape[1] == 0 or array.shape[2] == 0:
            raise ValueError(f"chunks must have at least one step and one dimension, got shape {array.shape[1:]}")
        finite = np.isfinite(array).all(axis=(1, 2))
        if not finite.all():
            raise ValueError(f"chunk {int(members[np.argmin(finite)])} contains NaN or Inf")
        groups.append((members, array))
    return groups


def batch_size(chunks: Chunks) -> int:
    return int(chunks.shape[0]) if isinstance(chunks, np.ndarray) else len(chunks)


def flatten_ids(tokens: TokenBatch, vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(valid ids of all rows concatenated, valid count per row, row had invalid ids)``.

    Ids outside ``[0, vocab_size)`` and rows that are not sequences of integers are dropped here, so
    everything after this point can index without checks.
    """
    n = len(tokens)
    rectangular = _rectangular_ids(tokens)
    if rectangular is not None:
        flat = rectangular.ravel()
        lengths = np.full(n, rectangular.shape[1], dtype=np.int64)
        unreadable = np.zeros(n, dtype=bool)
    else:
        rows = [_row_ids(row) for row in tokens]
        unreadable = np.array([row is None for row in rows], dtype=bool)
        readable = [row if row is not None else np.empty(0, dtype=np.int64) for row in rows]
        lengths = np.array([len(row) for row in readable], dtype=np.int64)
        flat = np.concatenate(readable) if n else np.empty(0, dtype=np.int64)
    row_of = np.repeat(np.arange(n), lengths)
    valid = (flat >= 0) & (flat < vocab_size)
    had_invalid = unreadable | (np.bincount(row_of[~valid], minlength=n) > 0)
    return flat[valid], np.bincount(row_of[valid], minlength=n), had_invalid


def _rectangular_ids(tokens: TokenBatch) -> np.ndarray | None:
    """Equal-length integer rows (always so for binning) as one array, converted in C; else None."""
    try:
        array = np.asarray(tokens)
    except (TypeError, ValueError, OverflowError):
        return None
    if array.ndim != 2 or array.dtype.kind not in "iu":
        return None
    return array.astype(np.int64)


def _row_ids(row: object) -> np.ndarray | None:
    try:
        # Integers only: 3.0 is no token id.
        return np.fromiter(map(operator.index, row), dtype=np.int64)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None


def fixed_width(flat: np.ndarray, lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Ragged rows as ``[N, width]`` (``flat``'s dtype, zeros where a row is short) and the filled mask."""
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else lengths
    position = np.arange(width)
    filled = position[None, :] < lengths[:, None]
    out = np.zeros((len(lengths), width), dtype=flat.dtype)
    out[filled] = flat[(starts[:, None] + position[None, :])[filled]]
    return out, filled


def length_status(lengths: np.ndarray, expected: int) -> list[DecodeStatus]:
    """Per-row length verdicts against the ``expected`` number of values."""
    statuses = []
    for length in lengths.tolist():
        if length == 0:
            statuses.append(DecodeStatus.EMPTY)
        elif length < expected:
            statuses.append(DecodeStatus.TOO_SHORT)
        elif length > expected:
            statuses.append(DecodeStatus.TOO_LONG)
        else:
            statuses.append(DecodeStatus.OK)
    return statuses
