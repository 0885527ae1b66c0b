"""The model's attention pattern and the decoder: prefix-LM mask, constraint, cache equivalence, bound."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fast_vla_ros.policy.decoding import allowed_logits_bias, decode_actions, pick_token
from fast_vla_ros.policy.images import stack_cameras, to_pixels
from fast_vla_ros.policy.model import image_tokens_per_camera
from fast_vla_ros.policy.prompt import encode_prefix

from .conftest import CAMERAS


@pytest.fixture
def setup(binning_parts, samples):
    parts = binning_parts
    model = parts.model.eval()
    observation, _ = samples[0]
    image_tokens = image_tokens_per_camera(model.config) * len(CAMERAS)
    state = parts.action_space.normalize_state(observation.state)
    prefix = encode_prefix(parts.vocab, observation.instruction, state, image_tokens).ids
    pixels = to_pixels(stack_cameras(observation.images, CAMERAS), model.config.vision_config.image_size)
    return parts, model, prefix, pixels


def _logits(model, ids, prefix_length, pixels):
    input_ids = torch.tensor([ids])
    token_types = torch.tensor([[0] * prefix_length + [1] * (len(ids) - prefix_length)])
    with torch.no_grad():
        return model(input_ids=input_ids, pixel_values=pixels, token_type_ids=token_types).logits[0]


def test_attention_is_bidirectional_over_prefix_and_causal_after(setup):
    parts, model, prefix, pixels = setup
    n = len(prefix)
    suffix = parts.vocab.actions.to_vocab([5, 17, 200, 42, 9])
    ids = prefix + suffix
    base = _logits(model, ids, n, pixels)

    # A later prompt token (the last state bin) changes what an earlier prompt position computes.
    changed_prompt = list(ids)
    changed_prompt[n - 4] = parts.vocab.tokenizer.token_to_id("77")
    assert changed_prompt[n - 4] != ids[n - 4]
    out = _logits(model, changed_prompt, n, pixels)
    assert not torch.allclose(out[n - 6], base[n - 6], atol=1e-5)

    # A later action token changes nothing before it, and everything from it on.
    changed_action = list(ids)
    changed_action[n + 2] = parts.vocab.actions.to_vocab([123])[0]
    out = _logits(model, changed_action, n, pixels)
    assert torch.allclose(out[: n + 2], base[: n + 2], atol=1e-5)
    assert not torch.allclose(out[n + 2 :], base[n + 2 :], atol=1e-5)


def test_bias_allows_exactly_the_action_ids_and_the_end_marker(setup):
    parts, *_ = setup
    vocab = parts.vocab
    allowed = torch.isfinite(allowed_logits_bias(vocab)).nonzero().flatten().tolist()
    assert allowed == sorted([vocab.end_of_action_id, *range(vocab.actions.first_id, vocab.actions.last_id + 1)])
    logits = torch.zeros(vocab.vocab_size)
    logits[vocab.eos_id] = logits[vocab.image_id] = 1e4  # what an unconstrained model would pick
    logits[vocab.actions.to_vocab([7])[0]] = 1.0
    assert pick_token(logits, allowed_logits_bias(vocab)) == vocab.actions.to_vocab([7])[0]


@pytest.mark.parametrize("temperature", [0.0, 3.0])
def test_constrained_decoding_emits_only_action_tokens(setup, temperature):
    parts, model, prefix, pixels = setup
    vocab = parts.vocab
    generator = torch.Generator().manual_seed(1)
    out = decode_actions(
        model, torch.tensor([prefix]), pixels, vocab, allowed_logits_bias(vocab), 30, temperature, generator
    )
    assert out.vocab_ids, "decoding produced nothing to check"
    assert all(vocab.actions.first_id <= i <= vocab.actions.last_id for i in out.vocab_ids)


def _uncached_greedy(model, prefix, pixels, vocab, bias, max_new_tokens):
    """Reference: a full forward pass over the whole sequence for every new token, no cache."""
    tokens: list[int] = []
    while True:
        token = pick_token(_logits(model, prefix + tokens, len(prefix), pixels)[-1], bias)
        if token == vocab.end_of_action_id:
            return tokens, True
        if len(tokens) == max_new_tokens:
            return tokens, False
        tokens.append(token)


def test_kv_cached_greedy_equals_uncached_greedy(trained):
    parts, samples = trained[:2]
    model = parts.model.eval()
    bias = allowed_logits_bias(parts.vocab)
    for observation, _ in samples[:2]:
        image_tokens = image_tokens_per_camera(model.config) * len(CAMERAS)
        state = parts.action_space.normalize_state(observation.state)
        prefix = encode_prefix(parts.vocab, observation.instruction, state, image_tokens).ids
        pixels = to_pixels(stack_cameras(observation.images, CAMERAS), model.config.vision_config.image_size)
        cached = decode_actions(model, torch.tensor([prefix]), pixels, parts.vocab, bias, 40)
        reference, ended = _uncached_greedy(model, prefix, pixels, parts.vocab, bias, 40)
        assert ended and cached.ended  # the trained model stops by itself: the whole sequence is compared
        assert cached.vocab_ids == reference


def test_decoding_stops_at_the_bound_and_reports_it(setup):
    parts, model, prefix, pixels = setup
    bias = allowed_logits_bias(parts.vocab)
    bias[parts.vocab.end_of_action_id] = float("-inf")  # a model that would never stop
    out = decode_actions(model, torch.tensor([prefix]), pixels, parts.vocab, bias, max_new_tokens=6)
    assert (len(out.vocab_ids), out.ended) == (6, False)
    assert out.prefill_s > 0 and out.decode_s > 0
    assert np.isfinite([out.prefill_s, out.decode_s]).all()
