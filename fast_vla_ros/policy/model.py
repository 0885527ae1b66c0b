"""The network: Hugging Face's PaliGemma (SigLIP vision tower + Gemma decoder) over our vocabulary.

pi0-FAST is exactly this model with action tokens in its vocabulary, so the tiny default and a
PaliGemma-3B-sized model share every line of code; only ``config.json`` differs. The prefix-LM mask
comes from PaliGemma itself: tokens with ``token_type_ids == 0`` (images and prompt) attend to each
other bidirectionally, tokens with ``1`` (the actions) causally. Always pass ``token_type_ids`` for
multi-token forward passes: PaliGemma sets ``use_bidirectional_attention`` on its Gemma, so without
them the whole sequence, actions included, would attend bidirectionally.
"""

from __future__ import annotations

import torch
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.config import TINY, ModelSize, paligemma_config
from fast_vla_ros.policy.vocabulary import PromptVocabulary


def build_model(vocab: PromptVocabulary, size: ModelSize = TINY, seed: int = 0) -> PaliGemmaForConditionalGeneration:
    """A randomly initialised model of ``size`` whose embedding covers ``vocab`` (text + action ids)."""
    config = paligemma_config(size, vocab.vocab_size, vocab.image_id, vocab.pad_id, vocab.bos_id, vocab.eos_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PaliGemmaForConditionalGeneration(config)


def image_tokens_per_camera(config: PaliGemmaConfig) -> int:
    return (config.vision_config.image_size // config.vision_config.patch_size) ** 2


def image_size(config: PaliGemmaConfig) -> int:
    return int(config.vision_config.image_size)
