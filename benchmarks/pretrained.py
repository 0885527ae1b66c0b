"""Load time, peak memory and per-chunk latency of a full-size pi0-FAST checkpoint through our loader.

No published weights can be downloaded here, so the benchmark writes a PaliGemma-3B-shaped network
(SigLIP-So400m + Gemma-2B, 257 152-id vocabulary) with random bfloat16 weights in LeRobot's
``pi0_fast`` layout under ``--out`` (once, about 6 GB, in a child process whose peak memory is reported;
reused afterwards), with the stand-in PaliGemma text tokenizer of the real size and the real FAST+ files
from ``../shared/data/fast_plus``. Each device is then measured in a fresh child process: ``load_s``
(``load_pi0_fast``, the loader ``policy_node`` uses, until ready), ``peak_memory_gb`` (the child's peak
resident memory, which also counts the file pages safetensors maps while loading),
``peak_anonymous_memory_gb`` (the part a machine must hold without swap) and, on CUDA, the allocator's
peak; then ``--warmup`` untimed chunks and ``--chunks`` timed ones, split into stages (preprocess,
prefill, decode, detokenize). Random weights never write the end marker, so every chunk decodes the
bound of ``--tokens`` action tokens (written into the checkpoint's ``max_decoding_steps`` each run) and
reports no chunk: the latency is that of a chunk of ``--tokens`` tokens, and ``decode_ms_per_token``
gives any other length (a long FAST chunk is about 60).

The defaults (2 timed chunks, no warm-up, 20 tokens) keep the CPU run under 25 minutes here: on a CPU
without AVX512-BF16 or AMX, bfloat16 matrix products are emulated and one 3 B prefill of ~560 positions
takes minutes, against which one-time start-up costs are negligible. On CUDA ask for more
(``--chunks 20 --warmup 2 --tokens 60``).

    python benchmarks/pretrained.py --json out/pretrained.json           # cpu, and cuda when present
    python benchmarks/pretrained.py --size tiny --chunks 5 --warmup 1     # plumbing check, seconds

On CPU the network runs in the file's precision, bfloat16, as ``policy_node`` runs it (``--cpu-dtype
float32`` would need 12 GB for the weights alone).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# benchmarks/tokenizers.py would shadow the Hugging Face ``tokenizers`` package (as in gpu_latency.py).
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from transformers import PaliGemmaForConditionalGeneration  # noqa: E402
from transformers.initialization import no_init_weights  # noqa: E402

from fast_vla_ros.policy.config import PALIGEMMA_3B, ModelSize, paligemma_config  # noqa: E402
from fast_vla_ros.policy.lerobot_layout_writer import CheckpointSpec, write_checkpoint  # noqa: E402
from fast_vla_ros.policy.paligemma_stand_in import PALIGEMMA_VOCAB_SIZE, stand_in_tokenizer  # noqa: E402

FAST_PLUS = REPO.parent / "shared" / "data" / "fast_plus"
TINY = ModelSize(28, 14, 72, 1, 1, 64, 32, 2, 1, 1, 256, 64)
SIZES = {"paligemma-3b": PALIGEMMA_3B, "tiny": TINY}
JOINTS = ("joint_1", "joint_2", "joint_3", "joint_4", "joint_5", "joint_6", "joint_7", "gripper")
CAMERAS = ("observation.images.base_0_rgb", "observation.images.left_wrist_0_rgb")
INSTRUCTION = "pick up the red cube and put it in the bowl"
FORCED_AND_END = 4  # "Action", ":", "▁" and the end marker count against max_decoding_steps


def write_random_checkpoint(directory: Path, size: ModelSize) -> None:
    """The network built without initialisation in bf16 and filled with N(0, 0.02) in place, one tensor at a
    time; safetensors writes from the tensors' memory, so the peak is one network (6 GB at full size)."""
    config = paligemma_config(size, PALIGEMMA_VOCAB_SIZE, PALIGEMMA_VOCAB_SIZE, 0, 2, 1)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with no_init_weights():
            model = PaliGemmaForConditionalGeneration(config)
        model.tie_weights()
    finally:
        torch.set_default_dtype(previous)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.02, generator=generator)
    rng = np.random.default_rng(0)
    dim = len(JOINTS)
    stats = {
        "observation.state": {"mean": rng.normal(0, 0.5, dim), "std": rng.uniform(0.2, 1.0, dim)},
        "action": {"mean": rng.normal(0, 0.05, dim), "std": rng.uniform(0.02, 0.1, dim)},
    }
    spec = CheckpointSpec(
        kind="pi0_fast",
        state_dim=dim,
        action_dim=dim,
        cameras=CAMERAS,
        image_size=size.image_size,
        stats=stats,
        chunk_size=10,
        n_action_steps=10,
    )
    staging = directory.with_name(directory.name + ".writing")
    write_checkpoint(staging, model, spec)
    (staging / "tokenizer").mkdir(exist_ok=True)  # where newer LeRobot saves it, searched first by the loader
    stand_in_tokenizer([INSTRUCTION]).save(str(staging / "tokenizer" / "tokenizer.json"))
    embodiment = {
        "state": list(JOINTS),
        "actions": list(JOINTS),
        "convention": "delta",
        "absolute_joints": ["gripper"],
        "control_rate_hz": 10,
        "cameras": {c: f"/camera/{c.rsplit('.', 1)[-1]}/image_raw" for c in CAMERAS},
    }
    (staging / "embodiment.yaml").write_text(yaml.safe_dump(embodiment))
    staging.rename(directory)


class AnonymousMemoryPeak:
    """Highest anonymous resident memory (``RssAnon``) seen while running, sampled every 50 ms.

    ``ru_maxrss`` also counts the file pages safetensors maps while loading; those are the page cache and
    are dropped under pressure, never swapped. What a machine must hold without swap is the anonymous part.
    """

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def current_kb() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, self.current_kb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak_kb, self.current_kb()) / 2**20


def set_decode_bound(directory: Path, tokens: int) -> None:
    """The checkpoint's ``max_decoding_steps`` (config.json, a few bytes) bounds each chunk to ``tokens``."""
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config["max_decoding_steps"] = tokens + FORCED_AND_END
    path.write_text(json.dumps(config, indent=4) + "\n")


def measure(directory: Path, device: str, dtype: str | None, chunks: int, warmup: int, threads: int) -> dict:
    """Run in a child process: load, ``warmup`` untimed chunks, then ``chunks`` timed chunks."""
    from fast_vla_ros.policy.pi0_fast_runtime import load_pi0_fast
    from fast_vla_ros.types import Observation

    torch.set_num_threads(threads)
    memory = AnonymousMemoryPeak()
    start = time.perf_counter()
    # The loader policy_node uses (load_policy dispatches to it); dtype None keeps the file's precision.
    policy = load_pi0_fast(
        directory,
        directory / "embodiment.yaml",
        fast_processor_dirs=[FAST_PLUS],
        device=device,
        dtype=getattr(torch, dtype) if dtype else None,
    )
    load_s = time.perf_counter() - start
    rng = np.random.default_rng(1)
    observation = Observation(
        images={c.rsplit(".", 1)[-1]: rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for c in CAMERAS},
        state=rng.normal(0, 0.3, len(JOINTS)),
        joint_names=JOINTS,
        instruction=INSTRUCTION,
        stamp=0.0,
    )
    for _ in range(warmup):
        policy.predict(observation)
    stages: dict[str, list[float]] = {}
    tokens, statuses = [], []
    for _ in range(chunks):
        result = policy.predict(observation)
        tokens.append(len(result.action_tokens))
        statuses.append(result.status)
        for stage, ms in result.timing.as_ms().items():
            stages.setdefault(stage, []).append(ms)
    totals = sorted(stages["total"])
    report = {
        "load_s": load_s,
        "peak_memory_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_anonymous_memory_gb": memory.stop(),
        "latency_ms_p50": statistics.median(totals),
        "latency_ms_p99": float(np.percentile(totals, 99)),
        "stages_ms_p50": {stage: statistics.median(values) for stage, values in stages.items()},
        "decode_ms_per_token": statistics.median(stages["decode"]) / max(1, statistics.median(tokens)),
        "latency_ms_each": stages["total"],
        "action_tokens": tokens,
        "statuses": sorted(set(statuses)),
        "prefix_tokens": int(policy._preprocess(observation)[1].shape[1]) + len(policy.prompt.forced_ids),
        "parameters": sum(p.numel() for p in policy.model.parameters()),
        "dtype": str(policy.dtype),
        "threads": torch.get_num_threads(),
        "chunks": chunks,
        "warmup_chunks": warmup,
    }
    if device.startswith("cuda"):
        report["cuda_peak_allocated_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return report


def write_in_child(directory: Path, size: str) -> dict:
    memory = AnonymousMemoryPeak()
    start = time.perf_counter()
    write_random_checkpoint(directory, SIZES[size])
    return {
        "write_s": time.perf_counter() - start,
        "peak_memory_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_anonymous_memory_gb": memory.stop(),
        "file_gb": (directory / "model.safetensors").stat().st_size / 2**30,
    }


def child(arguments: list[str]) -> dict:
    process = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, check=False)
    if process.returncode != 0:
        print(process.stderr[-3000:], file=sys.stderr)
        raise SystemExit(process.returncode)
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="paligemma-3b")
    parser.add_argument("--out", type=Path, help="checkpoint directory (default out/pretrained_<size>)")
    parser.add_argument("--tokens", type=int, default=20, help="action tokens per chunk (the decode bound)")
    parser.add_argument("--chunks", type=int, default=2, help="timed chunks per device")
    parser.add_argument("--warmup", type=int, default=0, help="untimed chunks before them")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (CPU)")
    parser.add_argument(
        "--cpu-dtype", choices=["bfloat16", "float32"], help="CPU precision (default: the file's, bfloat16)"
    )
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    directory = args.out or REPO / "out" / f"pretrained_{args.size}"
    if args.child == "write":
        print(json.dumps(write_in_child(directory, args.size)))
        return 0
    if args.child:
        dtype = args.cpu_dtype if args.child == "cpu" else None
        print(json.dumps(measure(directory, args.child, dtype, args.chunks, args.warmup, args.threads)))
        return 0
    results: dict = {}
    common = ["--size", args.size, "--out", str(directory)]
    if not directory.is_dir():
        results["written"] = child([*common, "--child", "write"])
        print(f"wrote {directory} in {results['written']['write_s']:.0f} s")
    set_decode_bound(directory, args.tokens)
    for device in args.devices.split(","):
        options = ["--chunks", str(args.chunks), "--warmup", str(args.warmup), "--threads", str(args.threads)]
        if args.cpu_dtype:
            options += ["--cpu-dtype", args.cpu_dtype]
        results[device] = child([*common, "--child", device, *options])
    cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" :\t")
    print(f"{args.size} pi0_fast checkpoint, {args.tokens} action tokens per chunk, CPU {cpu}")
    print(
        f"{'device':8} {'load s':>7} {'peak GB':>8} {'anon GB':>8} {'p50 ms':>9} {'p99 ms':>9} "
        f"{'prefill':>9} {'decode':>9} {'ms/token':>9}  params"
    )
    for device in args.devices.split(","):
        r = results[device]
        stages = r["stages_ms_p50"]
        print(
            f"{device:8} {r['load_s']:7.1f} {r['peak_memory_gb']:8.2f} {r['peak_anonymous_memory_gb']:8.2f} "
            f"{r['latency_ms_p50']:9.0f} {r['latency_ms_p99']:9.0f} {stages['prefill']:9.0f} {stages['decode']:9.0f} "
            f"{r['decode_ms_per_token']:9.0f}  {r['parameters']:,} ({r['dtype']}, {r['threads']} threads)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {**results, "cpu_model": cpu, "size": args.size, "tokens_per_chunk": args.tokens}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
