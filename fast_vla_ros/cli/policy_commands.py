"""``fast-vla train``: fit normalization and an action tokenizer on demonstrations, then train a policy.

The last ``--validation-episodes`` episodes of the data set (of the last one, when ``--data`` is given
several times) are held out for the validation loss and never seen by the fits. Running the same
command again on the same ``--out`` continues a run that was interrupted (weights, optimizer moments,
step and schedule come from the checkpoint).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from pathlib import Path

import numpy as np

from fast_vla_ros.cli import CommandError
from fast_vla_ros.execution.config import REPLAN_PERIOD_S


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a VLA policy on demonstrations (fits normalization and tokenizer first)",
        description="Train a PaliGemma-layout VLA policy on a data set written by `fast-vla sim-demos`.",
    )
    train.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        help="data set directory (LeRobot v3 layout); repeat it to train on several as one, e.g. expert and "
        "recovery demonstrations (validation episodes come from the end of the last)",
    )
    train.add_argument(
        "--tokenizer", choices=("fast", "binning", "faster"), default="fast", help="action tokenizer (default fast)"
    )
    train.add_argument(
        "--block-size", type=int, default=7, help="faster: codes decoded per forward pass (default 7, as the paper)"
    )
    train.add_argument("--tokenizer-steps", type=int, help="faster: tokenizer training steps (default: its own)")
    train.add_argument("--out", type=Path, required=True, help="checkpoint directory (resumed when it holds a run)")
    train.add_argument(
        "--init-from",
        type=Path,
        help="fine-tune this policy directory ('default': the shipped one) instead of starting from scratch: its "
        "network, vocabulary (extended by the data's new words), horizon and cameras are kept",
    )
    train.add_argument(
        "--init-statistics",
        choices=("keep", "refit"),
        default="keep",
        help="--init-from: keep the policy's normalization statistics (default: what the network learned stays "
        "meaningful) or refit them on the new data (when it lies well outside the policy's range)",
    )
    train.add_argument(
        "--init-tokenizer",
        choices=("keep", "refit"),
        default="keep",
        help="--init-from: keep the policy's action tokenizer (default) or refit one of the same kind (its action "
        "embeddings start over); the reconstruction error of both on the new data is printed",
    )
    train.add_argument(
        "--freeze-vision", action="store_true", help="keep the vision tower's weights fixed (for fine-tuning)"
    )
    train.add_argument("--horizon", type=int, default=50, help="chunk length in control steps (default 50 = 1 s)")
    train.add_argument("--stride", type=int, default=2, help="frames between training observations (default 2)")
    train.add_argument(
        "--interleave",
        type=int,
        default=64,
        help="episodes whose frames are shuffled together (default 64; their JPEGs are held in memory)",
    )
    train.add_argument(
        "--start-frames",
        type=int,
        default=25,
        help="each episode's first N frames (before the arm's motion gives the target away) are visited "
        "--start-repeats more times per pass (default 25 = 0.5 s at 50 Hz)",
    )
    train.add_argument("--start-repeats", type=int, default=2, help="see --start-frames (default 2; 0 turns it off)")
    train.add_argument(
        "--state-noise",
        type=float,
        default=0.15,
        help="std of noise on the prompt's normalized joint state ([-1, 1] per joint) while training (default "
        "0.15; 0 turns it off): keeps the model from recognising episodes by their start pose",
    )
    train.add_argument(
        "--moving-state-noise",
        type=float,
        help="the same std for frames after each episode's first --start-frames, once the arm moves and its "
        "state says how far the motion has gone (default: --state-noise throughout)",
    )
    train.add_argument(
        "--lookahead-steps",
        type=int,
        default=200,
        help="also regress the next N control steps of actions (every --lookahead-stride-th) from the prompt's "
        "last hidden state, a training-only head that teaches a small model where the arm is heading "
        "(default 200 = 4 s at 50 Hz; 0 turns it off)",
    )
    train.add_argument("--lookahead-stride", type=int, default=10, help="see --lookahead-steps (default 10)")
    train.add_argument(
        "--lookahead-weight", type=float, default=1.0, help="lookahead mean squared error weight (default 1)"
    )
    train.add_argument(
        "--colour-patch-weight",
        type=float,
        default=0.0,
        help="weight of a training-only head that labels every image patch with the object colours it shows "
        "and where (labels from the pixels' hues); the shipped default uses 1, with --named-colour-weight 1 "
        "(docs/policy.md) (default 0: off)",
    )
    train.add_argument(
        "--named-colour-weight",
        type=float,
        default=0.0,
        help="weight of a training-only head that labels every image token, after the decoder, with whether "
        "its patch shows the colour the instruction names; the shipped default uses 1 (default 0: off)",
    )
    train.add_argument("--steps", type=int, default=3000, help="optimizer steps (default 3000)")
    train.add_argument("--batch-size", type=int, default=32, help="samples per step (default 32)")
    train.add_argument("--learning-rate", type=float, default=5e-4, help="peak AdamW learning rate (default 5e-4)")
    train.add_argument("--validation-episodes", type=int, default=2, help="episodes held out (default 2)")
    train.add_argument("--validate-every", type=int, default=250, help="steps between validations (default 250)")
    train.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)")
    train.add_argument(
        "--convention", choices=("absolute", "delta"), default="absolute", help="joint targets (default absolute)"
    )
    train.add_argument(
        "--absolute-joints", default="", help="comma-separated joints kept absolute under --convention delta"
    )
    train.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: the forward pass under bfloat16 autocast, weights and optimizer in float32; 1.7x the steps "
        "per hour on a CPU with AVX512-BF16 or AMX (the shipped default's recipe), emulated and slower on one "
        "without (default fp32)",
    )
    train.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cpu (default) or cuda; under `accelerate launch` each process takes its own GPU (docs/data.md)",
    )
    train.add_argument("--seed", type=int, default=0, help="model initialisation and data order (default 0)")
    train.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice; 1 on a busy machine)"
    )
    train.set_defaults(handler=train_policy)

    evaluate = subparsers.add_parser(
        "eval",
        help="closed-loop rollouts of a policy in the simulator, without ROS",
        description="Run seeded simulator episodes per task family: policy -> chunk -> executor -> simulator.",
    )
    evaluate.add_argument("--policy", type=Path, required=True, help="policy checkpoint directory")
    evaluate.add_argument("--tasks", default="touch,push,pick", help="comma-separated task families")
    evaluate.add_argument("--episodes", type=int, default=10, help="episodes per task family (default 10)")
    evaluate.add_argument(
        "--seed", type=int, default=100000, help="seed of the first episode (default 100000: clear of sim-demos seeds)"
    )
    evaluate.add_argument("--max-seconds", type=float, default=10.0, help="simulated time limit (default 10)")
    evaluate.add_argument(
        "--replan-period",
        type=float,
        default=REPLAN_PERIOD_S,
        help=f"s between observations that start new chunks (default {REPLAN_PERIOD_S})",
    )
    evaluate.add_argument("--image-size", type=int, default=224, help="camera frames, pixels (default 224)")
    evaluate.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    evaluate.add_argument("--json", type=Path, help="write the summary as JSON to this path")
    evaluate.add_argument(
        "--video-dir",
        type=Path,
        help="where the first episode of each family goes as MP4 + PNG contact sheet (default: the --json "
        "folder, else out/eval)",
    )
    evaluate.set_defaults(handler=evaluate_policy)


def _split(episodes: int, held_out: int) -> tuple[list[int], list[int]]:
    if held_out < 0 or held_out >= episodes:
        raise CommandError(f"--validation-episodes must be in [0, {episodes - 1}] for {episodes} episodes")
    return list(range(episodes - held_out)), list(range(episodes - held_out, episodes))


def train_policy(args: argparse.Namespace) -> int:
    positive = ("horizon", "stride", "interleave", "steps", "batch_size", "validate_every", "checkpoint_every")
    for name in (*positive, "block_size"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("start_frames", "start_repeats", "state_noise", "moving_state_noise"):
        if (getattr(args, name) or 0) < 0:
            raise CommandError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    from fast_vla_ros.data.episode_dataset import EpisodeDataset
    from fast_vla_ros.data.training_chunks import TrainingChunks
    from fast_vla_ros.policy.config import PolicyConfig
    from fast_vla_ros.tokenizers import TOKENIZER_KINDS
    from fast_vla_ros.training.train_loop import TrainingConfig, has_training_state, new_policy_parts, train

    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)

    try:
        schedule = TrainingConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            validate_every=args.validate_every,
            checkpoint_every=args.checkpoint_every,
            state_noise=args.state_noise,
            moving_state_noise=args.moving_state_noise,
            lookahead_steps=args.lookahead_steps,
            lookahead_stride=args.lookahead_stride,
            lookahead_weight=args.lookahead_weight,
            colour_patch_weight=args.colour_patch_weight,
            named_colour_weight=args.named_colour_weight,
            precision=args.precision,
            freeze_vision=args.freeze_vision,
            seed=args.seed,
        )
    except ValueError as error:
        raise CommandError(str(error)) from error
    missing = [str(d) for d in args.data if not d.is_dir()]
    if missing:
        raise CommandError(f"data set directory not found: {', '.join(missing)}")
    try:
        dataset = EpisodeDataset(args.data, cached_episodes=args.interleave)
    except (OSError, KeyError, ValueError) as error:
        names = ", ".join(str(d) for d in args.data)
        raise CommandError(f"{names} is not a readable data set: {error}") from error
    # The frames before the arm moves, in the data set's time (see TrainingConfig.moving_state_noise).
    schedule = dataclasses.replace(schedule, start_seconds=args.start_frames / dataset.fps)
    train_episodes, validation_episodes = _split(len(dataset), args.validation_episodes)
    if args.init_from is not None:
        args.init_from = _policy_directory(args.init_from)
        args.horizon = PolicyConfig.load(args.init_from / "policy_config.json").horizon
    chunks = TrainingChunks(
        dataset,
        max(args.horizon, args.lookahead_steps),
        stride=args.stride,
        shuffle=True,
        interleave=args.interleave,
        start_frames=args.start_frames,
        start_repeats=args.start_repeats,
        seed=args.seed,
        episodes=train_episodes,
    )
    validation = (
        TrainingChunks(dataset, args.horizon, stride=args.stride * 5, episodes=validation_episodes)
        if validation_episodes
        else None
    )
    parts = None
    if has_training_state(args.out):
        print(f"resuming the run in {args.out}")
    else:
        states, targets, instructions = [], [], []
        for episode in train_episodes:
            rows = dataset.frame_rows(episode)
            for frame in range(0, dataset.episodes[episode].length, args.stride):
                states.append(dataset.state[rows][frame])
                targets.append(chunks.chunk(episode, frame).actions[: args.horizon])
            instructions.append(dataset.episodes[episode].instruction)
        config = PolicyConfig(
            cameras=dataset.cameras,
            horizon=args.horizon,
            action_tokenizer=args.tokenizer,
            decode_block_size=args.block_size if args.tokenizer == "faster" else None,
        )
        fit = TOKENIZER_KINDS[args.tokenizer].fit
        if args.tokenizer == "faster":  # joint groups are chosen by joint name
            steps = {} if args.tokenizer_steps is None else {"steps": args.tokenizer_steps}
            fit = functools.partial(fit, joint_names=dataset.joint_names, **steps)
        absolute = tuple(j for j in args.absolute_joints.split(",") if j)
        if args.init_from is not None:
            parts = _fine_tuning_parts(args, states, targets, instructions, dataset, chunks.dt)
            _, history = train(chunks, args.out, schedule, parts, validation, device=args.device)
            print(f"wrote {args.out} after {history.step} steps, fine-tuned from {args.init_from}")
            return 0
        try:
            parts = new_policy_parts(
                np.stack(states),
                np.stack(targets),
                instructions,
                dataset.joint_names,
                chunks.dt,
                fit,
                config,
                convention=args.convention,
                absolute_joints=absolute,
                seed=args.seed,
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        # Bound decoding at 1.25x the longest training chunk: a model that runs past it has lost the thread.
        normalized = np.stack(
            [parts.action_space.normalize_targets(t, s) for t, s in zip(targets, states, strict=True)]
        )
        longest = max(len(tokens) for tokens in parts.action_tokenizer.encode(normalized))
        parts.config = dataclasses.replace(config, max_action_tokens=int(longest * 1.25) + 4)
        print(
            f"fitted on {len(states)} chunks of {len(train_episodes)} episodes: {args.tokenizer} tokenizer with "
            f"{parts.action_tokenizer.vocab_size} tokens (longest chunk {longest}), "
            f"vocabulary {parts.vocab.vocab_size} ids"
        )
    _, history = train(chunks, args.out, schedule, parts, validation, device=args.device)
    final = history.validation_loss[-1][1] if history.validation_loss else history.train_loss[-1][1]
    kind = "validation" if validation else "train"
    print(f"wrote {args.out} after {history.step} steps (final {kind} loss {final:.4f})")
    return 0


def _policy_directory(path: Path) -> Path:
    from fast_vla_ros.package_files import package_file

    directory = package_file("models/default") if str(path) == "default" else path
    if not (directory / "policy_config.json").is_file():
        raise CommandError(f"--init-from {path}: not a policy directory (no policy_config.json)")
    return directory


def _fine_tuning_parts(args, states, targets, instructions, dataset, dt):
    """The --init-from policy readied for the data set, with what was kept, refit and added printed."""
    from fast_vla_ros.policy.config import PolicyConfig
    from fast_vla_ros.policy.errors import CheckpointError
    from fast_vla_ros.tokenizers import TOKENIZER_KINDS
    from fast_vla_ros.training.fine_tuning import fine_tuning_parts

    kind = PolicyConfig.load(args.init_from / "policy_config.json").action_tokenizer
    fit = TOKENIZER_KINDS[kind].fit
    if kind == "faster":
        fit = functools.partial(fit, joint_names=dataset.joint_names)
    missing = set(PolicyConfig.load(args.init_from / "policy_config.json").cameras) - set(dataset.cameras)
    if missing:
        raise CommandError(f"the policy needs cameras {sorted(missing)}, which {args.data} does not hold")
    try:
        parts, report = fine_tuning_parts(
            args.init_from,
            np.stack(states),
            np.stack(targets),
            instructions,
            dataset.joint_names,
            dt,
            fit,
            statistics=args.init_statistics,
            tokenizer=args.init_tokenizer,
        )
    except (ValueError, CheckpointError) as error:
        raise CommandError(str(error)) from error
    print(f"fine-tuning {args.init_from} on {len(states)} chunks:")
    for line in report.lines():
        print(f"  {line}")
    return parts


def evaluate_policy(args: argparse.Namespace) -> int:
    if args.episodes < 1 or args.max_seconds <= 0 or args.replan_period <= 0:
        raise CommandError("--episodes, --max-seconds and --replan-period must be positive")
    import json

    import torch
    from tqdm import tqdm

    from fast_vla_ros.evaluation.closed_loop import FrameRecorder, run_episode, summarize, write_episode_media
    from fast_vla_ros.policy.checkpoint import load_policy
    from fast_vla_ros.policy.errors import CheckpointError
    from fast_vla_ros.sim.simulator import ArmSimulator
    from fast_vla_ros.sim.tasks import task_family

    tasks = [t for t in args.tasks.split(",") if t]
    for task in tasks:
        try:
            task_family(task)
        except KeyError as error:
            raise CommandError(str(error).strip("\"'")) from error
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        policy = load_policy(args.policy)
    except (CheckpointError, FileNotFoundError) as error:
        raise CommandError(str(error)) from error
    policy.warmup()
    video_dir = args.video_dir or (args.json.parent if args.json else Path("out/eval"))
    sim = ArmSimulator(image_size=(args.image_size, args.image_size))
    results = []
    try:
        with tqdm(total=len(tasks) * args.episodes, unit="episode", desc="eval") as bar:
            for task in tasks:
                for episode in range(args.episodes):
                    recorder = FrameRecorder(sim.camera_names) if episode == 0 else None
                    result = run_episode(
                        policy,
                        sim,
                        task,
                        args.seed + episode,
                        policy.config.cameras,
                        args.max_seconds,
                        args.replan_period,
                        on_tick=recorder,
                    )
                    results.append(result)
                    if recorder is not None:
                        video, _ = write_episode_media(video_dir, result, recorder.frames)
                        bar.write(f"{task}: {video} (and a .png contact sheet)")
                    bar.update(1)
    finally:
        sim.close()
    summary = summarize(results)
    for task, rate in summary["success"].items():
        print(f"{task:>8s}  success {rate:.2f}")
    print(
        f"    mean  success {summary['success_mean']:.2f}; latency p50 {summary['latency_ms_p50']:.1f} ms, "
        f"p99 {summary['latency_ms_p99']:.1f} ms; {summary['tokens_mean']:.1f} tokens per chunk; "
        f"{summary['failed_predictions']} predictions without a chunk"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0
