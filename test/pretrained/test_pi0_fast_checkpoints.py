"""Loading tiny pi0-FAST checkpoints in both LeRobot layouts: strictness, the network, decoding, detokenizing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from fast_vla_ros.policy.errors import CheckpointError
from fast_vla_ros.policy.lerobot_checkpoint import read_checkpoint
from fast_vla_ros.policy.paligemma_stand_in import PALIGEMMA_VOCAB_SIZE, stand_in_tokenizer
from fast_vla_ros.policy.pi0_fast_runtime import Pi0FastPolicy, load_pi0_fast
from fast_vla_ros.policy.vocabulary import PromptVocabulary
from fast_vla_ros.tokenizers.base import DecodeStatus
from fast_vla_ros.tokenizers.fast import FastTokenizer

from .conftest import FAST_PLUS, STATE_JOINTS, VOCAB_SIZE, embodiment, observation, target_chunk

KINDS = ("pi0_fast", "pi0fast")


def load(directory: Path, tmp_path: Path, text_dir: Path, **embodiment_fields) -> Pi0FastPolicy:
    return load_pi0_fast(directory, embodiment(tmp_path / "arm.yaml", **embodiment_fields), [text_dir], [FAST_PLUS])


def test_real_size_vocabulary_maps_action_tokens_as_paligemma() -> None:
    vocab = PromptVocabulary(stand_in_tokenizer(), PALIGEMMA_VOCAB_SIZE, 2048, 128)
    assert vocab.actions.to_vocab([0, 1, 2047]) == [257023, 257022, 254976]
    assert (vocab.bos_id, vocab.eos_id, vocab.pad_id, vocab.image_id) == (2, 1, 0, 257152)
    assert vocab.end_of_action_id == 235371  # "|", below the action ids as in PaliGemma
    assert vocab.actions.from_vocab(vocab.actions.to_vocab(range(2048))) == list(range(2048))


@pytest.mark.parametrize("probe", ["smooth50hz", "bridge"])
def test_fast_plus_files_give_the_reference_processors_ids(probe: str) -> None:
    chunks = np.load(FAST_PLUS / f"probe_{probe}.npz")["chunks"]
    expected = json.loads((FAST_PLUS / f"probe_{probe}_tokens.json").read_text())
    assert FastTokenizer.load(FAST_PLUS).encode(chunks) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_loaded_network_equals_the_plain_paligemma_it_was_written_from(
    kind, checkpoints, model, tmp_path, text_tokenizer_dir
):
    policy = load(checkpoints[kind], tmp_path, text_tokenizer_dir)
    vocab_size = model.config.text_config.vocab_size
    ids = torch.tensor([[vocab_size] * 8 + [2, 40, 50, 60, 2, 10, 5, 11, 1980, 3000]])
    token_types = torch.tensor([[0] * 13 + [1] * 5])
    pixels = torch.rand(2, 3, 28, 28) * 2 - 1
    with torch.no_grad():
        ours = policy.model(input_ids=ids, pixel_values=pixels, token_type_ids=token_types).logits
        plain = model(input_ids=ids, pixel_values=pixels, token_type_ids=token_types).logits
    torch.testing.assert_close(ours, plain, rtol=0, atol=0)


def test_prefix_lm_mask_is_lerobots_images_and_prompt_bidirectional_actions_causal(model) -> None:
    """An explicit mask built as LeRobot's ``_create_custom_attention_mask_fast`` gives the same logits."""
    vocab_size = model.config.text_config.vocab_size
    prefix, suffix = 8 + 5, 4
    ids = torch.tensor([[vocab_size] * 8 + [2, 40, 50, 60, 2] + [10, 5, 11, 1980]])
    pixels = torch.rand(2, 3, 28, 28) * 2 - 1
    allowed = torch.zeros(prefix + suffix, prefix + suffix, dtype=torch.bool)
    allowed[:, :prefix] = True
    allowed[prefix:, prefix:] = torch.tril(torch.ones(suffix, suffix, dtype=torch.bool))
    mask = torch.where(allowed, 0.0, torch.finfo(torch.float32).min)[None, None]
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids.clamp(max=vocab_size - 1))
        image = model.model.get_image_features(pixels).pooler_output.reshape(1, -1, embeds.shape[-1])
        embeds[:, :8] = image
        explicit = model.model.language_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        reference = model.lm_head(explicit)
        ours = model(
            input_ids=ids, pixel_values=pixels, token_type_ids=torch.tensor([[0] * prefix + [1] * suffix])
        ).logits
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_cached_greedy_decoding_equals_uncached_greedy(kind, checkpoints, tmp_path, text_tokenizer_dir) -> None:
    policy = load(checkpoints[kind], tmp_path, text_tokenizer_dir)
    result = policy.predict(observation())
    _, prefix_ids, pixels = policy._preprocess(observation())
    sequence = prefix_ids[0].tolist() + policy.prompt.forced_ids
    prefix_length = prefix_ids.shape[1]
    chosen = []
    with torch.no_grad():
        while len(chosen) < policy.max_action_tokens:
            ids = torch.tensor([sequence + chosen])
            types = torch.tensor([[0] * prefix_length + [1] * (ids.shape[1] - prefix_length)])
            logits = policy.model(input_ids=ids, pixel_values=pixels, token_type_ids=types).logits[0, -1]
            token = int((logits.float() + policy._bias).argmax())
            if token == policy.vocab.end_of_action_id:
                break
            chosen.append(token)
    assert policy.vocab.actions.from_vocab(chosen) == result.action_tokens
    assert result.ok and len(set(result.action_tokens)) > 3


@pytest.mark.parametrize("kind", KINDS)
def test_predict_returns_the_taught_chunk_on_the_arms_joints(kind, checkpoints, tmp_path, text_tokenizer_dir) -> None:
    policy = load(checkpoints[kind], tmp_path, text_tokenizer_dir)
    result = policy.predict(observation(stamp=4.0))
    assert result.ok, result.status
    expected = policy.checkpoint.action_normalizer.unnormalize(target_chunk(policy.checkpoint.decode_horizon))
    np.testing.assert_allclose(result.chunk.actions, expected[: policy.checkpoint.n_action_steps], atol=0.1)
    assert result.chunk.joint_names == STATE_JOINTS and result.chunk.t0 == 4.0


@pytest.mark.parametrize("kind", KINDS)
def test_fast_plus_chunk_mapped_to_vocabulary_ids_comes_back_within_quantization_error(
    kind, checkpoints, tmp_path, text_tokenizer_dir
) -> None:
    policy = load(checkpoints[kind], tmp_path, text_tokenizer_dir)
    horizon = policy.checkpoint.decode_horizon
    times = np.linspace(0, 1, horizon)[:, None]
    normalized = 0.6 * np.sin(2 * np.pi * times + np.arange(4)[None, :])
    tokens = policy.fast.encode(normalized[None])[0]
    ids = policy.vocab.actions.to_vocab(tokens)
    assert ids == [VOCAB_SIZE - 1 - 128 - t for t in tokens]
    chunk, status = policy._detokenize(
        policy.vocab.actions.from_vocab(ids), True, dict(zip(STATE_JOINTS, np.zeros(4), strict=True)), 3.0
    )
    assert status == "ok"
    expected = policy.checkpoint.action_normalizer.unnormalize(normalized)
    span = np.abs(policy.checkpoint.action_normalizer.second) + 1  # std for MEAN_STD: the error scales with it
    # FAST+ rounds DCT coefficients to 1/10: at most 0.05 per coefficient in normalized units, RMS-bounded.
    assert np.sqrt(np.mean((chunk.actions - expected) ** 2, axis=0)).max() < 0.05 * span.max()
    assert chunk.joint_names == STATE_JOINTS and chunk.t0 == 3.0 and chunk.dt == pytest.approx(0.1)


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_sequences_are_flagged_never_raised_never_zeros(kind, checkpoints, tmp_path, text_tokenizer_dir):
    policy = load(checkpoints[kind], tmp_path, text_tokenizer_dir)
    positions = dict(zip(STATE_JOINTS, np.zeros(4), strict=True))
    assert policy._detokenize([], True, positions, 0.0) == (None, "action tokens do not decode cleanly: EMPTY")
    chunk, status = policy._detokenize([5, 6, 7], False, positions, 0.0)
    assert chunk is None and "no end-of-action marker" in status
    short, status = policy._detokenize([300, 301], True, positions, 0.0)
    assert status == f"ok ({DecodeStatus.TOO_SHORT.name})" and short is not None
    result = policy.predict(observation())
    assert result.ok or result.chunk is None and result.status


@pytest.mark.parametrize("mode", ["MEAN_STD", "QUANTILES", "MIN_MAX", "IDENTITY"])
def test_normalization_modes_read_from_the_processor_files(mode, write) -> None:
    checkpoint = read_checkpoint(write("pi0_fast", state_mode=mode, action_mode=mode))
    stats = json.loads((checkpoint.directory / "policy_preprocessor.json").read_text())["steps"][2]["state_file"]
    tensors = {k: v.double().numpy() for k, v in load_file(str(checkpoint.directory / stats)).items()}
    x = np.array([0.3, -0.1, 0.7, 0.0])
    if mode == "MEAN_STD":
        expected = (x - tensors["observation.state.mean"]) / (tensors["observation.state.std"] + 1e-8)
    elif mode == "QUANTILES":
        low, high = tensors["observation.state.q01"], tensors["observation.state.q99"]
        expected = 2 * (x - low) / (high - low) - 1
    elif mode == "MIN_MAX":
        low, high = tensors["observation.state.min"], tensors["observation.state.max"]
        expected = 2 * (x - low) / (high - low) - 1
    else:
        expected = x
    np.testing.assert_allclose(checkpoint.state_normalizer.normalize(x), expected, rtol=1e-12)
    np.testing.assert_allclose(
        checkpoint.action_normalizer.unnormalize(checkpoint.action_normalizer.normalize(x)), x, atol=1e-6
    )


def test_legacy_buffers_are_read_from_the_weights_file(checkpoints) -> None:
    checkpoint = read_checkpoint(checkpoints["pi0fast"])
    tensors = load_file(str(checkpoint.weights))
    mean = tensors["normalize_inputs.buffer_observation_state.mean"].double().numpy()
    std = tensors["normalize_inputs.buffer_observation_state.std"].double().numpy()
    x = np.array([0.3, -0.1, 0.7, 0.0])
    np.testing.assert_allclose(checkpoint.state_normalizer.normalize(x), (x - mean) / (std + 1e-8), rtol=1e-12)
    assert checkpoint.decode_horizon == 10 and checkpoint.prompt_format.name == "pi0fast"


def _rewrite_weights(directory: Path, change) -> None:
    tensors = load_file(str(directory / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(directory / "model.safetensors"))


def _replace_json(path: Path, **fields) -> None:
    document = json.loads(path.read_text())
    document.update(fields)
    path.write_text(json.dumps(document))


LAYER = "model.paligemma_with_expert.paligemma.model.language_model.layers.1.mlp.up_proj.weight"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "config.json").unlink(), "config.json"),
        (lambda d: _replace_json(d / "config.json", type="pi05"), "unknown policy type 'pi05'"),
        (lambda d: (d / "model.safetensors").unlink(), "missing file"),
        (lambda d: (d / "policy_postprocessor.json").unlink(), "policy_postprocessor.json"),
        (
            lambda d: (d / "policy_preprocessor_step_2_normalizer_processor.safetensors").unlink(),
            "normalizer_processor",
        ),
        (lambda d: _rewrite_weights(d, lambda t: t.pop(LAYER)), "missing (first: ['model.language_model.layers.1.mlp"),
        (lambda d: _rewrite_weights(d, lambda t: t.update(extra=torch.zeros(1))), "unexpected keys outside"),
        (lambda d: _rewrite_weights(d, lambda t: t.update({LAYER: torch.zeros(64, 33)})), "shapes disagree"),
        (lambda d: _rewrite_weights(d, lambda t: t.update({LAYER + "x": torch.zeros(1)})), "no PaliGemma tensor"),
    ],
)
def test_each_damaged_file_gives_an_error_naming_it(damage, message, write, tmp_path, text_tokenizer_dir) -> None:
    directory = write("pi0_fast")
    damage(directory)
    with pytest.raises(CheckpointError, match=None) as error:
        load(directory, tmp_path, text_tokenizer_dir)
    assert message in str(error.value)


def test_unknown_normalization_mode_and_missing_statistic_are_named(write, tmp_path, text_tokenizer_dir) -> None:
    directory = write("pi0_fast", state_mode="QUANTILES")
    path = directory / "policy_preprocessor.json"
    pipeline = json.loads(path.read_text())
    pipeline["steps"][2]["config"]["norm_map"]["STATE"] = "QUANTILE10"
    path.write_text(json.dumps(pipeline))
    with pytest.raises(
        CheckpointError, match=r"observation.state: QUANTILE10 normalization needs the statistics \['q10', 'q90'\]"
    ):
        read_checkpoint(directory)
    pipeline["steps"][2]["config"]["norm_map"]["STATE"] = "LOG"
    path.write_text(json.dumps(pipeline))
    with pytest.raises(CheckpointError, match="normalization mode 'LOG' for STATE"):
        read_checkpoint(directory)


def test_missing_tokenizers_and_openpi_checkpoints_say_what_to_do(checkpoints, tmp_path, text_tokenizer_dir) -> None:
    arm = embodiment(tmp_path / "arm.yaml")
    with pytest.raises(CheckpointError, match="no PaliGemma text tokenizer .*text_tokenizer_dir"):
        load_pi0_fast(checkpoints["pi0_fast"], arm, [], [FAST_PLUS])
    with pytest.raises(CheckpointError, match="no FAST processor .*action_tokenizer_dir"):
        load_pi0_fast(checkpoints["pi0_fast"], arm, [text_tokenizer_dir], [])
    openpi = tmp_path / "pi0_fast_droid"
    (openpi / "params").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="openpi .*LeRobot's format"):
        load_pi0_fast(openpi, arm, [text_tokenizer_dir], [FAST_PLUS])


def test_a_legacy_file_with_only_the_embedding_and_a_main_file_with_only_lm_head_both_load(checkpoints) -> None:
    legacy = load_file(str(checkpoints["pi0fast"] / "model.safetensors"))
    main = load_file(str(checkpoints["pi0_fast"] / "model.safetensors"))
    assert "model.pi0_paligemma.language_model.model.embed_tokens.weight" in legacy
    assert not any(k.endswith("lm_head.weight") for k in legacy)
    assert "model.paligemma_with_expert.paligemma.lm_head.weight" in main
    assert not any(k.endswith("embed_tokens.weight") for k in main)
    assert any(".vision_tower.vision_model.encoder.layers.0." in k for k in main)
