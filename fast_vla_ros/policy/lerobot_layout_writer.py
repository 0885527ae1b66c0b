"""Write a PaliGemma and normalization statistics as a LeRobot ``pi0_fast`` or legacy ``pi0fast`` checkpoint.

No published weights can be downloaded here, so the loader is proven on checkpoints written in the
exact layout ``lerobot_checkpoint`` reads (key names, tied embedding left out as LeRobot's safetensors
export leaves it, processor JSON + safetensors, legacy buffers): tiny ones in the tests, a PaliGemma-3B
shaped one with random weights in ``benchmarks/pretrained.py``. Not used at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.lerobot_checkpoint import (
    ACTION,
    CONFIG_FILE,
    POSTPROCESSOR_FILE,
    PREPROCESSOR_FILE,
    STATE,
    WEIGHTS_FILE,
)
from fast_vla_ros.policy.lerobot_weights import (
    EMBEDDING,
    LEGACY_PREFIX,
    LEGACY_RENAMES,
    LM_HEAD,
    MAIN_PREFIX,
    VISION_LEVEL,
    canonical,
)


@dataclass
class CheckpointSpec:
    """The settings of a written checkpoint; ``stats`` maps ``observation.state`` / ``action`` to statistics."""

    kind: str  # "pi0_fast" or "pi0fast"
    state_dim: int
    action_dim: int
    cameras: tuple[str, ...]  # full feature names, observation.images.*
    image_size: int
    stats: dict[str, dict[str, np.ndarray]]
    state_mode: str = "MEAN_STD"
    action_mode: str = "MEAN_STD"
    chunk_size: int = 10
    n_action_steps: int = 10
    max_decoding_steps: int = 256
    tokenizer_max_length: int = 200
    empty_cameras: int = 0
    extra_config: dict = field(default_factory=dict)


def _legacy_name(name: str) -> str:
    for old, new in LEGACY_RENAMES:
        if name.startswith(new):
            return old + name[len(new) :]
    raise ValueError(f"no legacy name for {name}")


def _config(spec: CheckpointSpec) -> dict:
    features = {camera: {"type": "VISUAL", "shape": [3, spec.image_size, spec.image_size]} for camera in spec.cameras}
    document = {
        "type": spec.kind,
        "n_obs_steps": 1,
        "input_features": {**features, STATE: {"type": "STATE", "shape": [spec.state_dim]}},
        "output_features": {ACTION: {"type": "ACTION", "shape": [spec.action_dim]}},
        "device": "cpu",
        "chunk_size": spec.chunk_size,
        "n_action_steps": spec.n_action_steps,
        "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": spec.state_mode, "ACTION": spec.action_mode},
        "max_state_dim": 32,
        "max_action_dim": 32,
        "empty_cameras": spec.empty_cameras,
        "max_decoding_steps": spec.max_decoding_steps,
        "fast_skip_tokens": 128,
    }
    if spec.kind == "pi0_fast":
        document.update(
            paligemma_variant="gemma_2b",
            dtype="bfloat16",
            max_action_tokens=256,
            image_resolution=[spec.image_size, spec.image_size],
            tokenizer_max_length=spec.tokenizer_max_length,
            text_tokenizer_name="google/paligemma-3b-pt-224",
            action_tokenizer_name="physical-intelligence/fast",
            temperature=0.0,
            use_kv_cache=True,
        )
    else:
        document.update(
            resize_imgs_with_padding=[spec.image_size, spec.image_size],
            interpolate_like_pi=False,
            adapt_to_pi_aloha=False,
            tokenizer_max_length=48,
            max_input_seq_len=256,
            use_cache=True,
            precision="bfloat16",
            relaxed_action_decoding=True,
        )
    document.update(spec.extra_config)
    return document


def _network_tensors(model: PaliGemmaForConditionalGeneration, kind: str) -> dict[str, torch.Tensor]:
    tensors = {}
    for installed_name, tensor in model.state_dict().items():
        # The files of both LeRobot generations have SigLIP's vision_model level (transformers < 5.5).
        name = canonical(installed_name).replace(VISION_LEVEL[1], VISION_LEVEL[0])
        if name == LM_HEAD and kind == "pi0fast":
            continue  # tied: the legacy export kept the embedding
        if name == EMBEDDING and kind == "pi0_fast":
            continue  # tied: LeRobot >= 0.4 keeps lm_head and restores the embedding from it
        key = MAIN_PREFIX + name if kind == "pi0_fast" else LEGACY_PREFIX + _legacy_name(name)
        tensors[key] = tensor.detach().to("cpu").contiguous()
    return tensors


def _stats_tensors(spec: CheckpointSpec, features: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return {
        f"{feature}.{stat}": torch.as_tensor(np.asarray(values, dtype=np.float32))
        for feature in features
        for stat, values in spec.stats.get(feature, {}).items()
    }


def _pipeline(
    directory: Path, spec: CheckpointSpec, name: str, registry: str, index: int, features: tuple[str, ...]
) -> None:
    state_file = f"{name}_step_{index}_{registry}.safetensors"
    save_file(_stats_tensors(spec, features), str(directory / state_file))
    feature_types = {STATE: "STATE", ACTION: "ACTION"}
    normalizer = {
        "registry_name": registry,
        "config": {
            "eps": 1e-8,
            "features": {
                f: {"type": feature_types[f], "shape": [spec.state_dim if f == STATE else spec.action_dim]}
                for f in features
            },
            "norm_map": {"VISUAL": "IDENTITY", "STATE": spec.state_mode, "ACTION": spec.action_mode},
        },
        "state_file": state_file,
    }
    others = [{"registry_name": "rename_observations_processor", "config": {"rename_map": {}}}] * index
    steps = others + [normalizer, {"registry_name": "device_processor", "config": {"device": "cpu"}}]
    (directory / f"{name}.json").write_text(json.dumps({"name": name, "steps": steps}, indent=2) + "\n")


def write_checkpoint(directory: str | Path, model: PaliGemmaForConditionalGeneration, spec: CheckpointSpec) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(_config(spec), indent=4) + "\n")
    tensors = _network_tensors(model, spec.kind)
    if spec.kind == "pi0fast":
        legacy = {
            "normalize_inputs.buffer_observation_state.": STATE,
            "normalize_targets.buffer_action.": ACTION,
            "unnormalize_outputs.buffer_action.": ACTION,
        }
        for prefix, feature in legacy.items():
            for stat, values in spec.stats.get(feature, {}).items():
                tensors[prefix + stat] = torch.as_tensor(np.asarray(values, dtype=np.float32))
    else:
        _pipeline(directory, spec, PREPROCESSOR_FILE.removesuffix(".json"), "normalizer_processor", 2, (STATE, ACTION))
        _pipeline(directory, spec, POSTPROCESSOR_FILE.removesuffix(".json"), "unnormalizer_processor", 0, (ACTION,))
    save_file(tensors, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    return directory
