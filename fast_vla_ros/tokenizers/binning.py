"""Naive per-value binning, the RT-2 / OpenVLA action tokenization: the baseline FAST is measured against.

Every value of every step becomes one token (``H * D`` tokens per chunk), so the sequence length grows
with the control rate: the reason FAST exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fast_vla_ros.tokenizers.base import Chunks, DecodeStatus, TokenBatch
from fast_vla_ros.tokenizers.batching import batch_size, fixed_width, flatten_ids, horizon_groups, length_status

CONFIG_FILE = "binning_tokenizer.json"


class BinningTokenizer:
    """``bins`` uniform bins over [-1, 1], shared by all dimensions; id = bin index."""

    def __init__(self, bins: int = 256) -> None:
        if bins < 2:
            raise ValueError(f"bins must be at least 2, got {bins}")
        self.bins = int(bins)

    @classmethod
    def fit(cls, chunks: Chunks, bins: int = 256) -> BinningTokenizer:
        """Nothing to learn in normalized units; validating the data keeps the interface honest."""
        horizon_groups(chunks)
        return cls(bins)

    @property
    def vocab_size(self) -> int:
        return self.bins

    def encode(self, chunks: Chunks) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(batch_size(chunks))]
        for members, array in horizon_groups(chunks):
            ids = np.clip(np.floor((array + 1.0) * 0.5 * self.bins), 0, self.bins - 1).astype(np.int64)
            for i, row in zip(members.tolist(), ids.reshape(len(members), -1).tolist(), strict=True):
                out[i] = row
        return out

    def decode(
        self, tokens: TokenBatch, horizon: int, action_dim: int, *, return_status: bool = False
    ) -> np.ndarray | tuple[np.ndarray, list[DecodeStatus]]:
        """Bin centres; a short sequence holds the last decoded step rather than jumping to mid-range."""
        width = horizon * action_dim
        flat, lengths, had_invalid = flatten_ids(tokens, self.vocab_size)
        ids, _ = fixed_width(flat, lengths, width)
        values = (ids + 0.5) * (2.0 / self.bins) - 1.0
        # Index of the value to use at each position: itself if present, else the same dimension in
        # the last step that has it (a row with fewer than D values has no such step: 0).
        position = np.arange(width)
        available = np.minimum(lengths, width)[:, None]
        steps_back = np.maximum(0, -((available - position[None, :] - 1) // action_dim))
        source = position[None, :] - steps_back * action_dim
        values = np.where(source >= 0, np.take_along_axis(values, np.maximum(source, 0), axis=1), 0.0)
        chunks = values.reshape(len(lengths), horizon, action_dim)
        if not return_status:
            return chunks
        statuses = length_status(lengths, width)
        for i in np.flatnonzero(had_invalid).tolist():
            statuses[i] |= DecodeStatus.OUT_OF_RANGE
        return chunks, statuses

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        document = {"type": "BinningTokenizer", "bins": self.bins}
        (directory / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> BinningTokenizer:
        path = Path(directory) / CONFIG_FILE
        if not path.is_file():
            raise FileNotFoundError(f"binning tokenizer config not found: {path}")
        return cls(int(json.loads(path.read_text())["bins"]))
