"""The code path the tiny default uses also builds pi0-FAST's PaliGemma-3B shape (on the meta device: no memory)."""

from __future__ import annotations

import torch
from transformers import PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.config import PALIGEMMA_3B, TINY, paligemma_config


def _parameters(model: torch.nn.Module, part: str = "") -> int:
    return sum(p.numel() for name, p in model.named_parameters() if part in name)


def test_paligemma_3b_shape_has_paligemma_sizes():
    config = paligemma_config(PALIGEMMA_3B, vocab_size=257152, image_token_id=257152, pad_id=0, bos_id=2, eos_id=1)
    with torch.device("meta"):
        model = PaliGemmaForConditionalGeneration(config)
    assert config.text_config.num_image_tokens == 256  # 224 px in 14 px patches
    assert 2.85e9 < _parameters(model) < 3.0e9
    assert 0.40e9 < _parameters(model, "vision_tower") < 0.42e9  # SigLIP-So400m
    assert config.text_config.use_bidirectional_attention  # prefix-LM comes from PaliGemma itself


def test_tiny_default_is_a_few_million_parameters():
    config = paligemma_config(TINY, vocab_size=1400, image_token_id=4, pad_id=0, bos_id=2, eos_id=1)
    with torch.device("meta"):
        model = PaliGemmaForConditionalGeneration(config)
    assert 1e6 < _parameters(model) < 5e6
    assert config.text_config.num_image_tokens == 36
