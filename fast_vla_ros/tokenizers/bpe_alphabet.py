"""The character alphabet FAST's BPE runs over: one character ``chr(code)`` per quantized DCT coefficient.

The reference processor (Hugging Face ``physical-intelligence/fast``) writes each coefficient ``c`` as
the character ``chr(c - min_token)`` and trains a ByteLevel BPE on those strings with ``tokenizers``.
ByteLevel turns every character into its UTF-8 bytes first, so a code is only representable when all
of its bytes made it into the vocabulary during training; ``representable_codes`` finds out which.
"""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

# Codes are kept far below the UTF-16 surrogates (U+D800), which have no UTF-8 form.
MAX_CODE = 0xD7FF


def codes_to_texts(codes: np.ndarray) -> list[str]:
    """Rows of non-negative codes ``[N, L]`` to strings, with one UTF-32 decode for the whole batch."""
    n, length = codes.shape
    joined = np.ascontiguousarray(codes, dtype="<u4").tobytes().decode("utf-32-le")
    return [joined[i * length : (i + 1) * length] for i in range(n)]


def texts_to_codes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings to ``(all codes concatenated, length per string)``, with one UTF-32 encode."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype="<u4").astype(np.int64)
    return codes, lengths


def new_byte_level_bpe() -> Tokenizer:
    """An untrained BPE set up as the reference's ``ByteLevelBPETokenizer`` (same pre/post-processing)."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    return bpe


def train_bpe(texts: list[str], alphabet_size: int, vocab_size: int) -> Tokenizer:
    """Train as the reference does, so the same data gives the same ``tokenizer.json``.

    The whole code range is the initial alphabet; merges need two occurrences; no special tokens.
    """
    bpe = new_byte_level_bpe()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=[],
        initial_alphabet=[chr(i) for i in range(alphabet_size)],
        max_token_length=10000,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    return bpe


def representable_codes(bpe: Tokenizer, limit: int) -> np.ndarray:
    """Lookup ``[limit]``: each code to itself if the BPE round-trips it, else to the nearest code that does.

    The reference lets the BPE silently drop bytes it has no token for, which shifts every later
    coefficient; mapping to the nearest representable code instead bounds the damage to one value.
    Representable codes map to themselves, so ids equal the reference's wherever it is lossless.
    """
    candidates = [chr(code) for code in range(limit)]
    ids = [encoding.ids for encoding in bpe.encode_batch(candidates)]
    decoded = bpe.decode_batch(ids, skip_special_tokens=False)
    usable = np.flatnonzero([text == char for text, char in zip(decoded, candidates, strict=True)])
    if usable.size == 0:
        raise ValueError("this BPE cannot represent any coefficient code; is it a FAST tokenizer?")
    codes = np.arange(limit)
    above = np.clip(np.searchsorted(usable, codes), 0, usable.size - 1)
    below = np.clip(above - 1, 0, usable.size - 1)
    nearer_below = np.abs(usable[below] - codes) < np.abs(usable[above] - codes)
    return np.where(nearer_below, usable[below], usable[above])
