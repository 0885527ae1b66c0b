"""Tiny pi0-FAST checkpoints written by the tests in LeRobot's exact layouts, with the real FAST+ files.

The network is a PaliGemma with the real 14 px patch at a 28 px input (4 image tokens per camera), one
attention and one KV head of Gemma's 256 values, two decoder layers, over the real 257 152-id vocabulary
(a stand-in text tokenizer with PaliGemma's special ids, see ``paligemma_stand_in``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.lerobot_layout_writer import CheckpointSpec, write_checkpoint
from fast_vla_ros.policy.paligemma_stand_in import PALIGEMMA_VOCAB_SIZE, stand_in_tokenizer

torch.set_num_threads(1)

FAST_PLUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "fast_plus"
IMAGE_SIZE = 28
STATE_JOINTS = ("shoulder", "elbow", "wrist", "gripper")
CAMERAS = ("observation.images.top", "observation.images.wrist")
INSTRUCTION = "Pick_up the Cube"


def tiny_paligemma(vocab_size: int = PALIGEMMA_VOCAB_SIZE, seed: int = 0) -> PaliGemmaForConditionalGeneration:
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


@pytest.fixture(scope="session")
def model() -> PaliGemmaForConditionalGeneration:
    return tiny_paligemma()


@pytest.fixture(scope="session")
def text_tokenizer_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("paligemma_tokenizer")
    stand_in_tokenizer([INSTRUCTION.lower().replace("_", " "), INSTRUCTION.replace("_", " ")]).save(
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
    rng = np.random.default_rng(seed)
    return {
        "top": rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
        "wrist": rng.integers(0, 256, (28, 28, 3), dtype=np.uint8),
    }
