"""The contract every action tokenizer keeps, so the policy can swap binning, FAST and FASTer freely.

Tokenizers work in normalized units (see ``normalization.py``): keeping the normalizer out of them
lets one fitted normalizer serve every tokenizer and lets a tokenizer be compared on equal terms.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, overload, runtime_checkable

import numpy as np

#: A batch of action chunks: an array ``[N, H, D]`` or a list of ``[H_i, D]`` arrays.
Chunks = np.ndarray | Sequence[np.ndarray]

#: Token ids per chunk, as produced by ``encode`` or by a model.
TokenBatch = Sequence[Sequence[int]]


class DecodeStatus(enum.Flag):
    """What was wrong with one token sequence; several flags may be set, ``OK`` (no flag) means clean.

    A model can emit any ids, and a robot must still get a chunk it can check rather than an
    exception in its control path, so decoding reports problems instead of raising.
    """

    OK = 0
    EMPTY = enum.auto()  # nothing usable: the chunk is all zeros (mid-range in normalized units)
    TOO_SHORT = enum.auto()  # missing values were filled (high frequencies zero for FAST)
    TOO_LONG = enum.auto()  # values beyond the chunk were dropped
    OUT_OF_RANGE = enum.auto()  # ids outside [0, vocab_size) or not integers: dropped
    INVALID_BYTES = enum.auto()  # BPE pieces whose bytes do not form characters: read as zero


@runtime_checkable
class ActionTokenizer(Protocol):
    """Chunks of normalized actions to token ids and back."""

    @classmethod
    def fit(cls, chunks: Chunks) -> ActionTokenizer: ...

    @property
    def vocab_size(self) -> int:
        """Ids produced by ``encode`` lie in ``[0, vocab_size)``."""
        ...

    def encode(self, chunks: Chunks) -> list[list[int]]: ...

    @overload
    def decode(
        self, tokens: TokenBatch, horizon: int, action_dim: int, *, return_status: Literal[False] = False
    ) -> np.ndarray: ...

    @overload
    def decode(
        self, tokens: TokenBatch, horizon: int, action_dim: int, *, return_status: Literal[True]
    ) -> tuple[np.ndarray, list[DecodeStatus]]: ...

    def decode(
        self, tokens: TokenBatch, horizon: int, action_dim: int, *, return_status: bool = False
    ) -> np.ndarray | tuple[np.ndarray, list[DecodeStatus]]: ...

    def save(self, directory: str | Path) -> None: ...

    @classmethod
    def load(cls, directory: str | Path) -> ActionTokenizer: ...
