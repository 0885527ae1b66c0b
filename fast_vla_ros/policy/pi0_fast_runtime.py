"""``Pi0FastPolicy``: a published pi0-FAST checkpoint behind the same ``predict`` as our own policies.

One observation runs as LeRobot runs it (``pi0_fast_prompt``, ``pi0_fast_images``, the checkpoint's
normalizers), through our network code (Hugging Face PaliGemma), our constrained KV-cached decoder and
our FAST decoder, and comes out as joint targets by name through the embodiment adapter.

Where we differ from LeRobot, on purpose:
- Decoding is constrained: "Action: " is fed (the model would write it; LeRobot asserts it did), then
  only action tokens and the end marker can be chosen. A sequence that does not decode (no end marker
  within ``max_decoding_steps``, no tokens, bytes that are no FAST code) gives no chunk and a status,
  where LeRobot decodes what it got or fills the chunk with zeros, which unnormalize to a real motion
  (the mean action). Chunks a few coefficients short or long are used, as LeRobot's relaxed decoding does.
- A camera the checkpoint has and the robot lacks is left out of the sequence under ``pi0_fast``: LeRobot
  feeds it as a black image that nothing attends to and that takes no positions, which gives the same
  numbers. Legacy ``pi0fast`` fills the first ``empty_cameras`` missing ones with black images that are
  attended, and drops the rest, as it did.
- Legacy ``pi0fast`` turned the generated ids into text and back before decoding them; we decode the ids
  the model chose.
- On CUDA the whole network runs in bfloat16 (LeRobot keeps the vision tower and norms in float32); on
  CPU in the precision the file stores (bfloat16 for published checkpoints), unless ``dtype`` says otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.decoding import allowed_logits_bias, decode_actions
from fast_vla_ros.policy.embodiment import Embodiment, EmbodimentError
from fast_vla_ros.policy.errors import CheckpointError, ObservationError
from fast_vla_ros.policy.lerobot_checkpoint import (
    IMAGE_PREFIX,
    SENTENCEPIECE_FILE,
    LeRobotCheckpoint,
    find_fast_processor,
    find_text_tokenizer,
    read_checkpoint,
)
from fast_vla_ros.policy.lerobot_weights import load_network, stored_dtype
from fast_vla_ros.policy.model import image_size, image_tokens_per_camera
from fast_vla_ros.policy.pi0_fast_images import to_siglip_pixels
from fast_vla_ros.policy.pi0_fast_prompt import PI0_FAST, Pi0FastPrompt, single_id
from fast_vla_ros.policy.runtime import PolicyResult, StageTimes, select_device
from fast_vla_ros.policy.sentencepiece_tokenizer import load_sentencepiece
from fast_vla_ros.policy.vocabulary import PromptVocabulary
from fast_vla_ros.tokenizers.base import DecodeStatus
from fast_vla_ros.tokenizers.fast import FastTokenizer
from fast_vla_ros.types import ActionChunk, Observation

log = logging.getLogger(__name__)
TOKENIZER_NAME = "fast+"
# As LeRobot's relaxed decoding: a sequence a few coefficients short or long only loses high frequencies.
TOLERATED = DecodeStatus.TOO_SHORT | DecodeStatus.TOO_LONG


def camera_name(feature: str) -> str:
    """``observation.images.top`` -> ``top``: the name the node and the observation use."""
    return feature.removeprefix(IMAGE_PREFIX)


@dataclass(frozen=True)
class RuntimeSettings:
    """What ``policy_node`` reads from any policy: the cameras it must subscribe to and the tokenizer's name."""

    cameras: tuple[str, ...]
    camera_topics: tuple[str, ...]
    action_tokenizer: str = TOKENIZER_NAME


@dataclass(frozen=True)
class ObservedJoints:
    """The joints whose positions each observation must carry (state joints, then commanded ones)."""

    joint_names: tuple[str, ...]


class Pi0FastPolicy:
    def __init__(
        self,
        model: PaliGemmaForConditionalGeneration,
        vocab: PromptVocabulary,
        fast: FastTokenizer,
        checkpoint: LeRobotCheckpoint,
        embodiment: Embodiment,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        embodiment.check_fits(checkpoint.state_dim, checkpoint.action_dim, checkpoint.camera_features)
        if checkpoint.relative_actions and embodiment.convention != "delta":
            raise EmbodimentError(
                f"{embodiment.source}: the checkpoint was trained on actions relative to the state "
                f"(use_relative_actions), so its convention is delta, not {embodiment.convention!r}"
            )
        self.device, default_dtype = select_device(device)
        self.dtype = dtype or default_dtype
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.vocab, self.fast, self.checkpoint, self.embodiment = vocab, fast, checkpoint, embodiment
        self.temperature = temperature
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._image_size = image_size(model.config)
        if checkpoint.image_resolution is not None and checkpoint.image_resolution != (self._image_size,) * 2:
            raise CheckpointError(
                f"{checkpoint.directory}: images are resized to {checkpoint.image_resolution} but the vision tower "
                f"takes {self._image_size} px"
            )
        self._images = self._image_plan()
        present = [feature for feature in self._images if feature is not None]
        self.config = RuntimeSettings(
            cameras=tuple(camera_name(f) for f in present),
            camera_topics=tuple(embodiment.cameras[f] for f in present),
        )
        self.action_space = ObservedJoints(embodiment.observed_joints)
        self._image_tokens = image_tokens_per_camera(model.config) * len(self._images)
        self.prompt = Pi0FastPrompt(
            vocab, checkpoint.prompt_format, checkpoint.max_text_tokens, embodiment.pad_prompt_state_to
        )
        # "Action: " and the end marker count against max_decoding_steps, as every generated id did in LeRobot.
        self.max_action_tokens = checkpoint.max_decoding_steps - len(self.prompt.forced_ids) - 1
        if self.max_action_tokens < 1:
            raise CheckpointError(
                f"{checkpoint.directory}: max_decoding_steps {checkpoint.max_decoding_steps} leaves no action tokens"
            )
        self._bias = allowed_logits_bias(vocab, self.device)

    def _image_plan(self) -> list[str | None]:
        """Camera features in image-token order; ``None`` is a black image in place of a missing camera."""
        plan: list[str | None] = []
        missing = [f for f in self.checkpoint.camera_features if f not in self.embodiment.cameras]
        fillable = self.checkpoint.empty_cameras if self.checkpoint.prompt_format is not PI0_FAST else 0
        for feature in self.checkpoint.camera_features:
            if feature in self.embodiment.cameras:
                plan.append(feature)
            elif missing.index(feature) < fillable:
                plan.append(None)
        if not any(plan):
            raise EmbodimentError(
                f"{self.embodiment.source}: maps none of the checkpoint's cameras "
                f"{list(self.checkpoint.camera_features)}"
            )
        if missing:
            filled = missing[:fillable]
            log.warning(
                "the robot lacks the checkpoint's cameras %s: %s",
                missing,
                f"{filled} are fed as black images, the rest left out" if filled else "left out, as LeRobot masks them",
            )
        return plan

    def predict(self, observation: Observation) -> PolicyResult:
        start = time.perf_counter()
        positions, prefix_ids, pixels = self._preprocess(observation)
        preprocessed = time.perf_counter()
        decoded = decode_actions(
            self.model,
            prefix_ids,
            pixels,
            self.vocab,
            self._bias,
            self.max_action_tokens,
            self.temperature,
            self.generator,
            forced_ids=self.prompt.forced_ids,
        )
        detokenize_start = time.perf_counter()
        tokens = self.vocab.actions.from_vocab(decoded.vocab_ids)
        chunk, status = self._detokenize(tokens, decoded.ended, positions, observation.stamp)
        timing = StageTimes(
            preprocessed - start, decoded.prefill_s, decoded.decode_s, time.perf_counter() - detokenize_start
        )
        return PolicyResult(chunk, tokens, status, timing, decoded.forward_passes)

    def warmup(self, iterations: int = 2) -> None:
        state = self.checkpoint.state_normalizer.unnormalize(np.zeros(self.checkpoint.state_dim))
        positions = dict(zip(self.embodiment.state_joints, state, strict=True))
        joints = self.action_space.joint_names
        observation = Observation(
            images={
                name: np.full((self._image_size, self._image_size, 3), 128, np.uint8) for name in self.config.cameras
            },
            state=np.array([positions.get(j, 0.0) for j in joints]),
            joint_names=joints,
            instruction="warm up",
            stamp=0.0,
        )
        for _ in range(iterations):
            self.predict(observation)

    def _preprocess(self, observation: Observation) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
        values = np.asarray(observation.state, dtype=np.float64)
        if values.shape != (len(observation.joint_names),):
            raise ObservationError(f"{len(observation.joint_names)} joint names but state of shape {values.shape}")
        positions = dict(zip(observation.joint_names, values.tolist(), strict=True))
        missing = [j for j in self.action_space.joint_names if j not in positions]
        if missing:
            raise ObservationError(
                f"observation lacks joints {missing}; the embodiment needs {list(self.action_space.joint_names)}"
            )
        state = np.array([positions[j] for j in self.embodiment.state_joints])
        if not np.all(np.isfinite([positions[j] for j in self.action_space.joint_names])):
            raise ObservationError("the joint state contains NaN or Inf")
        normalized = self.checkpoint.state_normalizer.normalize(state)
        ids = self.prompt.prefix_ids(observation.instruction, normalized, self._image_tokens)
        frames = []
        for feature in self._images:
            name = None if feature is None else camera_name(feature)
            if name is not None and name not in observation.images:
                raise ObservationError(f"missing camera image {name!r}; the policy needs {list(self.config.cameras)}")
            frame = None if name is None else observation.images[name]
            if (
                frame is not None
                and self.checkpoint.image_resolution is None
                and np.shape(frame)[:2] != (self._image_size,) * 2
            ):
                raise ObservationError(
                    f"camera {name!r}: this checkpoint does not resize; send {self._image_size} px frames"
                )
            frames.append(frame)
        pixels = to_siglip_pixels(frames, self._image_size, centred=self.checkpoint.prompt_format is PI0_FAST)
        prefix_ids = torch.tensor([ids], device=self.device)
        return positions, prefix_ids, pixels.to(device=self.device, dtype=self.dtype)

    def _detokenize(
        self, tokens: list[int], ended: bool, positions: dict[str, float], stamp: float
    ) -> tuple[ActionChunk | None, str]:
        if not ended:
            return None, f"no end-of-action marker within {self.checkpoint.max_decoding_steps} decoding steps"
        checkpoint = self.checkpoint
        chunks, statuses = self.fast.decode(
            [tokens], checkpoint.decode_horizon, checkpoint.action_dim, return_status=True
        )
        status = statuses[0]
        if status & ~TOLERATED:
            return None, f"action tokens do not decode cleanly: {status.name}"
        actions = checkpoint.action_normalizer.unnormalize(chunks[0][: checkpoint.n_action_steps])
        targets = self.embodiment.joint_targets(actions, positions)
        if not np.all(np.isfinite(targets)):
            return None, "decoded joint targets contain NaN or Inf"
        chunk = ActionChunk(targets, t0=stamp, dt=self.embodiment.dt, joint_names=self.embodiment.commanded_joints)
        return chunk, "ok" if status == DecodeStatus.OK else f"ok ({status.name})"


def load_vocabulary(checkpoint: LeRobotCheckpoint, tokenizer_file: Path, fast: FastTokenizer) -> PromptVocabulary:
    """The PaliGemma text tokenizer with the checkpoint's action-token mapping (``vocab_size - 1 - skip - t``)."""
    if tokenizer_file.name == SENTENCEPIECE_FILE:
        tokenizer = load_sentencepiece(tokenizer_file)
    else:
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as error:  # tokenizers raises a bare Exception for malformed files
            raise CheckpointError(f"{tokenizer_file}: not a Hugging Face tokenizers file ({error})") from error
    # LeRobot and openpi count the base vocabulary (257 152 for PaliGemma), not the added <image>.
    size = tokenizer.get_vocab_size(with_added_tokens=False)
    try:
        vocab = PromptVocabulary(
            tokenizer, size, fast.vocab_size, checkpoint.fast_skip_tokens, checkpoint.prompt_format.end_of_action
        )
    except ValueError as error:
        raise CheckpointError(f"{tokenizer_file}: {error}") from error
    if single_id(vocab, checkpoint.prompt_format.end_of_action) != vocab.end_of_action_id:
        raise CheckpointError(
            f"{tokenizer_file}: {checkpoint.prompt_format.end_of_action!r} does not encode to its own id"
        )
    return vocab


def load_pi0_fast(
    directory: str | Path,
    embodiment_file: str | Path | None,
    text_tokenizer_dirs: Sequence[str | Path] = (),
    fast_processor_dirs: Sequence[str | Path] = (),
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    temperature: float = 0.0,
    seed: int = 0,
) -> Pi0FastPolicy:
    """Everything checked (files, statistics, tokenizers, embodiment) before the weights are read."""
    directory = Path(directory)
    checkpoint = read_checkpoint(directory)
    if embodiment_file is None:
        raise EmbodimentError(
            f"{directory} is a LeRobot {checkpoint.prompt_format.name} checkpoint: it needs an embodiment file"
        )
    embodiment = Embodiment.load(embodiment_file)
    embodiment.check_fits(checkpoint.state_dim, checkpoint.action_dim, checkpoint.camera_features)
    fast_dir = find_fast_processor(directory, fast_processor_dirs)
    try:
        fast = FastTokenizer.load(fast_dir)
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"{fast_dir}: cannot load the FAST processor ({error})") from error
    vocab = load_vocabulary(checkpoint, find_text_tokenizer(directory, text_tokenizer_dirs), fast)
    target_device, default_dtype = select_device(device)
    if dtype is None and target_device.type == "cpu":
        # The file's own precision: bfloat16 for published checkpoints, 6 GB where float32 would take 12 GB,
        # so a 24 GB machine holds the 3 B network without swapping.
        dtype = stored_dtype(checkpoint.weights, checkpoint.weights_prefix)
    dtype = dtype or default_dtype
    model = load_network(checkpoint.weights, checkpoint.weights_prefix, dtype)
    rows = model.config.text_config.vocab_size
    if rows != vocab.vocab_size or model.config.image_token_id != vocab.image_id:
        raise CheckpointError(
            f"{checkpoint.weights}: the network has {rows} embeddings "
            f"(image placeholder {model.config.image_token_id}) "
            f"but the text tokenizer has {vocab.vocab_size} ids (<image> {vocab.image_id})"
        )
    return Pi0FastPolicy(model, vocab, fast, checkpoint, embodiment, target_device, dtype, temperature, seed)
