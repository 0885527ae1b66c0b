"""FAST: Frequency-space Action Sequence Tokenization (Pertsch et al. 2025).

A type-II orthonormal DCT along time per dimension concentrates a smooth chunk's energy in a few low
frequencies; scaling and rounding zeroes most of the rest; flattening low frequency first (all
dimensions of coefficient 0, then of 1, ...) puts the zeros in long runs that BPE merges into few
tokens. Orthonormality keeps the error honest: the rounding error of at most ``0.5 / scale`` per
coefficient is also the bound on the chunk's RMS error in normalized units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.fft import dct, idct
from tokenizers import Tokenizer

from fast_vla_ros.tokenizers.base import Chunks, DecodeStatus, TokenBatch
from fast_vla_ros.tokenizers.batching import batch_size, fixed_width, flatten_ids, horizon_groups, length_status
from fast_vla_ros.tokenizers.bpe_alphabet import (
    MAX_CODE,
    codes_to_texts,
    representable_codes,
    texts_to_codes,
    train_bpe,
)
from fast_vla_ros.tokenizers.reference_format import FastConfig, read_fast_dir, write_fast_dir

# What ``bytes.decode(errors="replace")`` (and so the ByteLevel decoder) puts where bytes form no character.
_REPLACEMENT_CHARACTER = 0xFFFD


class FastTokenizer:
    """DCT + scalar quantization + ByteLevel BPE, compatible with the reference processor's files."""

    def __init__(self, config: FastConfig, bpe: Tokenizer) -> None:
        self.config = config
        self._bpe = bpe
        # The reference's fit asserts its code range fits in vocab_size, so no valid code lies beyond.
        self._code_lookup = representable_codes(bpe, min(config.vocab_size + 1, MAX_CODE))

    @classmethod
    def fit(
        cls,
        chunks: Chunks,
        scale: float = 10.0,
        vocab_size: int = 1024,
        time_horizon: int | None = None,
        action_dim: int | None = None,
    ) -> FastTokenizer:
        """Fit the BPE on the quantized DCT coefficients of ``chunks`` (normalized units)."""
        groups = horizon_groups(chunks)
        if not groups:
            raise ValueError("cannot fit a FAST tokenizer on no chunks")
        # Rows in input order, as the reference feeds its trainer.
        rows: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * batch_size(chunks)
        for members, array in groups:
            for i, row in zip(members.tolist(), cls._quantize(array, scale), strict=True):
                rows[i] = row
        min_token = int(min(row.min() for row in rows))
        max_token = int(max(row.max() for row in rows))
        if max_token - min_token > vocab_size:
            raise ValueError(
                f"quantized coefficients span {max_token - min_token + 1} values, more than vocab_size "
                f"{vocab_size}: raise vocab_size, lower scale, or normalize the actions to [-1, 1] first"
            )
        texts = [codes_to_texts((row - min_token)[None, :])[0] for row in rows]
        bpe = train_bpe(texts, max_token - min_token + 1, vocab_size)
        return cls(FastConfig(scale, vocab_size, min_token, time_horizon, action_dim), bpe)

    @staticmethod
    def _quantize(array: np.ndarray, scale: float) -> np.ndarray:
        """``[n, H, D]`` chunks to ``[n, H * D]`` integer coefficients, low frequency first."""
        # Multiply after the DCT and round half to even, exactly as the reference, so ids match bit for bit.
        coefficients = np.rint(dct(array, type=2, axis=1, norm="ortho") * scale)
        return coefficients.reshape(array.shape[0], -1).astype(np.int64)

    @property
    def vocab_size(self) -> int:
        """The BPE's actual size; can be below ``config.vocab_size`` when the data ran out of merges."""
        return int(self._bpe.get_vocab_size())

    def encode(self, chunks: Chunks) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(batch_size(chunks))]
        limit = len(self._code_lookup) - 1
        for members, array in horizon_groups(chunks):
            codes = self._quantize(array, self.config.scale) - self.config.min_token
            codes = self._code_lookup[np.clip(codes, 0, limit)]
            encodings = self._bpe.encode_batch(codes_to_texts(codes))
            for i, encoding in zip(members.tolist(), encodings, strict=True):
                out[i] = encoding.ids
        return out

    def decode(
        self, tokens: TokenBatch, horizon: int, action_dim: int, *, return_status: bool = False
    ) -> np.ndarray | tuple[np.ndarray, list[DecodeStatus]]:
        """Chunks ``[N, horizon, action_dim]`` in normalized units; never raises for any ids.

        Missing trailing coefficients are the high frequencies (they come last), so zero-filling them
        keeps the chunk's shape and only loses detail; coefficients beyond the chunk are dropped.
        """
        if horizon < 1 or action_dim < 1:
            raise ValueError(f"horizon and action_dim must be positive, got {horizon} and {action_dim}")
        width = horizon * action_dim
        flat, id_counts, had_invalid = flatten_ids(tokens, self.vocab_size)
        rows = np.split(flat, np.cumsum(id_counts)[:-1]) if len(id_counts) else []
        texts = self._bpe.decode_batch([row.tolist() for row in rows], skip_special_tokens=False)
        codes, lengths = texts_to_codes(texts)
        invalid = codes == _REPLACEMENT_CHARACTER
        coefficients = np.where(invalid, 0, codes + self.config.min_token).astype(np.float64)
        coefficients, _ = fixed_width(coefficients, lengths, width)
        chunks = idct(coefficients.reshape(-1, horizon, action_dim) / self.config.scale, type=2, axis=1, norm="ortho")
        if not return_status:
            return chunks
        row_of = np.repeat(np.arange(len(lengths)), lengths)
        had_invalid_bytes = np.bincount(row_of[invalid], minlength=len(lengths)) > 0
        statuses = length_status(lengths, width)
        for i in np.flatnonzero(had_invalid).tolist():
            statuses[i] |= DecodeStatus.OUT_OF_RANGE
        for i in np.flatnonzero(had_invalid_bytes).tolist():
            statuses[i] |= DecodeStatus.INVALID_BYTES
        return chunks, statuses

    def save(self, directory: str | Path) -> None:
        """Write the reference processor's layout (``processor_config.json`` + ``bpe_tokenizer/``)."""
        write_fast_dir(directory, self.config, self._bpe)

    @classmethod
    def load(cls, directory: str | Path) -> FastTokenizer:
        """Read our files or the reference processor's (either BPE layout; FAST+ included)."""
        config, bpe = read_fast_dir(directory)
        return cls(config, bpe)
