"""The PaliGemma inside a LeRobot pi0-FAST ``model.safetensors``: names mapped to Hugging Face's, the
network's shape read from the tensors, loaded strictly.

    pi0_fast (LeRobot >= 0.4.3, transformers >= 4.52 layout), prefix ``model.paligemma_with_expert.paligemma.``:
        model.language_model.layers.N...   model.vision_tower.vision_model...   model.multi_modal_projector...
        lm_head.weight                     (model.language_model.embed_tokens.weight may be left out: tied)
    legacy pi0fast (LeRobot 0.3, transformers 4.48 layout), prefix ``model.pi0_paligemma.``:
        language_model.model.layers.N...   vision_tower.vision_model...         multi_modal_projector...
        language_model.lm_head.weight      language_model.model.embed_tokens.weight

Both are matched to ``PaliGemmaForConditionalGeneration``'s own names through one canonical form without
the ``vision_model.`` level, which transformers 5.x dropped from the SigLIP tower (so files written with
either generation of transformers load into either). The input embedding
and ``lm_head`` are one tensor in PaliGemma; where a file holds both, ``lm_head`` wins, as LeRobot's
loader copies it over the embedding. The architecture is whatever the tensors say (layers, widths,
image size, patch size); only the head size cannot be read from a shape and comes from the family:
256 for Gemma (both ``gemma_2b`` and ``gemma_300m``), 72 for SigLIP-So400m. So a tiny test checkpoint
and the 3B one go through the same code.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration
from transformers.initialization import no_init_weights

from fast_vla_ros.policy.errors import CheckpointError

MAIN_PREFIX = "model.paligemma_with_expert.paligemma."
LEGACY_PREFIX = "model.pi0_paligemma."
LEGACY_RENAMES = (
    ("language_model.model.", "model.language_model."),
    ("language_model.lm_head.", "lm_head."),
    ("vision_tower.", "model.vision_tower."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
)
EMBEDDING = "model.language_model.embed_tokens.weight"
LM_HEAD = "lm_head.weight"
VISION_LEVEL = ("vision_tower.vision_model.", "vision_tower.")
GEMMA_HEAD_DIM = 256
SIGLIP_HEAD_DIM = 72
FILE_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def canonical(name: str) -> str:
    """A PaliGemma tensor name with or without SigLIP's ``vision_model.`` level -> the form without it."""
    return name.replace(*VISION_LEVEL)


def hf_name(key: str, prefix: str) -> str | None:
    """A checkpoint key -> the canonical PaliGemma name; ``None`` when it is not a network weight."""
    if not key.startswith(prefix):
        return None
    name = key[len(prefix) :]
    if prefix == LEGACY_PREFIX:
        for old, new in LEGACY_RENAMES:
            if name.startswith(old):
                return canonical(new + name[len(old) :])
        return None
    return canonical(name)


@contextmanager
def _open(path: Path):
    try:
        with safe_open(str(path), framework="pt") as handle:
            yield handle
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"{path}: unreadable safetensors file ({error})") from error


def network_keys(path: Path, prefix: str) -> tuple[dict[str, str], list[str]]:
    """``(hf name -> file key, other keys)``: the network's tensors and everything else in the file.

    The tied embedding is reported once, as ``lm_head.weight``, from whichever key the file has.
    """
    mapping: dict[str, str] = {}
    others: list[str] = []
    with _open(path) as handle:
        for key in handle.keys():
            name = hf_name(key, prefix)
            if name is None:
                others.append(key)
            else:
                mapping[name] = key
    embedding = mapping.pop(EMBEDDING, None)
    if embedding is not None:
        mapping.setdefault(LM_HEAD, embedding)
    return mapping, others


def _shape(handle, key: str) -> list[int]:
    return list(handle.get_slice(key).get_shape())


def stored_dtype(path: Path, prefix: str) -> torch.dtype:
    """The precision the file stores its embedding in (bfloat16 for published checkpoints), float32 if unusual."""
    mapping, _ = network_keys(path, prefix)
    if LM_HEAD not in mapping:
        return torch.float32  # load_network names the missing tensor
    with _open(path) as handle:
        return FILE_DTYPES.get(handle.get_slice(mapping[LM_HEAD]).get_dtype(), torch.float32)


def infer_config(path: Path, mapping: dict[str, str]) -> PaliGemmaConfig:
    """The PaliGemma config the tensors describe (see the module docstring for the head sizes)."""

    def need(name: str) -> str:
        if name not in mapping:
            raise CheckpointError(
                f"{path}: no tensor for {name} (looked for the key {name!r} under the format's prefix)"
            )
        return mapping[name]

    def count(pattern: str) -> int:
        indices = {int(m.group(1)) for name in mapping if (m := re.match(pattern, name))}
        return max(indices) + 1 if indices else 0

    with _open(path) as handle:
        vocab_size, text_hidden = _shape(handle, need(LM_HEAD))
        text_layers = count(r"model\.language_model\.layers\.(\d+)\.")
        vision_layers = count(r"model\.vision_tower\.encoder\.layers\.(\d+)\.")
        if text_layers == 0 or vision_layers == 0:
            raise CheckpointError(
                f"{path}: found {text_layers} decoder and {vision_layers} vision layers under the prefix"
            )
        q_rows, _ = _shape(handle, need("model.language_model.layers.0.self_attn.q_proj.weight"))
        k_rows, _ = _shape(handle, need("model.language_model.layers.0.self_attn.k_proj.weight"))
        intermediate, _ = _shape(handle, need("model.language_model.layers.0.mlp.gate_proj.weight"))
        vision_hidden, _, patch, _ = _shape(handle, need("model.vision_tower.embeddings.patch_embedding.weight"))
        positions, _ = _shape(handle, need("model.vision_tower.embeddings.position_embedding.weight"))
        vision_intermediate, _ = _shape(handle, need("model.vision_tower.encoder.layers.0.mlp.fc1.weight"))
        projection, _ = _shape(handle, need("model.multi_modal_projector.linear.weight"))
    side = math.isqrt(positions)
    problems = []
    if side * side != positions:
        problems.append(f"{positions} vision positions are not a square grid")
    if q_rows % GEMMA_HEAD_DIM or k_rows % GEMMA_HEAD_DIM:
        problems.append(
            f"attention projections of {q_rows} and {k_rows} rows are not multiples of Gemma's {GEMMA_HEAD_DIM}"
        )
    if vision_hidden % SIGLIP_HEAD_DIM:
        problems.append(f"vision width {vision_hidden} is not a multiple of SigLIP's head size {SIGLIP_HEAD_DIM}")
    if projection != text_hidden:
        problems.append(f"the projector writes {projection} values but the decoder is {text_hidden} wide")
    if problems:
        raise CheckpointError(f"{path}: not a PaliGemma of the pi0-FAST family: " + "; ".join(problems))
    return PaliGemmaConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "image_size": side * patch,
            "patch_size": patch,
            "hidden_size": vision_hidden,
            "num_hidden_layers": vision_layers,
            "num_attention_heads": vision_hidden // SIGLIP_HEAD_DIM,
            "intermediate_size": vision_intermediate,
            "vision_use_head": False,
        },
        text_config={
            "model_type": "gemma",
            "vocab_size": vocab_size,
            "hidden_size": text_hidden,
            "num_hidden_layers": text_layers,
            "num_attention_heads": q_rows // GEMMA_HEAD_DIM,
            "num_key_value_heads": k_rows // GEMMA_HEAD_DIM,
            "head_dim": GEMMA_HEAD_DIM,
            "intermediate_size": intermediate,
            "hidden_activation": "gelu_pytorch_tanh",
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 1,
        },
        vocab_size=vocab_size,
        # pi0-FAST never embeds the image placeholder: its id is one past the vocabulary, as in LeRobot.
        image_token_index=vocab_size,
        projection_dim=text_hidden,
        hidden_size=text_hidden,
    )


def load_network(path: Path, prefix: str, dtype: torch.dtype = torch.float32) -> PaliGemmaForConditionalGeneration:
    """Build the network in ``dtype`` and copy the file's tensors in one at a time (peak: one model + one tensor).

    Strict: every parameter of the network must come from the file with its exact shape, and every key
    under the prefix must be a parameter; the error lists the first few of each.
    """
    mapping, _ = network_keys(path, prefix)
    config = infer_config(path, mapping)
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(dtype)
        with no_init_weights():
            model = PaliGemmaForConditionalGeneration(config)
        model.tie_weights()  # skipped with the initialisation
    finally:
        torch.set_default_dtype(previous)
    parameters = {canonical(n): t for n, t in model.named_parameters()}  # tied: once, as the embedding
    if LM_HEAD in parameters:
        raise CheckpointError(f"{path}: the network's embedding and lm_head are not tied, as PaliGemma's are")
    targets = {LM_HEAD if name == EMBEDDING else name: tensor for name, tensor in parameters.items()}
    missing = sorted(set(targets) - set(mapping))
    unexpected = sorted(mapping[name] for name in set(mapping) - set(targets))
    mismatched = []
    with _open(path) as handle:
        for name in sorted(set(mapping) & set(targets)):
            shape = _shape(handle, mapping[name])
            if shape != list(targets[name].shape):
                mismatched.append(f"{mapping[name]}: {tuple(shape)} vs {tuple(targets[name].shape)}")
        problems = []
        if missing:
            problems.append(f"{len(missing)} network tensors missing (first: {missing[:3]})")
        if unexpected:
            problems.append(f"{len(unexpected)} keys that are no PaliGemma tensor (first: {unexpected[:3]})")
        if mismatched:
            problems.append(f"{len(mismatched)} shapes disagree with the rest of the network (first: {mismatched[:3]})")
        if problems:
            raise CheckpointError(f"{path} does not load strictly: " + "; ".join(problems))
        with torch.no_grad():
            for name, tensor in targets.items():
                tensor.copy_(handle.get_tensor(mapping[name]))
    return model.eval()
