"""Block-wise decoding of a fixed-length code grid (FASTer): B codes per forward pass instead of one.

Layout of the suffix for N codes in blocks of B (K = ceil(N / B) blocks):

    input   |  |  ... |   c0 c1 ... c(B-1)   ...   c((K-2)B) ... c((K-1)B - 1)      (K * B positions)
    target  c0 c1 ... c(B-1)  cB ...          ...   c((K-1)B) ... c(N-1)            (first N positions)
            \\-- block 0 --/  \\-- block 1 --/

Suffix position i is fed code ``i - B`` (the first B positions get the end-of-action marker ``|`` as a
query: it never occurs in a FASTer suffix otherwise) and its hidden state predicts code ``i``. The mask
is block-causal: a position attends to the whole prefix, to every position of its own block and of
earlier blocks, never to a later block. So code ``i`` is predicted from the codes of all earlier blocks
only, and all B codes of a block come out of one forward pass: the prefill (prefix + B queries) yields
block 0, each further pass feeds the block just chosen and yields the next, K passes per chunk in all.
With B = 1 this is ordinary token-wise decoding of the same network (the query acts as a BOS).

Decoding is constrained per position: position ``i`` may only produce the ids the action tokenizer
allows there (FASTer: the codes of quantizer level ``i // patches``), so every output decodes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from transformers import DynamicCache, PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.decoding import DecodeOutput, _synchronize
from fast_vla_ros.policy.vocabulary import PromptVocabulary


def block_count(codes: int, block_size: int) -> int:
    return -(-codes // block_size)


def block_suffix(vocab: PromptVocabulary, action_tokens: Sequence[int], block_size: int) -> list[int]:
    """Model input after the prefix: B queries, then every code but the last block's (``K * B`` ids)."""
    blocks = block_count(len(action_tokens), block_size)
    fed = list(action_tokens)[: (blocks - 1) * block_size]
    return [vocab.end_of_action_id] * block_size + vocab.actions.to_vocab(fed)


def block_attention_mask(
    prefix_lengths: Sequence[int], lengths: Sequence[int], width: int, block_size: int, dtype: torch.dtype
) -> torch.Tensor:
    """Additive mask ``[batch, 1, width, width]`` (0 = attend) for right-padded rows.

    Row ``b`` holds ``prefix_lengths[b]`` bidirectional prefix tokens, then suffix tokens up to
    ``lengths[b]``, then padding. Each position gets a group: 0 for the prefix, ``1 + j // block_size``
    for suffix position ``j``; a query attends to real keys of its own or a lower group. Padding keys
    are never attended; a padding query attends to everything real (its output is never used).
    """
    position = torch.arange(width)
    prefix = torch.as_tensor(list(prefix_lengths))[:, None]
    length = torch.as_tensor(list(lengths))[:, None]
    group = torch.where(position[None] < prefix, 0, 1 + (position[None] - prefix) // block_size)
    real = position[None] < length
    group = torch.where(real, group, torch.iinfo(torch.long).max)
    allowed = (group[:, None, :] <= group[:, :, None]) & real[:, None, :]
    allowed |= ~real[:, :, None] & real[:, None, :]
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


def position_bias(
    vocab: PromptVocabulary, allowed: Sequence[range], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``[codes, vocab_size]`` additive mask: 0 where position ``i`` may produce the id, -inf elsewhere.

    ``allowed[i]`` are action-token ids (the tokenizer's own); they map to model ids through the vocabulary.
    """
    bias = torch.full((len(allowed), vocab.vocab_size), float("-inf"), device=device)
    for i, tokens in enumerate(allowed):
        ids = torch.as_tensor(vocab.actions.to_vocab(tokens), device=device)
        bias[i, ids] = 0.0
    return bias


def pick_block(
    logits: torch.Tensor, bias: torch.Tensor, temperature: float = 0.0, generator: torch.Generator | None = None
) -> list[int]:
    """One id per row of ``logits`` [n, vocab] under the per-row ``bias`` [n, vocab]."""
    masked = logits.float() + bias
    if temperature <= 0:
        return masked.argmax(dim=-1).tolist()
    probabilities = torch.softmax(masked / temperature, dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator)[:, 0].tolist()


@torch.inference_mode()
def decode_action_blocks(
    model: PaliGemmaForConditionalGeneration,
    prefix_ids: torch.Tensor,
    pixel_values: torch.Tensor,
    query_id: int,
    bias: torch.Tensor,
    block_size: int,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
) -> DecodeOutput:
    """Prefill ``prefix_ids`` [1, L] + B queries, then one pass per further block; ``bias`` is ``position_bias``.

    ``query_id`` fills the first block's inputs: the end-of-action marker of the policy's vocabulary
    (``block_suffix``), any fixed id for a latency measurement.
    """
    device, dtype = prefix_ids.device, model.dtype
    codes = bias.shape[0]
    blocks = block_count(codes, block_size)
    prefix_length = prefix_ids.shape[1]
    queries = torch.full((1, block_size), query_id, dtype=prefix_ids.dtype, device=device)
    input_ids = torch.cat([prefix_ids, queries], dim=1)
    mask = block_attention_mask([prefix_length], [input_ids.shape[1]], input_ids.shape[1], block_size, dtype)
    start = time.perf_counter()
    output = model(
        input_ids=input_ids,
        pixel_values=pixel_values,
        attention_mask=mask.to(device),
        token_type_ids=torch.cat([torch.zeros_like(prefix_ids), torch.ones_like(queries)], dim=1),
        past_key_values=DynamicCache(config=model.config),
        use_cache=True,
        logits_to_keep=block_size,
    )
    passes = 1
    _synchronize(device)
    prefilled = time.perf_counter()
    vocab_ids: list[int] = []
    for block in range(blocks):
        first = block * block_size
        take = min(block_size, codes - first)
        chosen = pick_block(output.logits[0, :take], bias[first : first + take], temperature, generator)
        vocab_ids.extend(chosen)
        if block == blocks - 1:
            break
        # Every cached position and every code of the new block is visible to each code of the block.
        seen = output.past_key_values.get_seq_length()
        step_mask = torch.zeros((1, 1, block_size, seen + block_size), dtype=dtype, device=device)
        output = model(
            input_ids=torch.tensor([chosen], device=device),
            attention_mask=step_mask,
            past_key_values=output.past_key_values,
            use_cache=True,
            logits_to_keep=block_size,
        )
        passes += 1
    _synchronize(device)
    return DecodeOutput(vocab_ids, True, prefilled - start, time.perf_counter() - prefilled, passes)
