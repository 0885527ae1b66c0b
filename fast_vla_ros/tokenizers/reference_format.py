"""Read and write FAST tokenizers in the directory layout of the reference processor.

The Hugging Face ``physical-intelligence/fast`` processor (``UniversalActionProcessor``) saves a
``processor_config.json`` and its BPE. Recent transformers (5.x) put the BPE in ``bpe_tokenizer/``;
the files on the hub, written by older versions, have ``tokenizer.json`` at the folder's root. Both
are read; the recent layout is written, so ``AutoProcessor.from_pretrained`` of today reads our files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

PROCESSOR_CONFIG = "processor_config.json"
BPE_FOLDER = "bpe_tokenizer"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
PROCESSOR_CLASS = "UniversalActionProcessor"


@dataclass(frozen=True)
class FastConfig:
    """The fields of ``processor_config.json``: ``scale`` multiplies DCT coefficients before rounding;
    ``min_token`` is the smallest quantized coefficient seen in fitting (code 0); ``vocab_size`` is the
    BPE size asked for in fitting; horizon and action dimension are optional decode defaults."""

    scale: float = 10.0
    vocab_size: int = 1024
    min_token: int = 0
    time_horizon: int | None = None
    action_dim: int | None = None

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size must be positive, got {self.vocab_size}")


def read_fast_dir(directory: str | Path) -> tuple[FastConfig, Tokenizer]:
    directory = Path(directory)
    config_path = directory / PROCESSOR_CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(f"not a FAST tokenizer directory (no {PROCESSOR_CONFIG}): {directory}")
    document = json.loads(config_path.read_text())
    missing = [key for key in ("scale", "vocab_size", "min_token") if key not in document]
    if missing:
        raise ValueError(f"{config_path} lacks {missing}")
    config = FastConfig(
        scale=document["scale"],
        vocab_size=int(document["vocab_size"]),
        min_token=int(document["min_token"]),
        time_horizon=document.get("time_horizon"),
        action_dim=document.get("action_dim"),
    )
    for candidate in (directory / BPE_FOLDER / TOKENIZER_FILE, directory / TOKENIZER_FILE):
        if candidate.is_file():
            return config, Tokenizer.from_file(str(candidate))
    raise FileNotFoundError(f"no {TOKENIZER_FILE} in {directory} or {directory / BPE_FOLDER}")


def write_fast_dir(directory: str | Path, config: FastConfig, bpe: Tokenizer) -> None:
    directory = Path(directory)
    (directory / BPE_FOLDER).mkdir(parents=True, exist_ok=True)
    # An integral scale is written as the reference writes it (10, not 10.0) so files round-trip unchanged.
    scale = int(config.scale) if float(config.scale).is_integer() else config.scale
    document = {
        "action_dim": config.action_dim,
        "min_token": config.min_token,
        "processor_class": PROCESSOR_CLASS,
        "scale": scale,
        "time_horizon": config.time_horizon,
        "vocab_size": config.vocab_size,
    }
    (directory / PROCESSOR_CONFIG).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    bpe.save(str(directory / BPE_FOLDER / TOKENIZER_FILE), pretty=True)
    # What transformers needs to rebuild the BPE as a fast tokenizer inside the processor.
    tokenizer_config = {
        "backend": "tokenizers",
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(1e30),
        "processor_class": PROCESSOR_CLASS,
        "tokenizer_class": "TokenizersBackend",
    }
    text = json.dumps(tokenizer_config, indent=2, sort_keys=True) + "\n"
    (directory / BPE_FOLDER / TOKENIZER_CONFIG).write_text(text)
