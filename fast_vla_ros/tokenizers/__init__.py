"""Action tokenizers: chunks of normalized actions to token ids and back, with no ROS dependency.

``load_tokenizer`` opens any saved tokenizer directory by looking at which config file it holds.
"""

from __future__ import annotations

from pathlib import Path

from fast_vla_ros.tokenizers.base import ActionTokenizer, Chunks, DecodeStatus, TokenBatch
from fast_vla_ros.tokenizers.binning import CONFIG_FILE as BINNING_CONFIG
from fast_vla_ros.tokenizers.binning import BinningTokenizer
from fast_vla_ros.tokenizers.fast import FastTokenizer
from fast_vla_ros.tokenizers.faster import CONFIG_FILE as FASTER_CONFIG
from fast_vla_ros.tokenizers.faster import FasterTokenizer
from fast_vla_ros.tokenizers.normalization import QuantileNormalizer
from fast_vla_ros.tokenizers.reference_format import PROCESSOR_CONFIG, FastConfig

TOKENIZER_KINDS: dict[str, type] = {"binning": BinningTokenizer, "fast": FastTokenizer, "faster": FasterTokenizer}


def load_tokenizer(directory: str | Path) -> BinningTokenizer | FastTokenizer | FasterTokenizer:
    directory = Path(directory)
    if (directory / FASTER_CONFIG).is_file():
        return FasterTokenizer.load(directory)
    if (directory / PROCESSOR_CONFIG).is_file():
        return FastTokenizer.load(directory)
    if (directory / BINNING_CONFIG).is_file():
        return BinningTokenizer.load(directory)
    raise FileNotFoundError(f"no tokenizer in {directory} (expected {PROCESSOR_CONFIG} or {BINNING_CONFIG})")


__all__ = [
    "TOKENIZER_KINDS",
    "ActionTokenizer",
    "BinningTokenizer",
    "Chunks",
    "DecodeStatus",
    "FastConfig",
    "FastTokenizer",
    "FasterTokenizer",
    "QuantileNormalizer",
    "TokenBatch",
    "load_tokenizer",
]
