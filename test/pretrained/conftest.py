"""Tiny pi0-FAST checkpoints written by the tests in LeRobot's exact layouts, with the real FAST+ files.

The network is a PaliGemma with the real 14 px patch at a 28 px input (4 image tokens per camera), one
attention and one KV head of Gemma's 256 values and two decoder layers, over a 4096-id vocabulary with
the same action-token formula: the real 257 152 rows made the model's training below about 10x slower.
``test_real_size_vocabulary_maps_action_tokens_as_paligemma`` checks the real size on the stand-in text
tokenizer (PaliGemma's special ids, see ``paligemma_stand_in``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.lerobot_layout_writer import CheckpointSpec, write_checkpoint
from fast_vla_ros.policy.paligemma_stand_in import stand_in_tokenizer
from fast_vla_ros.policy.pi0_fast_runtime import load_pi0_fast
from fast_vla_ros.types import Observation

torch.set_num_threads(1)

FAST_PLUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "fast_plus"
IMAGE_SIZE = 28
VOCAB_SIZE = 4096
STATE_JOINTS = ("shoulder", "elbow", "wrist", "gripper")
CAMERAS = ("observation.images.top", "observation.images.wrist")
INSTRUCTION = "Pick_up the Cube"


def tiny_paligemma(vocab_size: int = VOCAB_SIZE, seed: int = 0) -> PaliGemmaForConditionalGeneration:
    config = PaliGemmaConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "image_size": IMAGE_SIZE,
            "patch_size": 14,
            "hidden_size": 72,
            "num_hidden_layers": 1,
            "num_attention_heads": 1,
            "intermediate_size": 64,
            "vision_use_head": False,
        },
        text_config={
            "model_type": "gemma",
            "vocab_size": vocab_size,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 1,
            "num_key_value_heads": 1,
            "head_dim": 256,
            "intermediate_size": 64,
            "hidden_activation": "gelu_pytorch_tanh",
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 1,
        },
        vocab_size=vocab_size,
        image_token_index=vocab_size,
        projection_dim=32,
        hidden_size=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PaliGemmaForConditionalGeneration(config).eval()


def statistics(mode: str, dim: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    low = rng.uniform(-1.0, 0.0, dim)
    high = low + rng.uniform(0.5, 2.0, dim)
    if mode == "MEAN_STD":
        return {"mean": (low + high) / 2, "std": (high - low) / 4}
    if mode == "MIN_MAX":
        return {"min": low, "max": high}
    if mode == "QUANTILES":
        return {"q01": low, "q99": high}
    return {}


def spec(kind: str, state_mode: str = "MEAN_STD", action_mode: str = "MEAN_STD", **overrides) -> CheckpointSpec:
    fields = dict(
        kind=kind,
        state_dim=len(STATE_JOINTS),
        action_dim=len(STATE_JOINTS),
        cameras=CAMERAS,
        image_size=IMAGE_SIZE,
        stats={"observation.state": statistics(state_mode, 4, 1), "action": statistics(action_mode, 4, 2)},
        state_mode=state_mode,
        action_mode=action_mode,
        chunk_size=10,
        n_action_steps=10,
        max_decoding_steps=64,
    )
    fields.update(overrides)
    return CheckpointSpec(**fields)


def embodiment(path: Path, **overrides) -> Path:
    document = {
        "state": list(STATE_JOINTS),
        "actions": list(STATE_JOINTS),
        "convention": "absolute",
        "control_rate_hz": 10,
        "cameras": {CAMERAS[0]: "camera/scene/image_raw", CAMERAS[1]: "camera/wrist/image_raw"},
    }
    document.update(overrides)
    path.write_text(yaml.safe_dump(document))
    return path


def target_chunk(horizon: int = 10) -> np.ndarray:
    """The normalized chunk the trained tiny model answers every observation with."""
    times = np.linspace(0.0, 1.0, horizon)[:, None]
    return 0.6 * np.sin(2 * np.pi * times + np.arange(len(STATE_JOINTS))[None, :])


def observation(state=(0.1, -0.2, 0.3, 0.0), stamp: float = 12.5) -> Observation:
    return Observation(frames(), np.asarray(state, dtype=float), STATE_JOINTS, INSTRUCTION, stamp)


@pytest.fixture(scope="session")
def model(tmp_path_factory, text_tokenizer_dir) -> PaliGemmaForConditionalGeneration:
    """A tiny PaliGemma taught, through each format's exact prompt, to answer with ``target_chunk``'s FAST+
    tokens and the format's end marker, so decoding ends and its result can be checked."""
    scratch = tmp_path_factory.mktemp("untrained")
    arm = embodiment(scratch / "arm.yaml")
    untrained = tiny_paligemma()
    policies = [
        load_pi0_fast(write_checkpoint(scratch / kind, untrained, spec(kind)), arm, [text_tokenizer_dir], [FAST_PLUS])
        for kind in ("pi0_fast", "pi0fast")
    ]
    network = policies[0].model.train()
    examples = []
    for policy in policies:
        tokens = policy.fast.encode(target_chunk(policy.checkpoint.decode_horizon)[None])[0]
        _, prefix, pixels = policy._preprocess(observation())
        suffix = policy.prompt.forced_ids + policy.vocab.actions.to_vocab(tokens) + [policy.vocab.end_of_action_id]
        ids = torch.cat([prefix, torch.tensor([suffix])], dim=1)
        types = torch.tensor([[0] * prefix.shape[1] + [1] * len(suffix)])
        examples.append((ids, types, pixels, prefix.shape[1] + len(policy.prompt.forced_ids)))
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for _ in range(160):
            optimizer.zero_grad()
            loss = 0.0
            for ids, types, pixels, first in examples:
                logits = network(input_ids=ids, pixel_values=pixels, token_type_ids=types).logits[0, first - 1 : -1]
                loss = loss + torch.nn.functional.cross_entropy(logits, ids[0, first:])
            loss.backward()
            optimizer.step()
    return network.eval()


@pytest.fixture(scope="session")
def text_tokenizer_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("paligemma_tokenizer")
    stand_in_tokenizer([INSTRUCTION.lower().replace("_", " "), INSTRUCTION.replace("_", " ")], VOCAB_SIZE).save(
        str(directory / "tokenizer.json")
    )
    return directory


@pytest.fixture(scope="session")
def write(tmp_path_factory, model):
    """``write(kind, **spec overrides) -> directory`` of a fresh checkpoint of the session's model."""

    def write(kind: str, **overrides) -> Path:
        return write_checkpoint(tmp_path_factory.mktemp(kind), model, spec(kind, **overrides))

    return write


@pytest.fixture(scope="session")
def checkpoints(write) -> dict[str, Path]:
    return {kind: write(kind) for kind in ("pi0_fast", "pi0fast")}


def frames(seed: int = 0) -> dict[str, np.ndarray]:
    # 224 px, as policy_node expects by default; the tests of padding use their own wide frames.
    rng = np.random.default_rng(seed)
    return {name: rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for name in ("top", "wrist")}
