"""Block-wise against token-wise decoding of the same network: forward passes and latency per chunk.

    python benchmarks/block_decoding.py [--policy DIR] [--blocks 1,7] [--chunks 50] [--json out/block_decoding.json]

With ``--policy`` (a checkpoint trained with ``fast-vla train --tokenizer faster``) the trained model and
its tokenizer are used; without it a randomly initialised TINY model over a FASTer code grid of the
default shape (15 codes) is built, since latency depends on shapes, not on weights. Each block size
decodes the same observations with the same weights; block size 1 is token-wise decoding (one code per
forward pass). Latency is prefill + decode of one chunk at batch 1 on one CPU thread (or the GPU, when
present), p50 and p99 over ``--chunks`` chunks after two warm-up chunks.
"""

import sys
from pathlib import Path

# benchmarks/tokenizers.py would shadow the Hugging Face ``tokenizers`` package: drop this folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fast_vla_ros.policy.block_decoding import decode_action_blocks, position_bias  # noqa: E402
from fast_vla_ros.policy.runtime import select_device  # noqa: E402
from fast_vla_ros.tokenizers.evaluation import format_table  # noqa: E402


def _default_parts():
    from fast_vla_ros.policy.config import TINY
    from fast_vla_ros.policy.model import build_model
    from fast_vla_ros.policy.vocabulary import PromptVocabulary
    from fast_vla_ros.tokenizers.faster import FasterConfig, FasterTokenizer

    tokenizer = FasterTokenizer(
        FasterConfig(horizon=50, action_dim=7, groups=((0, 1, 2), (3, 4, 5), (6,)), patch_steps=50, num_quantizers=5)
    )
    vocab = PromptVocabulary.build(["touch the red cube"], tokenizer.vocab_size)
    return build_model(vocab, TINY), vocab, tokenizer, ("scene", "wrist"), "touch the red cube"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, help="a FASTer policy checkpoint (default: random TINY model)")
    parser.add_argument("--blocks", default="1,7", help="block sizes to compare (default 1,7; 1 = token-wise)")
    parser.add_argument("--chunks", type=int, default=50, help="chunks per block size (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from fast_vla_ros.policy.images import to_pixels
    from fast_vla_ros.policy.model import image_size, image_tokens_per_camera
    from fast_vla_ros.policy.prompt import encode_prefix

    if args.policy is not None:
        from fast_vla_ros.policy.checkpoint import load_checkpoint

        parts = load_checkpoint(args.policy)
        model, vocab, tokenizer, cameras = parts.model, parts.vocab, parts.action_tokenizer, parts.config.cameras
        instruction = "touch the red cube"
    else:
        model, vocab, tokenizer, cameras, instruction = _default_parts()
    device, dtype = select_device()
    model = model.to(device=device, dtype=dtype).eval()
    bias = position_bias(vocab, tokenizer.allowed_token_ranges(), device)
    codes = bias.shape[0]
    size = image_size(model.config)
    rng = np.random.default_rng(0)
    prefix = encode_prefix(
        vocab, instruction, np.zeros(tokenizer.config.action_dim), image_tokens_per_camera(model.config) * len(cameras)
    )
    prefix_ids = torch.tensor([prefix.ids], device=device)

    results: dict[str, dict[str, float]] = {}
    for block in [int(b) for b in args.blocks.split(",") if b]:
        latencies, passes = [], set()
        for i in range(args.chunks + 2):
            frames = [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in cameras]
            pixels = to_pixels(frames, size).to(device=device, dtype=dtype)
            out = decode_action_blocks(model, prefix_ids, pixels, vocab.end_of_action_id, bias, block)
            passes.add(out.forward_passes)
            if i >= 2:
                latencies.append(out.prefill_s + out.decode_s)
        ms = np.array(latencies) * 1e3
        results[str(block)] = {
            "block_size": block,
            "codes": codes,
            "forward_passes": float(max(passes)),
            "bound": math.ceil(codes / block) + 1,
            "latency_ms_p50": float(np.percentile(ms, 50)),
            "latency_ms_p99": float(np.percentile(ms, 99)),
        }
    rows = [
        [f"B={r['block_size']}" + (" (token-wise)" if r["block_size"] == 1 else ""), r["codes"],
         int(r["forward_passes"]), r["bound"], f"{r['latency_ms_p50']:.2f}", f"{r['latency_ms_p99']:.2f}"]
        for r in results.values()
    ]  # fmt: skip
    where = f"{device.type}, {args.threads} thread(s) of {os.cpu_count()} CPUs" if device.type == "cpu" else "cuda"
    print(f"block decoding, {'checkpoint ' + str(args.policy) if args.policy else 'random TINY model'} ({where})")
    print(format_table(["decoding", "codes", "passes", "ceil(N/B)+1", "p50 ms", "p99 ms"], rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
