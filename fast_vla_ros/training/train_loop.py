"""Training a policy: next-token cross-entropy on the action suffix only, AdamW, resumable checkpoints.

Data is any re-iterable source of ``(Observation, targets)`` pairs, ``targets`` being the absolute
joint targets ``[H, D]`` for the ``H`` control steps starting at the observation (the simulator's chunk
reader yields exactly this). Images, state and instruction go through the same preprocessing code as
inference, so training and ``VLAPolicy.predict`` cannot disagree on the prompt or the pixels.

The loss covers the action tokens, the end-of-action marker and EOS (the pi0-FAST postfix): without the
marker in the loss a variable-length tokenizer such as FAST would never learn where a chunk ends. Only
those positions go through the output projection, which matters for a 257k-id PaliGemma vocabulary.

A checkpoint written during training holds the optimizer moments in ``training_state.safetensors`` and
the step, schedule and loss history in ``training_state.json``; ``train`` continues from them when it
finds them. The data stream restarts on resume (with a seed derived from the step), the rest is exact.

Optionally (``TrainingConfig.lookahead_steps``) a linear head regresses the demonstration's next few
seconds of normalized actions from the hidden state of the prompt's last token, the one that writes the
first action token. Cross-entropy over FAST tokens tells the model only whether it picked the right
token, not how far off a wrong one was; a regression target is ordinal, so a small model learns the
smooth map from "where the named object is in the image" to "where the arm goes" far sooner. The head
serves training only (its weights live in the training state, not in the policy); inference is unchanged.

Optionally (``TrainingConfig.colour_patch_weight``) a second training-only head labels every image token
with the object colours its patch shows and where (``colour_patches``): dense supervision that teaches the
vision tower to see the colours instructions name long before the action loss alone would.
``TrainingConfig.named_colour_weight`` adds a third: the same patches after the decoder, labelled with
whether they show the colour the instruction names (``NamedColourHead``).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from fast_vla_ros.policy.action_space import ActionSpace
from fast_vla_ros.policy.block_decoding import block_attention_mask, block_suffix, position_bias
from fast_vla_ros.policy.checkpoint import PolicyParts, load_checkpoint, save_checkpoint
from fast_vla_ros.policy.config import TINY, ModelSize, PolicyConfig
from fast_vla_ros.policy.images import stack_cameras, to_pixels
from fast_vla_ros.policy.model import build_model, image_size, image_tokens_per_camera
from fast_vla_ros.policy.prompt import encode_prefix, encode_suffix
from fast_vla_ros.policy.vocabulary import PromptVocabulary
from fast_vla_ros.tokenizers.base import ActionTokenizer
from fast_vla_ros.training.colour_patches import (
    ColourPatchHead,
    NamedColourHead,
    captured_output,
    colour_patch_targets,
    named_colour,
)
from fast_vla_ros.training.data_parallel import Replicas
from fast_vla_ros.types import Observation

TrainingSample = tuple[Observation, np.ndarray]
STATE_TENSORS_FILE = "training_state.safetensors"
STATE_FILE = "training_state.json"
HEADS_PREFIX = "training_heads."
# Training states written before the colour-patch head kept the lookahead head under its own prefix;
# runs started then still resume.
LEGACY_HEAD_PREFIXES = {"lookahead_head.": f"{HEADS_PREFIX}lookahead."}
IGNORE = -100
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainingConfig:
    steps: int = 3000
    batch_size: int = 32
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_learning_rate_ratio: float = 0.1  # cosine decay ends at this fraction of the peak
    grad_clip: float = 1.0
    validate_every: int = 250
    validation_batches: int = 8
    checkpoint_every: int = 500
    shuffle_buffer: int = 1024
    # Std of Gaussian noise added to the normalized joint state in the prompt (training batches only).
    # Demonstrations start from slightly different poses, and the exact start state identifies an episode:
    # without noise a small model learns "this state -> that trajectory" instead of looking for the object.
    state_noise: float = 0.0
    # Std for observations stamped ``start_seconds`` or later into their episode (None: ``state_noise``
    # throughout). Only the start pose needs hiding; once the arm moves, its state says how far the motion
    # has gone, and 0.15 is 4 to 5 cm at the tool. Tried at 0.02 (seventh round, docs/policy.md): success
    # did not change.
    moving_state_noise: float | None = None
    start_seconds: float = 0.0
    # Lookahead regression (see the module docstring): every ``lookahead_stride``-th action of the next
    # ``lookahead_steps`` control steps, weighted by ``lookahead_weight`` against the token cross-entropy.
    # 0 turns it off; the training samples' target windows must then be at least this long.
    lookahead_steps: int = 0
    lookahead_stride: int = 10
    lookahead_weight: float = 1.0
    # Weight of the per-patch colour labels (see colour_patches) against the token cross-entropy; 0 = off.
    colour_patch_weight: float = 0.0
    # Weight of the named-colour labels on the decoder's image tokens (see colour_patches); 0 = off.
    named_colour_weight: float = 0.0
    # "bf16": the forward pass under bfloat16 autocast (weights, optimizer and losses stay float32).
    # On a CPU with AVX512-BF16 or AMX it trains 1.7x the steps per hour; elsewhere it is emulated and slower.
    precision: str = "fp32"
    # Fine-tuning: keep the vision tower's weights as they are (fewer parameters to move on a small data set).
    freeze_vision: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if self.lookahead_steps < 0 or self.lookahead_stride < 1 or self.lookahead_weight < 0:
            raise ValueError(
                "lookahead_steps and lookahead_weight must be >= 0 and lookahead_stride positive, got "
                f"{self.lookahead_steps}, {self.lookahead_weight} and {self.lookahead_stride}"
            )
        for name in ("colour_patch_weight", "named_colour_weight", "state_noise", "start_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.moving_state_noise is not None and self.moving_state_noise < 0:
            raise ValueError(f"moving_state_noise must be >= 0, got {self.moving_state_noise}")

    def state_noise_at(self, stamp: float) -> float:
        """The prompt-state noise std for an observation ``stamp`` seconds into its episode."""
        if self.moving_state_noise is None or stamp < self.start_seconds:
            return self.state_noise
        return self.moving_state_noise

    @property
    def lookahead_rows(self) -> np.ndarray:
        """Indices into a sample's target window of the actions the lookahead head regresses."""
        return np.arange(self.lookahead_stride - 1, self.lookahead_steps, self.lookahead_stride)

    def learning_rate_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.learning_rate * (self.min_learning_rate_ratio + (1 - self.min_learning_rate_ratio) * cosine)


@dataclass
class TrainingHistory:
    step: int = 0
    train_loss: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss since the last entry)
    validation_loss: list[tuple[int, float]] = field(default_factory=list)
    lookahead_loss: list[tuple[int, float]] = field(default_factory=list)  # (step, mean lookahead mse)
    colour_patch_loss: list[tuple[int, float]] = field(default_factory=list)  # (step, mean colour-label loss)
    named_colour_loss: list[tuple[int, float]] = field(default_factory=list)  # (step, mean named-colour loss)
    # Data-parallel runs: processes, and the largest difference of any weight between them at the end.
    replicas: int = 1
    replica_weight_spread: float = 0.0


def new_policy_parts(
    states: np.ndarray,
    targets: np.ndarray,
    instructions: Iterable[str],
    joint_names: tuple[str, ...],
    dt: float,
    fit_tokenizer: Callable[[np.ndarray], ActionTokenizer],
    config: PolicyConfig,
    size: ModelSize = TINY,
    convention: str = "absolute",
    absolute_joints: tuple[str, ...] = (),
    seed: int = 0,
) -> PolicyParts:
    """Fit normalization, the action tokenizer and the text vocabulary on the training split; a fresh model.

    Takes arrays rather than samples so a caller can gather them without decoding a single image:
    ``states`` [N, D] at each chunk start, absolute ``targets`` [N, >= horizon, D]. ``fit_tokenizer``
    receives the normalized chunks ``[N, horizon, D]``, e.g. ``FastTokenizer.fit``.
    """
    states = np.asarray(states, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)[:, : config.horizon]
    if len(states) == 0:
        raise ValueError("no training samples")
    if targets.shape[1] != config.horizon:
        raise ValueError(f"training chunks have {targets.shape[1]} steps, fewer than the horizon {config.horizon}")
    space = ActionSpace.fit(states, targets, joint_names, dt, convention, absolute_joints)
    normalized = np.stack([space.normalize_targets(t, s) for t, s in zip(targets, states, strict=True)])
    action_tokenizer = fit_tokenizer(normalized)
    vocab = PromptVocabulary.build(sorted(set(instructions)), action_tokenizer.vocab_size, config.state_bins)
    return PolicyParts(build_model(vocab, size, seed), vocab, action_tokenizer, space, config)


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # [B, L], right-padded
    token_type_ids: torch.Tensor  # 0 prefix (bidirectional), 1 suffix (causal) and padding
    attention_mask: torch.Tensor  # [B, L] padding mask; block-wise: [B, 1, L, L] additive block-causal mask
    labels: torch.Tensor  # suffix ids where the loss applies, IGNORE elsewhere
    pixel_values: torch.Tensor  # [B * cameras, 3, S, S]
    # True: position t predicts labels[t + 1] (token-wise). False: it predicts labels[t] (block-wise layout).
    next_token: bool = True
    # Block-wise only: [codes, vocab] additive mask of the ids each code position may hold. The loss is then
    # the cross-entropy among those ids alone, exactly the choice constrained decoding makes.
    target_bias: torch.Tensor | None = None
    lookahead: torch.Tensor | None = None  # [B, P, D] normalized future actions (lookahead regression only)
    named_colours: torch.Tensor | None = None  # [B] colour band each instruction names, -1 for none

    def to(self, device: torch.device) -> Batch:
        tensors = ("input_ids", "token_type_ids", "attention_mask", "labels", "pixel_values")
        optional = {
            name: None if getattr(self, name) is None else getattr(self, name).to(device)
            for name in ("target_bias", "lookahead", "named_colours")
        }
        return Batch(*(getattr(self, f).to(device) for f in tensors), next_token=self.next_token, **optional)

    def rows(self, rows: slice) -> Batch:
        """The batch of these rows only (a data-parallel replica's share); padding stays as collated."""
        cameras = self.pixel_values.shape[0] // self.input_ids.shape[0]
        optional = {
            name: None if getattr(self, name) is None else getattr(self, name)[rows]
            for name in ("lookahead", "named_colours")
        }
        return Batch(
            self.input_ids[rows],
            self.token_type_ids[rows],
            self.attention_mask[rows],
            self.labels[rows],
            self.pixel_values[rows.start * cameras : rows.stop * cameras],
            next_token=self.next_token,
            target_bias=self.target_bias,
            **optional,
        )

    def targets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(positions whose hidden state is scored [B, L'] as a mask, their target ids)``."""
        labels = self.labels[:, 1:] if self.next_token else self.labels
        selected = labels != IGNORE
        if self.next_token:
            selected = torch.nn.functional.pad(selected, (0, 1))
        return selected, labels[labels != IGNORE]


def collate(
    parts: PolicyParts,
    samples: list[TrainingSample],
    state_noise: float | Callable[[float], float] = 0.0,
    rng: np.random.Generator | None = None,
    lookahead_rows: np.ndarray | None = None,
) -> Batch:
    """Samples -> one padded batch of prefix + suffix sequences, through the inference preprocessing.

    ``state_noise`` > 0 perturbs the prompt's normalized state, not the targets: a std, or the std as a
    function of the observation's stamp (``TrainingConfig.state_noise_at``).
    ``lookahead_rows`` (``TrainingConfig.lookahead_rows``) adds the lookahead regression targets, taken from
    each sample's target window, which must reach past the last row.
    """
    space, vocab, config = parts.action_space, parts.vocab, parts.config
    states = [space.state_from(o.joint_names, o.state) for o, _ in samples]
    chunks = np.stack(
        [space.normalize_targets(np.asarray(t)[: config.horizon], s) for (_, t), s in zip(samples, states, strict=True)]
    )
    action_tokens = parts.action_tokenizer.encode(chunks)
    image_tokens = image_tokens_per_camera(parts.model.config) * len(config.cameras)
    block = config.decode_block_size
    sequences = []
    for (observation, _), state, tokens in zip(samples, states, action_tokens, strict=True):
        normalized_state = space.normalize_state(state)
        noise = state_noise(observation.stamp) if callable(state_noise) else state_noise
        if noise > 0:
            rng = rng or np.random.default_rng()
            normalized_state = np.clip(normalized_state + rng.normal(0.0, noise, normalized_state.shape), -1, 1)
        prefix = encode_prefix(
            vocab,
            observation.instruction,
            normalized_state,
            image_tokens,
            config.state_bins,
            config.max_prompt_tokens,
        ).ids
        suffix = encode_suffix(vocab, tokens) if block is None else block_suffix(vocab, tokens, block)
        sequences.append((prefix, suffix, tokens))
    length = max(len(p) + len(s) for p, s, _ in sequences)
    shape = (len(samples), length)
    input_ids = torch.full(shape, vocab.pad_id, dtype=torch.long)
    token_type_ids = torch.ones(shape, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    labels = torch.full(shape, IGNORE, dtype=torch.long)
    for row, (prefix, suffix, tokens) in enumerate(sequences):
        n, m = len(prefix), len(suffix)
        input_ids[row, : n + m] = torch.tensor(prefix + suffix)
        token_type_ids[row, :n] = 0
        attention_mask[row, : n + m] = 1
        if block is None:
            labels[row, n : n + m] = torch.tensor(suffix)
        else:  # suffix position j is trained to produce code j (see block_decoding)
            labels[row, n : n + len(tokens)] = torch.tensor(vocab.actions.to_vocab(tokens))
    frames = [frame for observation, _ in samples for frame in stack_cameras(observation.images, config.cameras)]
    pixels = to_pixels(frames, image_size(parts.model.config))
    prefixes = [len(p) for p, _, _ in sequences]
    lookahead = None
    if lookahead_rows is not None and len(lookahead_rows):
        if any(len(t) <= lookahead_rows[-1] for _, t in samples):
            raise ValueError(f"lookahead regression needs target windows of at least {lookahead_rows[-1] + 1} steps")
        windows = [np.asarray(t)[lookahead_rows] for _, t in samples]
        normalized = [space.normalize_targets(w, s) for w, s in zip(windows, states, strict=True)]
        lookahead = torch.tensor(np.stack(normalized), dtype=torch.float32)
    named = torch.tensor([named_colour(observation.instruction) for observation, _ in samples])
    if block is None:
        return Batch(
            input_ids, token_type_ids, attention_mask, labels, pixels, lookahead=lookahead, named_colours=named
        )
    lengths = [len(p) + len(s) for p, s, _ in sequences]
    mask = block_attention_mask(prefixes, lengths, length, block, torch.float32)
    bias = position_bias(vocab, parts.action_tokenizer.allowed_token_ranges())
    return Batch(
        input_ids,
        token_type_ids,
        mask,
        labels,
        pixels,
        next_token=False,
        target_bias=bias,
        lookahead=lookahead,
        named_colours=named,
    )


def action_loss(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy of the suffix tokens: each predicted from the position before it (token-wise)
    or, in the block-wise layout, from its own position under the block-causal mask."""
    return _token_loss(model, batch, _hidden_states(model, batch))


class LookaheadHead(torch.nn.Module):
    """Linear map from the prompt's last hidden state to ``points`` future normalized actions."""

    def __init__(self, hidden_size: int, points: int, action_dim: int) -> None:
        super().__init__()
        self.points, self.action_dim = points, action_dim
        self.linear = torch.nn.Linear(hidden_size, points * action_dim)

    def forward(self, hidden: torch.Tensor, prefix_lengths: torch.Tensor) -> torch.Tensor:
        last = hidden[torch.arange(hidden.shape[0], device=hidden.device), prefix_lengths - 1]
        return self.linear(last).view(-1, self.points, self.action_dim)


def training_heads(config: TrainingConfig, hidden_size: int, action_dim: int) -> torch.nn.ModuleDict:
    """The training-only heads ``config`` asks for ("lookahead", "colour_patches", "named_colour"), seeded."""
    heads = torch.nn.ModuleDict()
    with torch.random.fork_rng(devices=[]):  # without reseeding the caller's generator
        torch.manual_seed(config.seed)
        if len(config.lookahead_rows):
            heads["lookahead"] = LookaheadHead(hidden_size, len(config.lookahead_rows), action_dim)
        if config.colour_patch_weight > 0:
            heads["colour_patches"] = ColourPatchHead(hidden_size)
        if config.named_colour_weight > 0:
            heads["named_colour"] = NamedColourHead(hidden_size)
    return heads


def training_losses(model: torch.nn.Module, heads: torch.nn.ModuleDict, batch: Batch) -> dict[str, torch.Tensor]:
    """Every loss of one forward pass: ``"tokens"`` (cross-entropy) and one per head in ``heads``."""
    with captured_output(model.model.multi_modal_projector) as image_tokens:
        hidden = _hidden_states(model, batch)
    losses = {"tokens": _token_loss(model, batch, hidden)}
    if "lookahead" in heads:
        if batch.lookahead is None:
            raise ValueError("the lookahead head needs batches collated with lookahead_rows")
        prefix_lengths = (batch.token_type_ids == 0).sum(dim=1)
        losses["lookahead"] = F.mse_loss(heads["lookahead"](hidden, prefix_lengths).float(), batch.lookahead)
    if "colour_patches" in heads or "named_colour" in heads:
        targets = colour_patch_targets(batch.pixel_values, model.config.vision_config.patch_size)
    if "colour_patches" in heads:
        losses["colour_patches"] = heads["colour_patches"].loss(image_tokens[0], targets)
    if "named_colour" in heads:
        frames, patches = targets.shape[:2]  # frames = batch rows x cameras, each row's cameras in order
        cameras = frames // hidden.shape[0]
        image_hidden = hidden[:, : cameras * patches].reshape(frames, patches, hidden.shape[-1])
        named = batch.named_colours.repeat_interleave(cameras)
        losses["named_colour"] = heads["named_colour"].loss(image_hidden, targets, named)
    return losses


def _hidden_states(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    dtype = next(model.parameters()).dtype
    mask = batch.attention_mask if batch.attention_mask.ndim == 2 else batch.attention_mask.to(dtype)
    return model.model(
        input_ids=batch.input_ids,
        pixel_values=batch.pixel_values,
        token_type_ids=batch.token_type_ids,
        attention_mask=mask,
        use_cache=False,
    ).last_hidden_state


def _token_loss(model: torch.nn.Module, batch: Batch, hidden: torch.Tensor) -> torch.Tensor:
    selected, targets = batch.targets()
    logits = model.lm_head(hidden[selected]).float()
    if batch.target_bias is not None:  # every row holds all codes of one chunk, in position order
        codes = batch.target_bias.shape[0]
        logits = (logits.view(-1, codes, logits.shape[-1]) + batch.target_bias).view(-1, logits.shape[-1])
    return F.cross_entropy(logits, targets)


def _stream(data: Iterable[TrainingSample], buffer_size: int, rng: random.Random) -> Iterator[TrainingSample]:
    """Endless, shuffle-buffered pass over a re-iterable data source (consecutive chunks are correlated)."""
    buffer: list[TrainingSample] = []
    while True:
        produced = False
        for sample in data:
            produced = True
            if len(buffer) < buffer_size:
                buffer.append(sample)
                continue
            index = rng.randrange(buffer_size)
            yield buffer[index]
            buffer[index] = sample
        if not produced:
            raise ValueError("the training data yielded no samples")
        rng.shuffle(buffer)
        yield from buffer
        buffer = []


def _batches(
    parts: PolicyParts,
    samples: Iterator[TrainingSample],
    size: int,
    state_noise: float | Callable[[float], float] = 0.0,
    rng: np.random.Generator | None = None,
    lookahead_rows: np.ndarray | None = None,
) -> Iterator[Batch]:
    while True:
        group = [sample for _, sample in zip(range(size), samples, strict=False)]
        if not group:
            return
        yield collate(parts, group, state_noise, rng, lookahead_rows)


@torch.no_grad()
def validation_loss(parts: PolicyParts, data: Iterable[TrainingSample], batch_size: int, max_batches: int) -> float:
    """Token-weighted mean suffix loss over up to ``max_batches`` batches of ``data``, in order."""
    device = next(parts.model.parameters()).device
    was_training = parts.model.training
    parts.model.eval()
    total, count = 0.0, 0
    for batch, _ in zip(_batches(parts, iter(data), batch_size), range(max_batches), strict=False):
        batch = batch.to(device)
        tokens = int(batch.targets()[1].numel())
        total += float(action_loss(parts.model, batch)) * tokens
        count += tokens
    parts.model.train(was_training)
    if count == 0:
        raise ValueError("the validation data yielded no samples")
    return total / count


def _save(
    parts: PolicyParts,
    out_dir: Path,
    optimizer: torch.optim.Optimizer,
    history: TrainingHistory,
    config: TrainingConfig,
    heads: torch.nn.ModuleDict,
) -> None:
    state = optimizer.state_dict()
    tensors = {
        f"state.{index}.{key}": value.detach().cpu().contiguous()
        for index, moments in state["state"].items()
        for key, value in moments.items()
    }
    tensors.update({f"{HEADS_PREFIX}{k}": v.detach().cpu().contiguous() for k, v in heads.state_dict().items()})

    def write_training_state(directory: Path) -> None:
        save_file(tensors, str(directory / STATE_TENSORS_FILE))
        document = {
            "history": asdict(history),
            "training_config": asdict(config),
            "param_groups": state["param_groups"],
        }
        (directory / STATE_FILE).write_text(json.dumps(document, indent=2) + "\n")

    save_checkpoint(parts, out_dir, write_training_state)


def _restore(out_dir: Path, optimizer: torch.optim.Optimizer, heads: torch.nn.ModuleDict) -> TrainingHistory:
    document = json.loads((out_dir / STATE_FILE).read_text())
    tensors = load_file(str(out_dir / STATE_TENSORS_FILE))
    for name in list(tensors):
        for legacy, current in LEGACY_HEAD_PREFIXES.items():
            if name.startswith(legacy):
                tensors[current + name[len(legacy) :]] = tensors.pop(name)
    head_tensors = {k[len(HEADS_PREFIX) :]: tensors.pop(k) for k in list(tensors) if k.startswith(HEADS_PREFIX)}
    trained_with = sorted({name.split(".", 1)[0] for name in head_tensors})
    if trained_with != sorted(heads):
        raise ValueError(
            f"{out_dir} was trained with the training heads {trained_with or 'none'}, this run asks for "
            f"{sorted(heads) or 'none'}; resume it with the same lookahead, colour-patch and named-colour settings"
        )
    heads.load_state_dict(head_tensors)
    moments: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        moments.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": moments, "param_groups": document["param_groups"]})
    history = document["history"]
    return TrainingHistory(
        history["step"],
        *(
            [tuple(x) for x in history.get(name, [])]
            for name in ("train_loss", "validation_loss", "lookahead_loss", "colour_patch_loss", "named_colour_loss")
        ),
        history.get("replicas", 1),
        history.get("replica_weight_spread", 0.0),
    )


def has_training_state(out_dir: str | Path) -> bool:
    return (Path(out_dir) / STATE_FILE).is_file() and (Path(out_dir) / STATE_TENSORS_FILE).is_file()


def train(
    train_data: Iterable[TrainingSample],
    out_dir: str | Path,
    config: TrainingConfig,
    parts: PolicyParts | None = None,
    validation_data: Iterable[TrainingSample] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[PolicyParts, TrainingHistory]:
    """Train until ``config.steps``, resuming from ``out_dir`` when it holds a training checkpoint.

    ``parts`` (from ``new_policy_parts``) is required for a fresh start and ignored on resume: the
    checkpoint's model, tokenizer and statistics must stay together with its optimizer state. Started by
    ``accelerate launch`` with several processes, each trains on its share of every batch
    (``data_parallel``); the main process writes the checkpoints.
    """
    replicas = Replicas(torch.device(device))
    device, progress = replicas.device, progress and replicas.is_main
    out_dir = Path(out_dir)
    resuming = has_training_state(out_dir)
    if resuming:
        parts = load_checkpoint(out_dir)
    elif parts is None:
        raise ValueError(f"{out_dir} holds no training checkpoint to resume; pass new policy parts to start")
    model = parts.model.to(device=device, dtype=torch.float32).train()
    inference_attention = model.config._attn_implementation
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    if config.precision == "bf16":
        # PyTorch's CPU flash-attention backward is 2.7x slower in bf16 than in fp32 and ate the matmuls'
        # gain; plain matmul attention is as fast as it in fp32 and gains with the rest in bf16.
        model.set_attn_implementation("eager")
    model.model.vision_tower.requires_grad_(not config.freeze_vision)
    heads = training_heads(config, model.config.text_config.hidden_size, parts.action_space.action_dim)
    heads = heads.to(device).train()
    weights = {
        "tokens": 1.0,
        "lookahead": config.lookahead_weight,
        "colour_patches": config.colour_patch_weight,
        "named_colour": config.named_colour_weight,
    }
    parameters = [*model.parameters(), *heads.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    history = _restore(out_dir, optimizer, heads) if resuming else TrainingHistory()
    samples = _stream(train_data, config.shuffle_buffer, random.Random(config.seed + history.step))
    noise_rng = np.random.default_rng((config.seed, history.step))
    rows = config.lookahead_rows if "lookahead" in heads else None
    batches = _batches(parts, samples, config.batch_size, config.state_noise_at, noise_rng, rows)
    running = dict.fromkeys(["tokens", *heads], 0.0)
    running_steps = 0
    logged = {
        "lookahead": ("lookahead_loss", "lookahead mse"),
        "colour_patches": ("colour_patch_loss", "colour loss"),
        "named_colour": ("named_colour_loss", "named-colour loss"),
    }
    with tqdm(total=config.steps, initial=history.step, desc="train", unit="step", disable=not progress) as bar:
        while history.step < config.steps:
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate_at(history.step)
            batch = next(batches)
            if replicas.count > 1:
                batch = batch.rows(replicas.local_rows(config.batch_size))
            with autocast:
                losses = training_losses(model, heads, batch.to(device))
            scale = replicas.token_scale(int(batch.targets()[1].numel()))
            total = sum(weights[name] * loss * (scale if name == "tokens" else 1.0) for name, loss in losses.items())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            replicas.average_gradients(parameters)
            torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            history.step += 1
            for name, loss in losses.items():  # the tokens' share of the mean over all replicas' tokens
                running[name] += loss.detach().item() * (scale if name == "tokens" else 1.0)
            running_steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses['tokens'].detach().item():.3f}")
            at_end = history.step == config.steps
            if history.step % config.validate_every == 0 or at_end:
                running = dict(zip(running, replicas.mean(list(running.values())), strict=True))
                history.train_loss.append((history.step, running["tokens"] / running_steps))
                message = f"step {history.step}: train loss {history.train_loss[-1][1]:.4f}"
                for name in heads:
                    field_name, label = logged[name]
                    getattr(history, field_name).append((history.step, running[name] / running_steps))
                    message += f", {label} {running[name] / running_steps:.4f}"
                running = dict.fromkeys(running, 0.0)
                running_steps = 0
                if validation_data is not None and replicas.is_main:
                    validation = validation_loss(parts, validation_data, config.batch_size, config.validation_batches)
                    history.validation_loss.append((history.step, validation))
                    message += f", validation loss {validation:.4f}"
                if replicas.is_main:
                    bar.write(message)
            if at_end and replicas.count > 1:
                history.replicas, history.replica_weight_spread = replicas.count, replicas.weight_spread(parameters)
            if history.step % config.checkpoint_every == 0 or at_end:
                if replicas.is_main:
                    _save(parts, out_dir, optimizer, history, config, heads)
                replicas.wait()
    model.set_attn_implementation(inference_attention)
    model.requires_grad_(True)
    model.eval()
    return parts, history
