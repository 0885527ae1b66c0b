"""Per-chunk latency of a pi0-FAST-sized VLA on a GPU, against the memory-bandwidth floor.

A PaliGemma-3B-shaped model (SigLIP-So400m + Gemma-2B sizes, PaliGemma's 257 152-id vocabulary) with
random bf16 weights decodes a fixed number of action tokens (60, a long FAST chunk) after a prefix of
1-3 camera images and a short prompt. Two paths, same model and inputs:

- ``generate``: Hugging Face ``generate`` as it comes (dynamic KV cache, eager);
- ``static_compiled``: ``generate`` with a static KV cache, which transformers compiles with
  ``torch.compile`` (CUDA graphs on the decode step), the fastest path it offers.

and FASTer's block-wise decoding (``fast_vla_ros.policy.block_decoding``, the path ``VLAPolicy`` runs)
of a ``--codes`` grid (default 15, our FASTer default) with ``--block-size`` codes per forward pass
(default 7): ``faster_b7``, ceil(15 / 7) = 3 passes, each constrained to the last ids of the vocabulary.

Batch-1 decoding is bound by reading the decoder's weights once per forward pass, so the floor is
``decoder weight bytes x passes / device copy bandwidth`` (bandwidth measured here with a large
device-to-device copy, read + write bytes): ``tokens`` passes token-wise, ceil(codes / B) block-wise.
Prefill is not in the floor; the ratio therefore also shows what prefill and per-step overheads cost.

    python benchmarks/gpu_latency.py --json out/gpu_latency.json            # on a CUDA machine
    python benchmarks/gpu_latency.py --size tiny --device cpu --tokens 8     # plumbing check anywhere
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
# benchmarks/tokenizers.py would shadow the Hugging Face ``tokenizers`` package: drop this folder from
# sys.path and put the repository root there instead.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT / "benchmarks"]

from fast_vla_ros.policy.block_decoding import block_count, decode_action_blocks  # noqa: E402
from fast_vla_ros.policy.config import PALIGEMMA_3B, TINY, paligemma_config  # noqa: E402

SIZES = {"paligemma-3b": (PALIGEMMA_3B, 257_152), "tiny": (TINY, 1_400)}
PROMPT_TOKENS = 48  # "Task: <instruction>, State: <7 bins>;\nAction: " in PaliGemma's vocabulary


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def copy_bandwidth(device: torch.device, megabytes: int = 1024, repeats: int = 10) -> float:
    """Bytes per second moved by a device-to-device copy (read + write)."""
    source = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        target.copy_(source)
    synchronize(device)
    return 2 * source.numel() * repeats / (time.perf_counter() - start)


def build(size_name: str, device: torch.device, dtype: torch.dtype):
    from transformers import PaliGemmaForConditionalGeneration

    size, vocab_size = SIZES[size_name]
    config = paligemma_config(size, vocab_size, image_token_id=vocab_size - 1, pad_id=0, bos_id=2, eos_id=1)
    with torch.device(device):
        model = PaliGemmaForConditionalGeneration(config).to(dtype).eval()
    return model, config


def inputs(config, cameras: int, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """PaliGemma's layout: each camera's image tokens first, then the prompt, all in the prefix."""
    image_tokens = config.text_config.num_image_tokens * cameras
    generator = torch.Generator().manual_seed(0)
    prompt = torch.randint(3, config.text_config.vocab_size - 2, (1, PROMPT_TOKENS), generator=generator)
    ids = torch.cat([torch.full((1, image_tokens), config.image_token_index), prompt], dim=1).to(device)
    side = config.vision_config.image_size
    pixels = torch.rand((cameras, 3, side, side), generator=generator).to(device=device, dtype=dtype) * 2 - 1
    return {"input_ids": ids, "pixel_values": pixels, "token_type_ids": torch.zeros_like(ids)}


def time_generate(model, model_inputs: dict, tokens: int, repeats: int, device: torch.device, **options) -> list[float]:
    """ms per chunk over ``repeats`` runs, after two warm-up runs (compilation happens there)."""
    arguments = dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, **options)
    times = []
    with torch.inference_mode():
        for run in range(repeats + 2):
            synchronize(device)
            start = time.perf_counter()
            output = model.generate(**model_inputs, **arguments)
            synchronize(device)
            if run >= 2:
                times.append(1e3 * (time.perf_counter() - start))
    generated = output.shape[1] - model_inputs["input_ids"].shape[1]
    if generated != tokens:
        raise RuntimeError(f"generate produced {generated} tokens instead of {tokens}")
    return times


def time_block_decoding(
    model, model_inputs: dict, codes: int, block_size: int, repeats: int, device: torch.device
) -> tuple[list[float], int]:
    """ms per chunk (prefill + every block) and forward passes, after two warm-up runs."""
    vocab_size = model.config.text_config.vocab_size
    bias = torch.full((codes, vocab_size), float("-inf"), device=device)
    bias[:, vocab_size - 1 - 1024 : vocab_size - 1] = 0.0  # a 1024-code action range at the end of the vocabulary
    times, passes = [], 0
    for run in range(repeats + 2):
        synchronize(device)
        start = time.perf_counter()
        out = decode_action_blocks(model, model_inputs["input_ids"], model_inputs["pixel_values"], 3, bias, block_size)
        synchronize(device)
        passes = out.forward_passes
        if run >= 2:
            times.append(1e3 * (time.perf_counter() - start))
    if len(out.vocab_ids) != codes:
        raise RuntimeError(f"block decoding produced {len(out.vocab_ids)} codes instead of {codes}")
    return times, passes


def decoder_bytes(model) -> int:
    """Weights read for one decoded token: the language model and the (tied) output projection."""
    weights = {id(p): p for name, p in model.named_parameters() if "vision" not in name and "projector" not in name}
    return sum(p.numel() * p.element_size() for p in weights.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="paligemma-3b")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cameras", default="1,2,3", help="comma-separated camera counts")
    parser.add_argument("--tokens", type=int, default=60, help="action tokens decoded per chunk")
    parser.add_argument("--codes", type=int, default=15, help="FASTer codes per chunk (default 15)")
    parser.add_argument("--block-size", type=int, default=7, help="FASTer codes per forward pass (default 7)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model, config = build(args.size, device, dtype)
    bandwidth = copy_bandwidth(device)
    pass_ms = 1e3 * decoder_bytes(model) / bandwidth  # one read of the decoder's weights
    floor_ms = pass_ms * args.tokens
    block_path = f"faster_b{args.block_size}"
    block_floor_ms = pass_ms * block_count(args.codes, args.block_size)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    results: dict = {
        "device": name,
        "size": args.size,
        "dtype": str(dtype).removeprefix("torch."),
        "tokens": args.tokens,
        "decoder_gb": decoder_bytes(model) / 1e9,
        "copy_bandwidth_gb_s": bandwidth / 1e9,
        "bandwidth_floor_ms": floor_ms,
        "faster": {"codes": args.codes, "block_size": args.block_size, "bandwidth_floor_ms": block_floor_ms},
        "cameras": {},
    }
    print(f"{name}, {args.size} {results['dtype']}: decoder {results['decoder_gb']:.2f} GB, copy bandwidth "
          f"{results['copy_bandwidth_gb_s']:.0f} GB/s -> floor {floor_ms:.1f} ms for {args.tokens} tokens")
    print(f"FASTer {block_path}: {args.codes} codes, floor {block_floor_ms:.1f} ms "
          f"({block_count(args.codes, args.block_size)} weight reads)")
    print(f"{'cameras':>7} {'path':>16} {'ms p50':>8} {'ms min':>8} {'x floor':>8} {'passes':>7}")
    for cameras in (int(c) for c in args.cameras.split(",")):
        model_inputs = inputs(config, cameras, device, dtype)
        block_times, block_passes = time_block_decoding(
            model, model_inputs, args.codes, args.block_size, args.repeats, device
        )
        paths = {  # path -> (ms per chunk, forward passes, its floor)
            "generate": (time_generate(model, model_inputs, args.tokens, args.repeats, device), args.tokens, floor_ms),
            "static_compiled": (
                time_generate(model, model_inputs, args.tokens, args.repeats, device, cache_implementation="static"),
                args.tokens,
                floor_ms,
            ),
            block_path: (block_times, block_passes, block_floor_ms),
        }
        results["cameras"][str(cameras)] = {}
        for path, (times, passes, floor) in paths.items():
            p50 = statistics.median(times)
            results["cameras"][str(cameras)][path] = {
                "ms_p50": p50, "ms_min": min(times), "x_floor": p50 / floor, "forward_passes": passes
            }
            print(f"{cameras:>7} {path:>16} {p50:>8.1f} {min(times):>8.1f} {p50 / floor:>8.2f} {passes:>7}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
