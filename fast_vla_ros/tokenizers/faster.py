"""FASTer: a learned action tokenizer, a fixed grid of residual-VQ codes per chunk (FASTer, ICLR 2026).

A chunk ``[H, D]`` is cut into patches: time windows of ``patch_steps`` steps crossed with joint groups
(shoulder/elbow, wrist, gripper by default, chosen by joint name). A small transformer encodes the
patches into one latent vector each, residual VQ (``vector_quantize_pytorch.ResidualVQ``: EMA codebook
updates, dead codes re-seeded from the batch) quantizes every latent with ``num_quantizers`` codes, and a
mirrored transformer decodes the summed codes back to the chunk. Trained with time-domain L1 +
DCT-domain L1 (a fixed orthonormal DCT-II matrix in torch) + the VQ commitment loss.

Token order and ids (what the policy's block decoder relies on):

    position  i = level * patches + patch          all patches' level-0 (coarsest) codes first, then level 1, ...
    token id    = level * codebook_size + code     so position i only ever holds ids of level i // patches
    patch       = window * groups + group          windows in time order, groups in configured order

Every chunk has exactly ``codes_per_chunk = num_quantizers * patches`` tokens. Decoding never raises for
ids: a missing trailing code (``TOO_SHORT``) contributes nothing to its patch's latent, which is exactly
"stop the residual sum earlier", so a sequence cut inside the fine levels still gives the coarse chunk;
an id outside its position's level range (``OUT_OF_RANGE``) is treated the same way; codes beyond the
grid are dropped (``TOO_LONG``); a sequence with no usable code decodes to all zeros (``EMPTY``).
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from vector_quantize_pytorch import ResidualVQ

from fast_vla_ros.tokenizers.base import Chunks, DecodeStatus, TokenBatch
from fast_vla_ros.tokenizers.batching import batch_size, horizon_groups

CONFIG_FILE = "faster_tokenizer.json"
WEIGHTS_FILE = "faster_tokenizer.safetensors"
#: Chunks per encoder pass when a whole data set goes through (fit's refinement, ``encode``): the
#: encoder's activations grow with the batch, and 403k chunks in one pass ran `fast-vla train` out of 23 GB.
ENCODE_SLICE = 4096

#: Joint groups of a 6-joint arm with a gripper, by joint-name prefix (our simulator's arm, UR-style names).
DEFAULT_JOINT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("shoulder_pan", "shoulder_lift", "elbow"),
    ("wrist_1", "wrist_2", "wrist_3"),
    ("gripper",),
)


@dataclass(frozen=True)
class FasterConfig:
    horizon: int
    action_dim: int
    groups: tuple[tuple[int, ...], ...]  # action dimensions of each joint group, in patch order
    patch_steps: int = 50  # time steps per patch; the last window repeats the final step when H is not a multiple
    num_quantizers: int = 5
    codebook_size: int = 2048
    latent_dim: int = 16
    model_dim: int = 64
    depth: int = 2
    heads: int = 4
    ema_decay: float = 0.95
    dead_code_threshold: float = 2.0  # EMA cluster size under which a code is re-seeded from the batch
    commitment_weight: float = 0.25
    dct_weight: float = 1.0
    # Patches enter and leave the network as orthonormal DCT coefficients of their window (a fixed rotation:
    # smooth motion then lies along a few input axes, which Adam's per-parameter steps fit much faster).
    dct_patches: bool = True
    joint_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.action_dim < 1 or self.patch_steps < 1:
            raise ValueError("horizon, action_dim and patch_steps must be positive")
        dims = sorted(d for group in self.groups for d in group)
        if dims != list(range(self.action_dim)):
            raise ValueError(f"groups {self.groups} must cover each of the {self.action_dim} dimensions exactly once")
        if self.num_quantizers < 1 or self.codebook_size < 2:
            raise ValueError("num_quantizers must be >= 1 and codebook_size >= 2")
        if self.model_dim % self.heads:
            raise ValueError(f"model_dim {self.model_dim} must be a multiple of heads {self.heads}")
        object.__setattr__(self, "groups", tuple(tuple(int(d) for d in g) for g in self.groups))
        if self.joint_names is not None:
            object.__setattr__(self, "joint_names", tuple(self.joint_names))

    @property
    def windows(self) -> int:
        return -(-self.horizon // self.patch_steps)

    @property
    def patches(self) -> int:
        return self.windows * len(self.groups)

    @property
    def codes_per_chunk(self) -> int:
        return self.num_quantizers * self.patches


def resolve_groups(
    action_dim: int,
    joint_names: Sequence[str] | None = None,
    groups: Sequence[Sequence[str]] | Sequence[Sequence[int]] | None = None,
) -> tuple[tuple[int, ...], ...]:
    """Joint groups as dimension indices.

    ``groups`` may name joints (a joint belongs to the first group with a member that its name starts
    with; joints no group claims form one last group) or give indices directly. Without ``groups``:
    ``DEFAULT_JOINT_GROUPS`` by name when ``joint_names`` are known, else 3 + 3 + 1 for 7 dimensions
    (arm joints, or Bridge's translation / rotation / gripper) and one group otherwise.
    """
    if groups is not None and all(isinstance(d, (int, np.integer)) for g in groups for d in g):
        return tuple(tuple(int(d) for d in g) for g in groups if len(g))
    if joint_names is None:
        if groups is not None:
            raise ValueError("joint groups given by name need the joint names")
        return ((0, 1, 2), (3, 4, 5), (6,)) if action_dim == 7 else (tuple(range(action_dim)),)
    if len(joint_names) != action_dim:
        raise ValueError(f"{len(joint_names)} joint names for {action_dim} action dimensions")
    named = DEFAULT_JOINT_GROUPS if groups is None else groups
    members: list[list[int]] = [[] for _ in named]
    rest: list[int] = []
    for index, name in enumerate(joint_names):
        owner = next((g for g, group in enumerate(named) if any(name.startswith(str(m)) for m in group)), None)
        (rest if owner is None else members[owner]).append(index)
    return tuple(tuple(m) for m in [*members, rest] if m)


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II as a matrix (``scipy.fft.dct(x, type=2, norm="ortho")`` equals ``M @ x``)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    t = torch.arange(n, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * (t + 0.5) * k / n) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix.float()


class _Autoencoder(nn.Module):
    """Patches -> transformer -> latent per patch -> residual VQ -> transformer -> patches."""

    def __init__(self, config: FasterConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        width = [c.patch_steps * len(g) for g in c.groups]
        self.embed = nn.ModuleList(nn.Linear(w, c.model_dim) for w in width)
        self.unembed = nn.ModuleList(nn.Linear(c.model_dim, w) for w in width)
        self.encoder_position = nn.Parameter(torch.randn(c.patches, c.model_dim) * 0.02)
        self.decoder_position = nn.Parameter(torch.randn(c.patches, c.model_dim) * 0.02)
        self.encoder = self._transformer(c)
        self.decoder = self._transformer(c)
        self.to_latent = nn.Linear(c.model_dim, c.latent_dim)
        self.from_latent = nn.Linear(c.latent_dim, c.model_dim)
        self.quantizer = ResidualVQ(
            dim=c.latent_dim,
            num_quantizers=c.num_quantizers,
            codebook_size=c.codebook_size,
            decay=c.ema_decay,
            kmeans_init=True,  # codebooks start at k-means centres of the first batch's residuals
            threshold_ema_dead_code=c.dead_code_threshold,
            commitment_weight=c.commitment_weight,
        )
        self.register_buffer("dct", dct_matrix(c.horizon), persistent=False)
        window_dct = dct_matrix(c.patch_steps) if c.dct_patches else torch.eye(c.patch_steps)
        self.register_buffer("window_dct", window_dct, persistent=False)

    @staticmethod
    def _transformer(c: FasterConfig) -> nn.TransformerEncoder:
        layer = nn.TransformerEncoderLayer(
            c.model_dim, c.heads, 4 * c.model_dim, dropout=0.0, batch_first=True, norm_first=True
        )
        return nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)

    def encode_latents(self, chunks: torch.Tensor) -> torch.Tensor:
        """``[N, H, D]`` -> ``[N, patches, latent_dim]`` (before quantization)."""
        c = self.config
        padded_steps = c.windows * c.patch_steps
        if padded_steps > c.horizon:  # hold the last step, as a robot holds its last target
            chunks = torch.cat([chunks, chunks[:, -1:].expand(-1, padded_steps - c.horizon, -1)], dim=1)
        n = chunks.shape[0]
        windows = chunks.reshape(n, c.windows, c.patch_steps, c.action_dim)
        chunks = torch.einsum("kh,nwhd->nwkd", self.window_dct, windows).reshape(n, padded_steps, c.action_dim)
        tokens = [
            embed(chunks[:, :, list(group)].reshape(n, c.windows, -1))
            for embed, group in zip(self.embed, c.groups, strict=True)
        ]
        x = torch.stack(tokens, dim=2).reshape(n, c.patches, c.model_dim) + self.encoder_position
        return self.to_latent(self.encoder(x))

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """``[N, patches, latent_dim]`` -> ``[N, H, D]``."""
        c = self.config
        n = latents.shape[0]
        x = self.decoder(self.from_latent(latents) + self.decoder_position)
        x = x.reshape(n, c.windows, len(c.groups), c.model_dim)
        out = latents.new_zeros(n, c.windows * c.patch_steps, c.action_dim)
        for g, (unembed, group) in enumerate(zip(self.unembed, c.groups, strict=True)):
            out[:, :, list(group)] = unembed(x[:, :, g]).reshape(n, -1, len(group))
        windows = out.reshape(n, c.windows, c.patch_steps, c.action_dim)
        out = torch.einsum("kh,nwkd->nwhd", self.window_dct, windows).reshape(n, -1, c.action_dim)
        return out[:, : c.horizon]

    def forward(self, chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, indices ``[N, patches, levels]`` and the summed commitment loss."""
        quantized, indices, commitment = self.quantizer(self.encode_latents(chunks))
        return self.decode_latents(quantized), indices, commitment.sum()

    def loss(self, chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        reconstruction, _, commitment = self(chunks)
        time_l1 = F.l1_loss(reconstruction, chunks)
        dct_l1 = F.l1_loss(
            torch.einsum("kt,ntd->nkd", self.dct, reconstruction), torch.einsum("kt,ntd->nkd", self.dct, chunks)
        )
        return time_l1 + self.config.dct_weight * dct_l1 + commitment, time_l1


class FasterTokenizer:
    """Learned residual-VQ tokenizer with a fixed number of codes per chunk, coarse to fine."""

    def __init__(self, config: FasterConfig, model: _Autoencoder | None = None) -> None:
        self.config = config
        self._model = (model if model is not None else _Autoencoder(config)).eval()

    @classmethod
    def fit(
        cls,
        chunks: Chunks,
        *,
        joint_names: Sequence[str] | None = None,
        groups: Sequence[Sequence[str]] | Sequence[Sequence[int]] | None = None,
        patch_steps: int | None = None,
        num_quantizers: int = 5,
        codebook_size: int = 2048,
        latent_dim: int = 16,
        model_dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        dct_patches: bool = True,
        steps: int = 1500,
        refine_iterations: int = 25,
        decoder_steps: int | None = None,
        batch_size: int = 256,
        learning_rate: float = 5e-3,
        seed: int = 0,
        progress: bool = True,
    ) -> FasterTokenizer:
        """Train the autoencoder on ``chunks`` ``[N, H, D]`` (normalized units) for ``steps`` AdamW steps,
        then refine each level's codebook with ``refine_iterations`` full-data k-means passes and tune the
        decoder alone on the final codes for ``decoder_steps`` (default: two thirds of ``steps``).

        ``patch_steps`` defaults to the whole horizon: with three joint groups and five levels that is 15
        codes per chunk, at most what FAST spends on the simulator's 50-step chunks (two windows would
        leave room for only two levels). Uses the calling thread's torch settings; on a shared CPU call
        ``torch.set_num_threads(1)`` first (the defaults take 3 to 4 minutes on one core for ~15k chunks).
        """
        from tqdm import tqdm

        found = horizon_groups(chunks)
        if len(found) != 1:
            raise ValueError(f"FASTer fits chunks of one horizon, got {len(found)} horizons" if found else "no chunks")
        array = found[0][1]
        _, horizon, action_dim = array.shape
        config = FasterConfig(
            horizon=horizon,
            action_dim=action_dim,
            groups=resolve_groups(action_dim, joint_names, groups),
            patch_steps=patch_steps or horizon,
            num_quantizers=num_quantizers,
            codebook_size=codebook_size,
            latent_dim=latent_dim,
            model_dim=model_dim,
            depth=depth,
            heads=heads,
            dct_patches=dct_patches,
            joint_names=tuple(joint_names) if joint_names is not None else None,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _Autoencoder(config)
            data = torch.as_tensor(array, dtype=torch.float32)
            generator = torch.Generator().manual_seed(seed)
            optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, learning_rate, total_steps=max(steps, 1), pct_start=0.05, final_div_factor=100.0
            )
            model.train()
            if steps:
                # The codebooks start as k-means centres of the first batch seen in training mode: make that
                # batch hold two latents per code where the data allows, not one mini-batch (duplicate codes).
                first = min(len(data), max(batch_size, -(-2 * codebook_size // config.patches)))
                with torch.no_grad():
                    model(data[torch.randperm(len(data), generator=generator)[:first]])
            with tqdm(range(steps), desc="fit FASTer", unit="step", disable=not progress) as bar:
                for step in bar:
                    batch = data[torch.randint(len(data), (min(batch_size, len(data)),), generator=generator)]
                    loss, time_l1 = model.loss(batch)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    schedule.step()
                    if step % 50 == 0:
                        bar.set_postfix(l1=f"{time_l1.item():.4f}")
            model.eval()
            if steps and refine_iterations:
                _refine_codebooks(model, data, refine_iterations)
            decoder_steps = steps * 2 // 3 if decoder_steps is None else decoder_steps
            if steps and decoder_steps:
                _tune_decoder(model, data, decoder_steps, batch_size, learning_rate * 0.1, generator)
        return cls(config, model.eval())

    @property
    def vocab_size(self) -> int:
        return self.config.num_quantizers * self.config.codebook_size

    @property
    def codes_per_chunk(self) -> int:
        return self.config.codes_per_chunk

    def position_levels(self) -> np.ndarray:
        """``[codes_per_chunk]``: the quantizer level of each token position (coarse 0 first)."""
        return np.arange(self.codes_per_chunk) // self.config.patches

    def allowed_token_ranges(self) -> list[range]:
        """The ids each position may hold: ``range(level * codebook_size, (level + 1) * codebook_size)``."""
        size = self.config.codebook_size
        return [range(level * size, (level + 1) * size) for level in self.position_levels().tolist()]

    def encode(self, chunks: Chunks) -> list[list[int]]:
        c = self.config
        out: list[list[int]] = [[] for _ in range(batch_size(chunks))]
        for members, array in horizon_groups(chunks):
            if array.shape[1:] != (c.horizon, c.action_dim):
                raise ValueError(
                    f"this FASTer tokenizer encodes {c.horizon} x {c.action_dim} chunks, got {array.shape[1:]}"
                )
            indices = self.code_indices(array)  # [n, patches, levels]
            ids = indices.transpose(0, 2, 1) + (np.arange(c.num_quantizers) * c.codebook_size)[None, :, None]
            for i, row in zip(members.tolist(), ids.reshape(len(members), -1).tolist(), strict=True):
                out[i] = row
        return out

    @torch.inference_mode()
    def code_indices(self, array: np.ndarray, slice_size: int = ENCODE_SLICE) -> np.ndarray:
        """Codebook indices ``[N, patches, levels]`` of normalized chunks ``[N, H, D]``, ``slice_size``
        chunks per encoder pass so that a whole training set fits in memory."""
        data = torch.as_tensor(array, dtype=torch.float32)
        indices = [self._model.quantizer(self._model.encode_latents(part))[1] for part in data.split(slice_size)]
        return torch.cat(indices).numpy().astype(np.int64)

    def decode(
        self, tokens: TokenBatch, horizon: int, action_dim: int, *, return_status: bool = False
    ) -> np.ndarray | tuple[np.ndarray, list[DecodeStatus]]:
        """Chunks ``[N, horizon, action_dim]``; never raises for any ids (see the module docstring)."""
        c = self.config
        if (horizon, action_dim) != (c.horizon, c.action_dim):
            raise ValueError(f"this FASTer tokenizer decodes {c.horizon} x {c.action_dim} chunks, "
                             f"asked for {horizon} x {action_dim}")  # fmt: skip
        n, width = len(tokens), c.codes_per_chunk
        codes = np.zeros((n, width), dtype=np.int64)
        present = np.zeros((n, width), dtype=bool)
        statuses = [DecodeStatus.OK] * n
        low = (self.position_levels() * c.codebook_size)[None, :]
        for row_index, row in enumerate(tokens):
            ids = _row_ids(row)
            if ids is None:
                statuses[row_index] = DecodeStatus.OUT_OF_RANGE
                continue
            if len(ids) > width:
                statuses[row_index] |= DecodeStatus.TOO_LONG
                ids = ids[:width]
            elif len(ids) < width:
                statuses[row_index] |= DecodeStatus.TOO_SHORT
            codes[row_index, : len(ids)] = ids
            present[row_index, : len(ids)] = True
        codes -= low
        valid = present & (codes >= 0) & (codes < c.codebook_size)
        for row_index in np.flatnonzero((present & ~valid).any(axis=1)).tolist():
            statuses[row_index] |= DecodeStatus.OUT_OF_RANGE
        chunks = self._decode_codes(np.where(valid, codes, 0), valid)
        empty = ~valid.any(axis=1)
        chunks[empty] = 0.0
        for row_index in np.flatnonzero(empty).tolist():
            statuses[row_index] = (statuses[row_index] & ~DecodeStatus.TOO_SHORT) | DecodeStatus.EMPTY
        return (chunks, statuses) if return_status else chunks

    @torch.inference_mode()
    def _decode_codes(self, codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
        c = self.config
        n = codes.shape[0]
        if n == 0:
            return np.zeros((0, c.horizon, c.action_dim))
        # [N, levels, patches] -> summed codebook vectors per patch; a missing code adds nothing.
        index = torch.as_tensor(codes.reshape(n, c.num_quantizers, c.patches))
        keep = torch.as_tensor(valid.reshape(n, c.num_quantizers, c.patches))
        codebooks = self._model.quantizer.codebooks  # [levels, codebook_size, latent_dim]
        vectors = codebooks[torch.arange(c.num_quantizers)[None, :, None], index]  # [N, levels, patches, latent]
        latents = (vectors * keep[..., None]).sum(dim=1)
        latents = self._model.quantizer.project_out(latents)
        return self._model.decode_latents(latents).double().numpy()

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        document = {"type": "FasterTokenizer", **asdict(self.config)}
        (directory / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._model.state_dict().items()}
        save_file(tensors, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})

    @classmethod
    def load(cls, directory: str | Path) -> FasterTokenizer:
        directory = Path(directory)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"FASTer tokenizer file not found: {directory / name}")
        document = json.loads((directory / CONFIG_FILE).read_text())
        document.pop("type", None)
        config = FasterConfig(**document)
        model = _Autoencoder(config)
        model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)), strict=True)
        return cls(config, model)


@torch.no_grad()
def _refine_codebooks(model: _Autoencoder, data: torch.Tensor, iterations: int) -> None:
    """Lloyd iterations per level on the whole training set's residuals, coarse level first.

    EMA updates see one mini-batch at a time; a few full-data k-means passes at the end move every code
    to the mean of what it quantizes, which lowers the error the training data can measure.
    """
    residual = torch.cat([model.encode_latents(batch) for batch in data.split(ENCODE_SLICE)]).reshape(
        -1, model.config.latent_dim
    )
    for layer in model.quantizer.layers:
        codebook = layer._codebook.embed[0]  # [codebook_size, latent_dim], a buffer: edited in place
        for iteration in range(iterations + 1):
            assignment = torch.cat([torch.cdist(part, codebook).argmin(dim=1) for part in residual.split(8192)])
            if iteration == iterations:  # the last pass only assigns, for the next level's residual
                break
            counts = torch.bincount(assignment, minlength=len(codebook))
            sums = torch.zeros_like(codebook).index_add_(0, assignment, residual)
            used = counts > 0
            codebook[used] = sums[used] / counts[used, None]
        residual = residual - codebook[assignment]


def _tune_decoder(
    model: _Autoencoder, data: torch.Tensor, steps: int, batch_size: int, learning_rate: float, generator
) -> None:
    """A few decoder-only steps on the final codes: the decoder learns the refined codebook's exact vectors."""
    with torch.no_grad():
        latents = torch.cat([model.quantizer(model.encode_latents(batch))[0] for batch in data.split(ENCODE_SLICE)])
    parameters = [p for name, p in model.named_parameters() if name.startswith(("decoder", "from_latent", "unembed"))]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=1e-4)
    model.train()
    for _ in range(steps):
        pick = torch.randint(len(data), (min(batch_size, len(data)),), generator=generator)
        reconstruction = model.decode_latents(latents[pick])
        target = data[pick]
        loss = F.l1_loss(reconstruction, target) + model.config.dct_weight * F.l1_loss(
            torch.einsum("kt,ntd->nkd", model.dct, reconstruction), torch.einsum("kt,ntd->nkd", model.dct, target)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()


def _row_ids(row: object) -> np.ndarray | None:
    """Integer ids of one row (ids beyond int64 become -1: out of range at their own position); None if
    the row is not a sequence of integers (3.0 is no token id)."""
    try:
        values = [operator.index(value) for value in row]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return np.array([v if -(2**62) < v < 2**62 else -1 for v in values], dtype=np.int64)
