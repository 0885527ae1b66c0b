"""``VLAPolicy``: one observation in, one timed chunk of absolute joint targets out.

This is the narrow interface the ROS policy node (and offline evaluation) calls, in the spirit of
openpi's ``Policy.infer``: everything model-specific stays behind ``predict``. Bad observations raise
``ObservationError`` before any model work; a token sequence that does not decode into a clean chunk
comes back as ``PolicyResult.chunk = None`` with the reason in ``status``, so the caller holds position
instead of executing a guess.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from transformers import PaliGemmaForConditionalGeneration

from fast_vla_ros.policy.action_space import ActionSpace
from fast_vla_ros.policy.block_decoding import decode_action_blocks, position_bias
from fast_vla_ros.policy.config import PolicyConfig
from fast_vla_ros.policy.decoding import allowed_logits_bias, decode_actions
from fast_vla_ros.policy.errors import ObservationError
from fast_vla_ros.policy.images import stack_cameras, to_pixels
from fast_vla_ros.policy.model import image_size, image_tokens_per_camera
from fast_vla_ros.policy.prompt import encode_prefix
from fast_vla_ros.policy.vocabulary import PromptVocabulary
from fast_vla_ros.tokenizers.base import ActionTokenizer, DecodeStatus
from fast_vla_ros.types import ActionChunk, Observation


@dataclass(frozen=True)
class StageTimes:
    """Wall time of each stage of one ``predict`` call, seconds."""

    preprocess_s: float  # images -> pixels, state -> prompt ids, copies to the device
    prefill_s: float  # vision tower + one forward pass over the prefix
    decode_s: float  # one forward pass per action token, or per block of codes with block-wise decoding
    detokenize_s: float  # action tokens -> normalized chunk -> joint targets

    @property
    def total_s(self) -> float:
        return self.preprocess_s + self.prefill_s + self.decode_s + self.detokenize_s

    def as_ms(self) -> dict[str, float]:
        return {
            "preprocess": 1e3 * self.preprocess_s,
            "prefill": 1e3 * self.prefill_s,
            "decode": 1e3 * self.decode_s,
            "detokenize": 1e3 * self.detokenize_s,
            "total": 1e3 * self.total_s,
        }


@dataclass(frozen=True)
class PolicyResult:
    chunk: ActionChunk | None  # None when the tokens did not decode cleanly: do not execute anything
    action_tokens: list[int]  # the action tokenizer's ids, as the model emitted them
    status: str  # "ok", "ok (TOO_SHORT)" when a tolerated decode issue occurred, or why ``chunk`` is None
    timing: StageTimes
    forward_passes: int = 0  # model calls for this chunk, prefill included

    @property
    def ok(self) -> bool:
        return self.chunk is not None


class Policy(Protocol):
    def predict(self, observation: Observation) -> PolicyResult: ...

    def warmup(self) -> None: ...


def select_device(device: str | torch.device | None = None) -> tuple[torch.device, torch.dtype]:
    """CUDA with bfloat16 when present (as pi0-FAST runs), else CPU with float32: bf16 is emulated, slowly, on
    CPUs without AVX512-BF16 or AMX, and float32 is the precision the CPU benchmarks measure."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    return device, torch.bfloat16 if device.type == "cuda" else torch.float32


class VLAPolicy:
    """A PaliGemma-layout model plus everything that turns its tokens into joint targets."""

    def __init__(
        self,
        model: PaliGemmaForConditionalGeneration,
        vocab: PromptVocabulary,
        action_tokenizer: ActionTokenizer,
        action_space: ActionSpace,
        config: PolicyConfig,
        device: str | torch.device | None = None,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        if action_tokenizer.vocab_size != vocab.actions.count:
            raise ValueError(
                f"the action tokenizer has {action_tokenizer.vocab_size} tokens but the vocabulary reserves "
                f"{vocab.actions.count}"
            )
        if model.config.text_config.vocab_size != vocab.vocab_size:
            raise ValueError(
                f"the model has {model.config.text_config.vocab_size} embeddings "
                f"but the vocabulary has {vocab.vocab_size} ids"
            )
        self.device, self.dtype = select_device(device)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.vocab = vocab
        self.action_tokenizer = action_tokenizer
        self.action_space = action_space
        self.config = config
        self.temperature = temperature
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._bias = allowed_logits_bias(vocab, self.device)
        self._position_bias = None
        if config.decode_block_size is not None:
            ranges = getattr(action_tokenizer, "allowed_token_ranges", None)
            if ranges is None:
                raise ValueError(
                    f"block-wise decoding needs a fixed-length tokenizer with per-position ids (FASTer), "
                    f"got {type(action_tokenizer).__name__}"
                )
            self._position_bias = position_bias(vocab, ranges(), self.device)
        self._image_tokens = image_tokens_per_camera(model.config) * len(config.cameras)
        self._image_size = image_size(model.config)

    def predict(self, observation: Observation) -> PolicyResult:
        start = time.perf_counter()
        state, prefix_ids, pixels = self._preprocess(observation)
        preprocessed = time.perf_counter()
        if self._position_bias is not None:
            decoded = decode_action_blocks(
                self.model,
                prefix_ids,
                pixels,
                self.vocab.end_of_action_id,
                self._position_bias,
                self.config.decode_block_size,
                self.temperature,
                self.generator,
            )
        else:
            decoded = decode_actions(
                self.model,
                prefix_ids,
                pixels,
                self.vocab,
                self._bias,
                self.config.max_action_tokens,
                self.temperature,
                self.generator,
            )
        detokenize_start = time.perf_counter()
        tokens = self.vocab.actions.from_vocab(decoded.vocab_ids)
        chunk, status = self._detokenize(tokens, decoded.ended, state, observation.stamp)
        timing = StageTimes(
            preprocess_s=preprocessed - start,
            prefill_s=decoded.prefill_s,
            decode_s=decoded.decode_s,
            detokenize_s=time.perf_counter() - detokenize_start,
        )
        return PolicyResult(chunk, tokens, status, timing, decoded.forward_passes)

    def warmup(self, iterations: int = 2) -> None:
        """Run ``predict`` on a synthetic observation so allocator and kernels are ready before the first real one."""
        size = self._image_size
        observation = Observation(
            images={camera: np.full((size, size, 3), 128, dtype=np.uint8) for camera in self.config.cameras},
            state=self.action_space.state.denormalize(np.zeros(self.action_space.action_dim)),
            joint_names=self.action_space.joint_names,
            instruction="warm up",
            stamp=0.0,
        )
        for _ in range(iterations):
            self.predict(observation)

    def _preprocess(self, observation: Observation) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        try:
            state = self.action_space.state_from(observation.joint_names, observation.state)
        except (KeyError, ValueError) as error:
            raise ObservationError(str(error).strip("'\"")) from error
        if not np.all(np.isfinite(state)):
            raise ObservationError("the joint state contains NaN or Inf")
        prefix = encode_prefix(
            self.vocab,
            observation.instruction,
            self.action_space.normalize_state(state),
            self._image_tokens,
            self.config.state_bins,
            self.config.max_prompt_tokens,
        )
        pixels = to_pixels(stack_cameras(observation.images, self.config.cameras), self._image_size)
        prefix_ids = torch.tensor([prefix.ids], device=self.device)
        return state, prefix_ids, pixels.to(device=self.device, dtype=self.dtype)

    def _detokenize(
        self, tokens: list[int], ended: bool, state: np.ndarray, stamp: float
    ) -> tuple[ActionChunk | None, str]:
        if not ended:
            return None, f"no end-of-action marker within {self.config.max_action_tokens} action tokens"
        dim = self.action_space.action_dim
        chunks, statuses = self.action_tokenizer.decode([tokens], self.config.horizon, dim, return_status=True)
        decode_status = statuses[0]
        if decode_status & ~self.config.tolerated_decode_status:
            return None, f"action tokens do not decode cleanly: {decode_status.name}"
        targets = self.action_space.to_joint_targets(chunks[0], state)
        if not np.all(np.isfinite(targets)):
            return None, "decoded joint targets contain NaN or Inf"
        chunk = ActionChunk(targets, t0=stamp, dt=self.action_space.dt, joint_names=self.action_space.joint_names)
        return chunk, "ok" if decode_status == DecodeStatus.OK else f"ok ({decode_status.name})"
