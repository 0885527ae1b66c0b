"""Constrained, KV-cached autoregressive decoding of one action chunk (batch 1: the latency path).

After the prefix only action-token ids and the end-of-action marker can be produced: every other logit
is masked to -inf, so whatever the weights, the output is something the action tokenizer can be asked
to decode. Decoding stops at the marker or after ``max_new_tokens`` action tokens; hitting the bound is
reported (``ended=False``), not raised. The prefix is encoded once (prefill, bidirectional), then each
new token costs one forward pass over a single position against the cache. ``forced_ids`` are fed after
the prefix in the same prefill, causally, as if the model had chosen them: pi0-FAST checkpoints write
"Action: " there themselves, so forcing it keeps their attention pattern while skipping the free choice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.vocabulary import PromptVocabulary


@dataclass(frozen=True)
class DecodeOutput:
    vocab_ids: list[int]  # the action tokens' vocabulary ids, end marker excluded
    ended: bool  # the end-of-action marker came within the bound
    prefill_s: float
    decode_s: float
    forward_passes: int = 0  # model calls for this chunk, prefill included


def allowed_logits_bias(vocab: PromptVocabulary, device: torch.device | str = "cpu") -> torch.Tensor:
    """[vocab_size] additive mask: 0 for action ids and the end marker, -inf everywhere else."""
    bias = torch.full((vocab.vocab_size,), float("-inf"), device=device)
    bias[vocab.actions.first_id : vocab.actions.last_id + 1] = 0.0
    bias[vocab.end_of_action_id] = 0.0
    return bias


def pick_token(
    logits: torch.Tensor, bias: torch.Tensor, temperature: float = 0.0, generator: torch.Generator | None = None
) -> int:
    """Greedy (``temperature == 0``) or sampled choice among the allowed ids of a [vocab] logit row."""
    masked = logits.float() + bias
    if temperature <= 0:
        return int(masked.argmax())
    probabilities = torch.softmax(masked / temperature, dim=-1)
    return int(torch.multinomial(probabilities, 1, generator=generator))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def decode_actions(
    model: PaliGemmaForConditionalGeneration,
    prefix_ids: torch.Tensor,
    pixel_values: torch.Tensor,
    vocab: PromptVocabulary,
    bias: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    forced_ids: Sequence[int] = (),
) -> DecodeOutput:
    """Prefill ``prefix_ids`` [1, L] with the images and ``forced_ids``, then emit action tokens up to the marker."""
    device = prefix_ids.device
    forced = torch.tensor([list(forced_ids)], dtype=prefix_ids.dtype, device=device)
    start = time.perf_counter()
    output = model(
        input_ids=torch.cat([prefix_ids, forced], dim=1),
        pixel_values=pixel_values,
        token_type_ids=torch.cat([torch.zeros_like(prefix_ids), torch.ones_like(forced)], dim=1),
        past_key_values=DynamicCache(config=model.config),
        use_cache=True,
        logits_to_keep=1,
    )
    cache = output.past_key_values
    logits = output.logits[0, -1]
    _synchronize(device)
    prefilled = time.perf_counter()
    vocab_ids: list[int] = []
    ended = False
    passes = 1
    while True:
        token = pick_token(logits, bias, temperature, generator)
        if token == vocab.end_of_action_id:
            ended = True
            break
        if len(vocab_ids) == max_new_tokens:
            break
        vocab_ids.append(token)
        step = model(
            input_ids=torch.tensor([[token]], device=device), past_key_values=cache, use_cache=True, logits_to_keep=1
        )
        cache, logits = step.past_key_values, step.logits[0, -1]
        passes += 1
    _synchronize(device)
    return DecodeOutput(vocab_ids, ended, prefilled - start, time.perf_counter() - prefilled, passes)
