"""Configuration of a policy: runtime settings (ours, JSON) and the model's shape (Hugging Face, config.json).

The architecture lives in exactly one place, the ``PaliGemmaConfig`` saved as ``config.json``, so a
checkpoint of any size loads through the same code. ``ModelSize`` only exists to *create* such a config:
``TINY`` is the shipped CPU default, ``PALIGEMMA_3B`` the shape pi0-FAST uses (SigLIP-So400m + Gemma-2B),
for latency work with random weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from transformers import PaliGemmaConfig

from fast_vla_ros.tokenizers.base import DecodeStatus


@dataclass(frozen=True)
class PolicyConfig:
    """What the runtime needs beyond the network: cameras in prompt order, chunk size, decode bounds."""

    cameras: tuple[str, ...] = ("scene", "wrist")
    action_tokenizer: str = "fast"  # a key of fast_vla_ros.tokenizers.TOKENIZER_KINDS
    horizon: int = 50
    state_bins: int = 256  # pi0-FAST discretizes the normalized state into 256 bins in the prompt
    max_action_tokens: int = 128  # decode bound; a chunk that needs more is reported as truncated
    max_prompt_tokens: int = 64  # text tokens after the images; longer instructions are rejected
    # DecodeStatus flags that still give an executable chunk: a FAST sequence a few coefficients short or
    # long only loses or drops high-frequency detail. Anything else (EMPTY, INVALID_BYTES) yields no chunk.
    tolerated_decode_issues: tuple[str, ...] = ("TOO_SHORT", "TOO_LONG")
    # None: token-wise decoding up to the end marker (FAST, binning). An int B: block-wise decoding of a
    # fixed-length code grid, B codes per forward pass (FASTer; the paper uses 7 for one arm).
    decode_block_size: int | None = None

    def __post_init__(self) -> None:
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"PolicyConfig.cameras must be non-empty and unique, got {self.cameras}")
        for name in ("horizon", "state_bins", "max_action_tokens", "max_prompt_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"PolicyConfig.{name} must be positive, got {getattr(self, name)}")
        if self.decode_block_size is not None and self.decode_block_size < 1:
            raise ValueError(f"PolicyConfig.decode_block_size must be positive or None, got {self.decode_block_size}")
        if (self.action_tokenizer == "faster") != (self.decode_block_size is not None):
            raise ValueError(
                "PolicyConfig.decode_block_size is required for the 'faster' tokenizer (fixed code grid) and only "
                f"for it; got {self.decode_block_size} with {self.action_tokenizer!r}"
            )
        unknown = [name for name in self.tolerated_decode_issues if name not in DecodeStatus.__members__]
        if unknown:
            raise ValueError(f"PolicyConfig.tolerated_decode_issues: {unknown} are not DecodeStatus flags")
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "tolerated_decode_issues", tuple(self.tolerated_decode_issues))

    @property
    def tolerated_decode_status(self) -> DecodeStatus:
        status = DecodeStatus.OK
        for name in self.tolerated_decode_issues:
            status |= DecodeStatus[name]
        return status

    def save(self, path: str | Path) -> None:
        document = {**asdict(self), "cameras": list(self.cameras)}
        document["tolerated_decode_issues"] = list(self.tolerated_decode_issues)
        Path(path).write_text(json.dumps(document, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> PolicyConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"policy config not found: {path}")
        data = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown fields {unknown}")
        return cls(**data)


@dataclass(frozen=True)
class ModelSize:
    """The knobs that set a PaliGemma-layout network's size; everything else follows PaliGemma."""

    image_size: int
    patch_size: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_intermediate: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_head_dim: int
    text_intermediate: int


# About 2 M parameters: 96 px images in 16 px patches (36 tokens per camera), a 3-layer decoder with
# multi-query attention like Gemma-2B; one chunk costs a few ms of prefill and < 1 ms per token on a CPU core.
TINY = ModelSize(
    image_size=96,
    patch_size=16,
    vision_hidden=128,
    vision_layers=2,
    vision_heads=4,
    vision_intermediate=256,
    text_hidden=192,
    text_layers=3,
    text_heads=4,
    text_kv_heads=1,
    text_head_dim=48,
    text_intermediate=512,
)

PALIGEMMA_3B = ModelSize(
    image_size=224,
    patch_size=14,
    vision_hidden=1152,
    vision_layers=27,
    vision_heads=16,
    vision_intermediate=4304,
    text_hidden=2048,
    text_layers=18,
    text_heads=8,
    text_kv_heads=1,
    text_head_dim=256,
    text_intermediate=16384,
)


def paligemma_config(
    size: ModelSize, vocab_size: int, image_token_id: int, pad_id: int, bos_id: int, eos_id: int
) -> PaliGemmaConfig:
    """A PaliGemma config of the given size over our vocabulary (text ids first, action ids last)."""
    return PaliGemmaConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "image_size": size.image_size,
            "patch_size": size.patch_size,
            "hidden_size": size.vision_hidden,
            "num_hidden_layers": size.vision_layers,
            "num_attention_heads": size.vision_heads,
            "intermediate_size": size.vision_intermediate,
            "vision_use_head": False,
        },
        text_config={
            "model_type": "gemma",
            "vocab_size": vocab_size,
            "hidden_size": size.text_hidden,
            "num_hidden_layers": size.text_layers,
            "num_attention_heads": size.text_heads,
            "num_key_value_heads": size.text_kv_heads,
            "head_dim": size.text_head_dim,
            "intermediate_size": size.text_intermediate,
            "pad_token_id": pad_id,
            "bos_token_id": bos_id,
            "eos_token_id": eos_id,
        },
        vocab_size=vocab_size,
        image_token_index=image_token_id,
        projection_dim=size.text_hidden,
        hidden_size=size.text_hidden,
    )
