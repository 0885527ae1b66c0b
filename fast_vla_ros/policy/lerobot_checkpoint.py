"""Read a LeRobot pi0-FAST checkpoint directory: its settings, camera features, normalization statistics,
and where its text tokenizer and FAST processor are.

    pi0_fast (LeRobot >= 0.4.3)                         legacy pi0fast (LeRobot 0.3)
    config.json            "type": "pi0_fast"           config.json            "type": "pi0fast"
    model.safetensors      the network                  model.safetensors      the network + normalization
    policy_preprocessor.json + its normalizer's                                buffers (normalize_inputs.buffer_
      policy_preprocessor_step_N_normalizer_processor.safetensors             observation_state.mean, ...)
    policy_postprocessor.json + its unnormalizer's
      policy_postprocessor_step_0_unnormalizer_processor.safetensors

Neither ships the PaliGemma text tokenizer (``google/paligemma-3b-pt-224``) nor, before LeRobot saved
processor artifacts, the FAST processor (``physical-intelligence/fast``); both are looked for in the
checkpoint first (``tokenizer/``, ``action_tokenizer/``, as newer LeRobot saves them), then in the
directories the user names. Everything is checked before the 3B weights are touched, and every error
names the file and the key. No code is ever taken from a checkpoint (no ``trust_remote_code``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file

from fast_vla_ros.policy.errors import CheckpointError
from fast_vla_ros.policy.lerobot_normalization import FeatureNormalizer
from fast_vla_ros.policy.lerobot_weights import LEGACY_PREFIX, MAIN_PREFIX, network_keys
from fast_vla_ros.policy.pi0_fast_prompt import LEGACY_PI0FAST, PI0_FAST, PromptFormat

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PREPROCESSOR_FILE = "policy_preprocessor.json"
POSTPROCESSOR_FILE = "policy_postprocessor.json"
STATE = "observation.state"
ACTION = "action"
IMAGE_PREFIX = "observation.images."
TEXT_TOKENIZER_FILE = "tokenizer.json"
SENTENCEPIECE_FILE = "tokenizer.model"
FAST_PROCESSOR_FILE = "processor_config.json"
LEGACY_BUFFERS = ("normalize_inputs.", "normalize_targets.", "unnormalize_outputs.")
FORMATS: dict[str, PromptFormat] = {"pi0_fast": PI0_FAST, "pi0fast": LEGACY_PI0FAST}
OPENPI_MARKERS = ("params", "_CHECKPOINT_METADATA", "_METADATA", "manifest.ocdbt")


@dataclass(frozen=True)
class LeRobotCheckpoint:
    """A checkpoint's settings, read and checked; the weights stay on disk until ``load_network``."""

    directory: Path
    prompt_format: PromptFormat
    weights_prefix: str
    state_dim: int
    action_dim: int
    camera_features: tuple[str, ...]  # in the checkpoint's order, the order of the image tokens
    image_resolution: tuple[int, int] | None  # None: legacy without resizing
    empty_cameras: int
    decode_horizon: int  # rows the FAST tokens are decoded into
    n_action_steps: int  # rows executed
    max_decoding_steps: int
    fast_skip_tokens: int
    max_text_tokens: int | None
    state_normalizer: FeatureNormalizer
    action_normalizer: FeatureNormalizer
    relative_actions: bool

    @property
    def weights(self) -> Path:
        return self.directory / WEIGHTS_FILE


def checkpoint_type(directory: str | Path) -> str | None:
    """``"pi0_fast"`` or ``"pi0fast"`` for a LeRobot pi0-FAST directory, ``None`` for anything else.

    An openpi (JAX/orbax) checkpoint raises with how to get a LeRobot copy instead.
    """
    directory = Path(directory)
    if any((directory / marker).exists() for marker in OPENPI_MARKERS) and not (directory / CONFIG_FILE).is_file():
        raise CheckpointError(
            f"{directory} is an openpi (JAX/orbax) checkpoint, which this runtime does not read; use a copy in "
            "LeRobot's format instead (config.json + model.safetensors, e.g. lerobot/pi0fast-base or a fine-tune "
            "made with LeRobot's pi0_fast policy) and point policy_dir at it"
        )
    path = directory / CONFIG_FILE
    if not path.is_file():
        return None
    document = _json(path)
    kind = document.get("type")
    if kind is None:
        return None
    if kind not in FORMATS:
        if "paligemma" in str(kind) or "pi0" in str(kind):
            raise CheckpointError(f"{path}: unknown policy type {kind!r}; this runtime reads {sorted(FORMATS)}")
        return None
    return kind


def _json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"missing file {path}")
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: not readable JSON ({error})") from error
    if not isinstance(document, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return document


def _field(document: dict, key: str, path: Path, kind: type = int):
    if key not in document:
        raise CheckpointError(f"{path}: missing key {key!r}")
    try:
        return kind(document[key])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: key {key!r} is not a {kind.__name__}: {document[key]!r}") from error


def _features(config: dict, path: Path) -> tuple[int, int, tuple[str, ...]]:
    inputs, outputs = config.get("input_features") or {}, config.get("output_features") or {}
    if STATE not in inputs:
        raise CheckpointError(f"{path}: input_features lacks {STATE!r}")
    if ACTION not in outputs:
        raise CheckpointError(f"{path}: output_features lacks {ACTION!r}")
    cameras = tuple(key for key, feature in inputs.items() if feature.get("type") == "VISUAL")
    if not cameras:
        raise CheckpointError(f"{path}: input_features has no VISUAL (camera) feature")
    state_dim = int(inputs[STATE]["shape"][0])
    action_dim = int(outputs[ACTION]["shape"][0])
    # LeRobot adds the empty cameras to the features when it builds the policy.
    for i in range(int(config.get("empty_cameras", 0))):
        name = f"{IMAGE_PREFIX}empty_camera_{i}"
        if name not in cameras:
            cameras += (name,)
    return state_dim, action_dim, cameras


def _norm_map(mapping: dict, path: Path, allowed: Sequence[str]) -> dict[str, str]:
    modes = {str(k): str(v) for k, v in mapping.items()}
    for feature_type in ("STATE", "ACTION"):
        if modes.get(feature_type, "IDENTITY") not in allowed:
            raise CheckpointError(
                f"{path}: normalization mode {modes[feature_type]!r} for {feature_type} is not one of {list(allowed)}"
            )
    if modes.get("VISUAL", "IDENTITY") != "IDENTITY":
        raise CheckpointError(
            f"{path}: VISUAL normalization {modes['VISUAL']!r} is not supported (pi0-FAST uses IDENTITY)"
        )
    return modes


def _normalizer(
    mode: str, stats: dict[str, np.ndarray], feature: str, size: int, source: Path, eps: float, legacy: bool
) -> FeatureNormalizer:
    try:
        normalizer = FeatureNormalizer.from_stats(mode, stats, eps, legacy_span=legacy)
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{source}: {feature}: {error.args[0]}") from error
    if normalizer.size is not None and normalizer.size != size:
        raise CheckpointError(
            f"{source}: {feature} statistics cover {normalizer.size} dimensions, the feature has {size}"
        )
    return normalizer


def _step_stats(directory: Path, pipeline_file: str, registry_name: str) -> tuple[dict, dict[str, np.ndarray], Path]:
    """``(step config, tensors, state file)`` of the first step called ``registry_name`` in a processor pipeline."""
    path = directory / pipeline_file
    pipeline = _json(path)
    for step in pipeline.get("steps", []):
        if step.get("registry_name") == registry_name:
            if "state_file" not in step:
                raise CheckpointError(f"{path}: the {registry_name} step names no state_file")
            state_path = directory / step["state_file"]
            if not state_path.is_file():
                raise CheckpointError(f"missing file {state_path} (named by {path})")
            try:
                return step.get("config", {}), load_file(str(state_path)), state_path
            except (OSError, SafetensorError) as error:
                raise CheckpointError(f"{state_path}: unreadable safetensors file ({error})") from error
    raise CheckpointError(f"{path}: no {registry_name!r} step")


def _keys_beside_network(weights: Path, prefix: str, allowed: tuple[str, ...]) -> list[str]:
    """The file's keys outside the network; any not starting with ``allowed`` is an error (strict loading)."""
    _, others = network_keys(weights, prefix)
    unexpected = [key for key in others if not key.startswith(allowed)] if allowed else others
    if unexpected:
        raise CheckpointError(
            f"{weights}: {len(unexpected)} unexpected keys outside {prefix!r} (first: {unexpected[:3]})"
        )
    return others


def _stats_of(tensors: dict[str, np.ndarray], feature: str) -> dict[str, np.ndarray]:
    return {key[len(feature) + 1 :]: value for key, value in tensors.items() if key.startswith(feature + ".")}


def _main_normalizers(directory: Path, state_dim: int, action_dim: int) -> tuple[FeatureNormalizer, FeatureNormalizer]:
    allowed = ("MEAN_STD", "MIN_MAX", "QUANTILES", "QUANTILE10", "IDENTITY")
    pre, pre_tensors, pre_file = _step_stats(directory, PREPROCESSOR_FILE, "normalizer_processor")
    post, post_tensors, post_file = _step_stats(directory, POSTPROCESSOR_FILE, "unnormalizer_processor")
    pre_modes = _norm_map(pre.get("norm_map", {}), directory / PREPROCESSOR_FILE, allowed)
    post_modes = _norm_map(post.get("norm_map", {}), directory / POSTPROCESSOR_FILE, allowed)
    state = _normalizer(
        pre_modes.get("STATE", "IDENTITY"),
        _stats_of(pre_tensors, STATE),
        STATE,
        state_dim,
        pre_file,
        float(pre.get("eps", 1e-8)),
        legacy=False,
    )
    action = _normalizer(
        post_modes.get("ACTION", "IDENTITY"),
        _stats_of(post_tensors, ACTION),
        ACTION,
        action_dim,
        post_file,
        float(post.get("eps", 1e-8)),
        legacy=False,
    )
    return state, action


def _legacy_normalizers(
    directory: Path, config: dict, state_dim: int, action_dim: int
) -> tuple[FeatureNormalizer, FeatureNormalizer]:
    weights = directory / WEIGHTS_FILE
    others = _keys_beside_network(weights, LEGACY_PREFIX, LEGACY_BUFFERS)
    modes = _norm_map(
        config.get("normalization_mapping", {}), directory / CONFIG_FILE, ("MEAN_STD", "MIN_MAX", "IDENTITY")
    )

    def buffers(prefix: str) -> dict[str, np.ndarray]:
        with safe_open(str(weights), framework="numpy") as handle:
            return {key[len(prefix) :]: handle.get_tensor(key) for key in others if key.startswith(prefix)}

    state_stats = buffers("normalize_inputs.buffer_observation_state.")
    action_stats = buffers("unnormalize_outputs.buffer_action.")
    for stats, feature in ((state_stats, STATE), (action_stats, ACTION)):
        if any(not np.isfinite(value).all() for value in stats.values()):
            raise CheckpointError(f"{weights}: the {feature} normalization buffers were never filled (infinite)")
    state = _normalizer(modes.get("STATE", "IDENTITY"), state_stats, STATE, state_dim, weights, 1e-8, legacy=True)
    action = _normalizer(modes.get("ACTION", "IDENTITY"), action_stats, ACTION, action_dim, weights, 1e-8, legacy=True)
    return state, action


def read_checkpoint(directory: str | Path) -> LeRobotCheckpoint:
    directory = Path(directory)
    kind = checkpoint_type(directory)
    if kind is None:
        raise CheckpointError(
            f'{directory / CONFIG_FILE}: not a LeRobot pi0-FAST config (no "type": "pi0_fast"/"pi0fast")'
        )
    path = directory / CONFIG_FILE
    config = _json(path)
    if not (directory / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"missing file {directory / WEIGHTS_FILE}")
    state_dim, action_dim, cameras = _features(config, path)
    n_action_steps = _field(config, "n_action_steps", path)
    chunk_size = _field(config, "chunk_size", path)
    if kind == "pi0_fast":
        prefix = MAIN_PREFIX
        _keys_beside_network(directory / WEIGHTS_FILE, prefix, ())
        state, action = _main_normalizers(directory, state_dim, action_dim)
        resolution = tuple(int(v) for v in config.get("image_resolution", (224, 224)))
        decode_horizon, max_text = n_action_steps, _field(config, "tokenizer_max_length", path)
        relative = bool(config.get("use_relative_actions", False))
    else:
        prefix = LEGACY_PREFIX
        state, action = _legacy_normalizers(directory, config, state_dim, action_dim)
        if config.get("interpolate_like_pi", False):
            raise CheckpointError(f"{path}: interpolate_like_pi=true (PIL resizing) is not supported")
        if config.get("adapt_to_pi_aloha", False):
            raise CheckpointError(f"{path}: adapt_to_pi_aloha=true (Aloha joint flips) is not supported")
        padding = config.get("resize_imgs_with_padding")
        resolution = None if padding is None else tuple(int(v) for v in padding)
        decode_horizon, max_text, relative = chunk_size, None, False
    if n_action_steps > chunk_size:
        raise CheckpointError(f"{path}: n_action_steps {n_action_steps} exceeds chunk_size {chunk_size}")
    if resolution is not None and (len(resolution) != 2 or resolution[0] != resolution[1]):
        raise CheckpointError(f"{path}: image resolution {resolution} is not square, as PaliGemma's input is")
    return LeRobotCheckpoint(
        directory=directory,
        prompt_format=FORMATS[kind],
        weights_prefix=prefix,
        state_dim=state_dim,
        action_dim=action_dim,
        camera_features=cameras,
        image_resolution=resolution,
        empty_cameras=int(config.get("empty_cameras", 0)),
        decode_horizon=decode_horizon,
        n_action_steps=n_action_steps,
        max_decoding_steps=_field(config, "max_decoding_steps", path),
        fast_skip_tokens=_field(config, "fast_skip_tokens", path),
        max_text_tokens=max_text,
        state_normalizer=state,
        action_normalizer=action,
        relative_actions=relative,
    )


def find_text_tokenizer(checkpoint: Path, extra: Sequence[str | Path] = ()) -> Path:
    """The PaliGemma text tokenizer, ``tokenizer.json`` or else SentencePiece's ``tokenizer.model`` in the same
    directory: the checkpoint's own directories first, then ``extra``."""
    candidates = [checkpoint / "tokenizer", checkpoint, *(Path(d) for d in extra)]
    for candidate in candidates:
        for name in (TEXT_TOKENIZER_FILE, SENTENCEPIECE_FILE):
            if (candidate / name).is_file():
                return candidate / name
    raise CheckpointError(
        f"no PaliGemma text tokenizer ({TEXT_TOKENIZER_FILE} or {SENTENCEPIECE_FILE} of google/paligemma-3b-pt-224) "
        f"in {[str(c) for c in candidates]}; put it beside the checkpoint or name its directory (text_tokenizer_dir)"
    )


def find_fast_processor(checkpoint: Path, extra: Sequence[str | Path] = ()) -> Path:
    """The FAST processor directory (``processor_config.json`` + BPE): the checkpoint's own first, then ``extra``."""
    candidates = [checkpoint / "action_tokenizer", *(Path(d) for d in extra)]
    for candidate in candidates:
        if (candidate / FAST_PROCESSOR_FILE).is_file():
            return candidate
    raise CheckpointError(
        f"no FAST processor ({FAST_PROCESSOR_FILE} of physical-intelligence/fast) in {[str(c) for c in candidates]}; "
        "name its directory (action_tokenizer_dir)"
    )
