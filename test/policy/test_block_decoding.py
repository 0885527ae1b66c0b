"""Block-wise decoding (FASTer): block-causal mask, B codes per forward pass, per-position constraints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fast_vla_ros.policy.block_decoding import (
    block_attention_mask,
    block_suffix,
    decode_action_blocks,
    pick_block,
    position_bias,
)
from fast_vla_ros.policy.checkpoint import load_policy, policy_parts, save_checkpoint
from fast_vla_ros.policy.config import PolicyConfig
from fast_vla_ros.policy.decoding import allowed_logits_bias, decode_actions
from fast_vla_ros.policy.images import stack_cameras, to_pixels
from fast_vla_ros.policy.model import image_tokens_per_camera
from fast_vla_ros.policy.prompt import encode_prefix
from fast_vla_ros.policy.runtime import VLAPolicy
from fast_vla_ros.tokenizers import FasterTokenizer
from fast_vla_ros.training.train_loop import TrainingConfig, collate, train

from .conftest import CAMERAS, HORIZON, parts_for

BLOCK = 5
# 2 windows of 4 steps x 2 joint groups = 4 patches, 3 levels: 12 codes, blocks of 5, 5 and 2.
TINY_FASTER = dict(
    groups=[[0, 1], [2]],
    patch_steps=4,
    num_quantizers=3,
    codebook_size=8,
    latent_dim=4,
    model_dim=16,
    depth=1,
    heads=2,
    steps=30,
    decoder_steps=20,
    batch_size=12,
    progress=False,
)


def fit_faster(chunks: np.ndarray) -> FasterTokenizer:
    return FasterTokenizer.fit(chunks, **TINY_FASTER)


@pytest.fixture(scope="module")
def faster_parts(samples):
    config = PolicyConfig(cameras=CAMERAS, horizon=HORIZON, action_tokenizer="faster", decode_block_size=BLOCK)
    return parts_for(samples, fit_faster, config)


def _prefix_and_pixels(parts, observation):
    model = parts.model
    image_tokens = image_tokens_per_camera(model.config) * len(CAMERAS)
    state = parts.action_space.normalize_state(observation.state)
    prefix = encode_prefix(parts.vocab, observation.instruction, state, image_tokens).ids
    pixels = to_pixels(stack_cameras(observation.images, CAMERAS), model.config.vision_config.image_size)
    return prefix, pixels


def test_mask_lets_a_block_see_itself_and_earlier_blocks_never_later_ones():
    prefix_lengths, lengths, width, block = [3, 5], [3 + 7, 5 + 7], 13, 3
    allowed = block_attention_mask(prefix_lengths, lengths, width, block, torch.float32)[:, 0] == 0
    for row, (prefix, length) in enumerate(zip(prefix_lengths, lengths, strict=True)):
        for q in range(length):
            for k in range(width):
                if k >= length:
                    expected = False  # padding is never attended
                elif q < prefix:
                    expected = k < prefix  # the prefix is bidirectional and blind to the suffix
                else:
                    expected = k < prefix or (k - prefix) // block <= (q - prefix) // block
                assert bool(allowed[row, q, k]) == expected, (row, q, k)
    # One concrete reading: suffix position 4 (block 1) sees positions 0..5 of the suffix, not 6.
    q = 3 + 4
    assert allowed[0, q, 3 + 5] and not allowed[0, q, 3 + 6]


def test_the_model_obeys_the_block_causal_mask(faster_parts, samples):
    """Through PaliGemma for real: a changed input changes its own block and later ones, never earlier ones."""
    parts = faster_parts
    model = parts.model.eval()
    prefix, pixels = _prefix_and_pixels(parts, samples[0][0])
    codes = parts.action_tokenizer.encode(np.zeros((1, HORIZON, 3)))[0]
    suffix = block_suffix(parts.vocab, codes, BLOCK)
    assert len(suffix) == math.ceil(len(codes) / BLOCK) * BLOCK

    def hidden(ids):
        mask = block_attention_mask([len(prefix)], [len(ids)], len(ids), BLOCK, torch.float32)
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), pixel_values=pixels, attention_mask=mask)
        return out.logits[0, len(prefix) :]

    base = hidden(prefix + suffix)
    changed = list(prefix + suffix)
    position = BLOCK + 1  # suffix position in block 1
    changed[len(prefix) + position] = parts.vocab.actions.to_vocab([codes[1] ^ 1])[0]
    out = hidden(changed)
    assert torch.allclose(out[:BLOCK], base[:BLOCK], atol=1e-5)  # block 0 never sees block 1
    for p in range(BLOCK, len(suffix)):  # every position of block 1 and later does
        assert not torch.allclose(out[p], base[p], atol=1e-5), p


def test_collate_lays_out_queries_codes_and_aligned_labels(faster_parts, samples):
    parts = faster_parts
    batch = collate(parts, samples[:2])
    assert not batch.next_token and batch.attention_mask.shape[1] == 1
    vocab, n = parts.vocab, parts.action_tokenizer.codes_per_chunk
    for row in range(2):
        start = int((batch.token_type_ids[row] == 0).sum())
        labels = batch.labels[row][batch.labels[row] != -100]
        assert len(labels) == n
        assert (batch.labels[row, start : start + n] == labels).all()  # position j is labelled with code j
        queries = batch.input_ids[row, start : start + BLOCK].tolist()
        assert queries == [vocab.end_of_action_id] * BLOCK
        # Inputs after the queries are the codes, shifted by one block.
        fed = batch.input_ids[row, start + BLOCK : start + 2 * BLOCK]
        assert (fed == labels[:BLOCK]).all()
        # The loss only weighs each position's own level: its label is allowed, other levels' ids are not.
        assert batch.target_bias.shape == (n, vocab.vocab_size)
        assert (batch.target_bias[torch.arange(n), labels] == 0).all()
        assert torch.isinf(batch.target_bias).sum(dim=1).tolist() == [vocab.vocab_size - 8] * n


def _counting(model):
    calls = []
    original = model.forward

    def forward(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[1])
        return original(*args, **kwargs)

    model.forward = forward
    return calls


@pytest.mark.parametrize("block", [1, 3, BLOCK, 12, 20])
def test_forward_passes_per_chunk_are_counted_and_bounded(faster_parts, samples, block):
    parts = faster_parts
    model = parts.model.eval()
    prefix, pixels = _prefix_and_pixels(parts, samples[0][0])
    ranges = parts.action_tokenizer.allowed_token_ranges()
    bias = position_bias(parts.vocab, ranges)
    calls = _counting(model)
    try:
        out = decode_action_blocks(model, torch.tensor([prefix]), pixels, parts.vocab.end_of_action_id, bias, block)
    finally:
        del model.forward
    n = len(ranges)
    assert len(out.vocab_ids) == n and out.ended
    assert out.forward_passes == len(calls) == math.ceil(n / block) <= math.ceil(n / block) + 1
    assert calls[0] == len(prefix) + block and all(c == block for c in calls[1:])


def test_every_position_only_produces_its_levels_ids(faster_parts, samples):
    parts = faster_parts
    tokenizer = parts.action_tokenizer
    ranges = tokenizer.allowed_token_ranges()
    levels = tokenizer.position_levels()
    assert [r.start // tokenizer.config.codebook_size for r in ranges] == levels.tolist()
    assert levels.tolist() == sorted(levels.tolist()) and levels[0] == 0  # coarse to fine
    bias = position_bias(parts.vocab, ranges)
    # What an unconstrained model prefers (another level's codes, text ids) can never come out.
    logits = torch.zeros(len(ranges), parts.vocab.vocab_size)
    logits[:, parts.vocab.eos_id] = 1e4
    logits[:, parts.vocab.actions.to_vocab([ranges[-1].start])[0]] = 1e3
    picked = parts.vocab.actions.from_vocab(pick_block(logits, bias))
    assert all(token in allowed for token, allowed in zip(picked, ranges, strict=True))

    model = parts.model.eval()
    prefix, pixels = _prefix_and_pixels(parts, samples[1][0])
    generator = torch.Generator().manual_seed(0)
    for temperature in (0.0, 5.0):
        out = decode_action_blocks(
            model, torch.tensor([prefix]), pixels, parts.vocab.end_of_action_id, bias, BLOCK, temperature, generator
        )
        tokens = parts.vocab.actions.from_vocab(out.vocab_ids)
        assert all(token in allowed for token, allowed in zip(tokens, ranges, strict=True))
        _, statuses = tokenizer.decode([tokens], HORIZON, 3, return_status=True)
        assert statuses[0].name == "OK"


def test_cached_block_decoding_equals_uncached_reference(faster_parts, samples):
    """The KV-cached passes give exactly what full passes over the whole sequence give."""
    parts = faster_parts
    model = parts.model.eval()
    bias = position_bias(parts.vocab, parts.action_tokenizer.allowed_token_ranges())
    n = bias.shape[0]
    prefix, pixels = _prefix_and_pixels(parts, samples[2][0])
    cached = decode_action_blocks(model, torch.tensor([prefix]), pixels, parts.vocab.end_of_action_id, bias, BLOCK)
    codes: list[int] = []
    while len(codes) < n:
        tokens = parts.vocab.actions.from_vocab(codes)
        ids = prefix + [parts.vocab.end_of_action_id] * BLOCK + parts.vocab.actions.to_vocab(tokens)
        mask = block_attention_mask([len(prefix)], [len(ids)], len(ids), BLOCK, torch.float32)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), pixel_values=pixels, attention_mask=mask).logits[0]
        start = len(prefix) + len(codes)
        take = min(BLOCK, n - len(codes))
        codes += pick_block(logits[start : start + take], bias[len(codes) : len(codes) + take])
    assert cached.vocab_ids == codes


def test_block_policy_trains_saves_loads_and_predicts(samples, tmp_path):
    config = PolicyConfig(cameras=CAMERAS, horizon=HORIZON, action_tokenizer="faster", decode_block_size=BLOCK)
    four = samples[:4]
    parts = parts_for(four, fit_faster, config)
    schedule = TrainingConfig(
        steps=150, batch_size=4, learning_rate=3e-3, warmup_steps=5, validate_every=10, checkpoint_every=150,
        shuffle_buffer=4,
    )  # fmt: skip
    parts, history = train(four, tmp_path / "policy", schedule, parts, four, progress=False)
    first, last = history.validation_loss[0][1], history.validation_loss[-1][1]
    assert last < 0.1 * first, history

    policy = load_policy(tmp_path / "policy")
    assert policy.config.decode_block_size == BLOCK
    n = policy.action_tokenizer.codes_per_chunk
    result = policy.predict(four[0][0])
    assert result.ok and result.status == "ok" and len(result.action_tokens) == n
    assert result.forward_passes == math.ceil(n / BLOCK)
    expected = policy.action_tokenizer.encode(
        policy.action_space.normalize_targets(
            four[0][1], policy.action_space.state_from(four[0][0].joint_names, four[0][0].state)
        )[None]
    )[0]
    assert result.action_tokens == expected  # overfitted: greedy block decoding reproduces the codes

    save_checkpoint(policy_parts(policy), tmp_path / "copy")
    again = load_policy(tmp_path / "copy").predict(four[0][0])
    assert again.action_tokens == result.action_tokens


def test_block_decoding_is_faster_per_chunk_than_token_wise(faster_parts, samples):
    """Same network, same codes to emit: B codes per pass beats one per pass (wall time, best of 5)."""
    parts = faster_parts
    model = parts.model.eval()
    prefix, pixels = _prefix_and_pixels(parts, samples[0][0])
    bias = position_bias(parts.vocab, parts.action_tokenizer.allowed_token_ranges())

    def best(block):
        times = []
        for _ in range(5):
            out = decode_action_blocks(model, torch.tensor([prefix]), pixels, parts.vocab.end_of_action_id, bias, block)
            times.append(out.prefill_s + out.decode_s)
        return min(times), out.forward_passes

    block_s, block_passes = best(BLOCK)
    token_s, token_passes = best(1)
    assert (block_passes, token_passes) == (3, 12)
    assert block_s < token_s


def test_token_wise_paths_are_unchanged_and_count_passes(binning_parts, samples):
    parts = binning_parts
    model = parts.model.eval()
    prefix, pixels = _prefix_and_pixels(parts, samples[0][0])
    bias = allowed_logits_bias(parts.vocab)
    bias[parts.vocab.end_of_action_id] = float("-inf")
    out = decode_actions(model, torch.tensor([prefix]), pixels, parts.vocab, bias, max_new_tokens=6)
    assert out.forward_passes == 1 + 6
    with pytest.raises(ValueError, match="decode_block_size"):
        PolicyConfig(cameras=CAMERAS, action_tokenizer="fast", decode_block_size=7)
    with pytest.raises(ValueError, match="decode_block_size"):
        PolicyConfig(cameras=CAMERAS, action_tokenizer="faster")
    with pytest.raises(ValueError, match="block-wise decoding needs"):
        VLAPolicy(
            parts.model, parts.vocab, parts.action_tokenizer, parts.action_space,
            PolicyConfig(cameras=CAMERAS, horizon=HORIZON, action_tokenizer="faster", decode_block_size=2),
        )  # fmt: skip


def test_train_and_eval_commands_run_a_faster_policy(tmp_path, capsys):
    from fast_vla_ros.cli import main

    demos = tmp_path / "demos"
    assert main(["sim-demos", "--tasks", "touch", "--episodes", "2", "--image-size", "32", "--out", str(demos)]) == 0
    out = tmp_path / "policy"
    train_args = ["train", "--data", str(demos), "--out", str(out), "--tokenizer", "faster", "--block-size", "4"]
    schedule = ["--horizon", "10", "--stride", "10", "--steps", "2", "--batch-size", "2", "--tokenizer-steps", "3"]
    assert main([*train_args, *schedule, "--validation-episodes", "1", "--threads", "1"]) == 0
    assert "faster tokenizer" in capsys.readouterr().out
    policy = load_policy(out)
    assert policy.config.decode_block_size == 4 and policy.config.action_tokenizer == "faster"
    result_json = tmp_path / "eval.json"
    eval_args = ["eval", "--policy", str(out), "--tasks", "touch", "--episodes", "1", "--max-seconds", "0.3"]
    assert main([*eval_args, "--image-size", "32", "--threads", "1", "--json", str(result_json)]) == 0
    assert result_json.is_file()
