"""``fast-vla sim-demos`` and ``fast-vla sim-render``: record expert demonstrations, and look at episodes.

The data set layout is described in docs/simulator.md. Episode ``i`` of ``sim-demos --seed S`` replays
with ``sim-render --task <its task> --seed S+i`` (the episode's seed is also stored in meta/episodes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fast_vla_ros.cli import CommandError

ALL_TASKS = ("touch", "push", "pick")
DEFAULT_VIDEO = Path("out") / "sim_episode.mp4"


def register(subparsers: argparse._SubParsersAction) -> None:
    demos = subparsers.add_parser(
        "sim-demos",
        help="record scripted-expert demonstrations in the MuJoCo simulator",
        description="Run the scripted expert on seeded episodes and write them as a LeRobot v3 data set "
        "(parquet + meta JSON, camera frames as JPEG). Deterministic by --seed.",
    )
    demos.add_argument("--tasks", default=",".join(ALL_TASKS), help=f"comma-separated task families, cycled "
                       f"over episodes (default {','.join(ALL_TASKS)})")  # fmt: skip
    demos.add_argument("--episodes", type=int, default=30, help="episodes to write (default 30)")
    demos.add_argument("--seed", type=int, default=0, help="seed of episode 0; episode i uses seed+i (default 0)")
    demos.add_argument("--out", type=Path, required=True, help="new (or empty) output directory")
    demos.add_argument("--image-size", type=int, default=224, help="square camera frames, pixels (default 224)")
    demos.add_argument("--image-format", choices=("jpeg", "png"), default="jpeg", help="frame encoding (default jpeg)")
    demos.add_argument("--workers", type=int, default=1, help="processes simulating episodes in parallel (default 1)")
    demos.add_argument(
        "--recovery",
        action="store_true",
        help="record recovery episodes: the arm is first driven, unrecorded, to a stop a few cm beside the "
        "expert's plan, and the expert's correction is recorded from there (docs/policy.md)",
    )
    demos.set_defaults(handler=sim_demos)

    render = subparsers.add_parser(
        "sim-render",
        help="write an MP4/GIF and a PNG contact sheet of one episode",
        description="Render one episode, either a live expert rollout (--task, --seed) or a recorded one "
        "(--dataset, --episode), with the cameras side by side. The contact sheet is written next to the "
        "video as <name>_sheet.png.",
    )
    render.add_argument("--task", help=f"task family of a live expert episode ({', '.join(ALL_TASKS)})")
    render.add_argument("--seed", type=int, default=0, help="seed of the live episode (default 0)")
    render.add_argument("--dataset", type=Path, help="a data set written by sim-demos")
    render.add_argument("--episode", type=int, default=0, help="episode index in --dataset (default 0)")
    render.add_argument("--camera", action="append", help="camera to show (repeatable; default: all)")
    render.add_argument("--image-size", type=int, default=224, help="live episodes: frame size (default 224)")
    render.add_argument("--out", type=Path, default=DEFAULT_VIDEO, help=f".mp4 or .gif (default {DEFAULT_VIDEO})")
    render.set_defaults(handler=sim_render)


def parse_tasks(text: str) -> list[str]:
    """Comma-separated task names, checked against the known families."""
    from fast_vla_ros.sim.tasks import TASK_FAMILIES

    tasks = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASK_FAMILIES]
    if not tasks or unknown:
        raise CommandError(f"unknown task {unknown or text!r}; known tasks are {', '.join(sorted(TASK_FAMILIES))}")
    return tasks


def sim_demos(args: argparse.Namespace) -> int:
    tasks = parse_tasks(args.tasks)
    if args.episodes < 1:
        raise CommandError(f"--episodes must be at least 1, got {args.episodes}")
    if args.workers < 1:
        raise CommandError(f"--workers must be at least 1, got {args.workers}")
    if args.image_size < 16:
        raise CommandError(f"--image-size must be at least 16 pixels, got {args.image_size}")
    _check_output_directory(args.out)

    from tqdm import tqdm

    from fast_vla_ros.sim.demonstrations import record_demonstrations

    with tqdm(total=args.episodes, unit="episode", desc="sim-demos") as bar:
        skipped = record_demonstrations(
            args.out,
            tasks,
            args.episodes,
            args.seed,
            image_size=(args.image_size, args.image_size),
            image_format=args.image_format,
            progress=bar.update,
            workers=args.workers,
            recovery=args.recovery,
        )
    failures = sum(skipped.values())
    note = f" ({failures} failed attempts skipped: {skipped})" if failures else ""
    kind = "recovery episodes" if args.recovery else "episodes"
    print(f"wrote {args.episodes} {kind} of {', '.join(tasks)} to {args.out}{note}")
    return 0


def sim_render(args: argparse.Namespace) -> int:
    if (args.task is None) == (args.dataset is None):
        raise CommandError("give either --task (a live expert episode) or --dataset (a recorded one)")
    if args.out.suffix not in (".mp4", ".gif"):
        raise CommandError(f"--out must end in .mp4 or .gif, got {args.out}")
    if args.out.parent.exists() and not args.out.parent.is_dir():
        raise CommandError(f"cannot write into {args.out.parent}: not a directory")

    import imageio.v3 as iio

    from fast_vla_ros.evaluation import episode_media
    from fast_vla_ros.sim.arm_model import CAMERAS

    cameras = tuple(args.camera) if args.camera else None
    if args.task is not None:
        parse_tasks(args.task)
        unknown = sorted(set(cameras or ()) - set(CAMERAS))
        if unknown:
            raise CommandError(f"unknown camera {unknown}; cameras are {', '.join(CAMERAS)}")
        size = (args.image_size, args.image_size)
        frames, instruction, success = episode_media.expert_frames(args.task, args.seed, cameras or CAMERAS, size)
        summary = f"{args.task} seed {args.seed}: '{instruction}', expert {'succeeded' if success else 'FAILED'}"
    else:
        try:
            frames, instruction = episode_media.recorded_frames(args.dataset, args.episode, cameras)
        except (FileNotFoundError, ValueError, IndexError, KeyError) as error:
            raise CommandError(str(error)) from error
        summary = f"{args.dataset} episode {args.episode}: '{instruction}'"
    episode_media.write_video(args.out, frames)
    sheet = args.out.with_name(args.out.stem + "_sheet.png")
    iio.imwrite(sheet, episode_media.contact_sheet(frames))
    print(f"{summary}; {len(frames)} frames -> {args.out}, {sheet}")
    return 0


def _check_output_directory(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise CommandError(f"--out {out} is not empty; choose a new directory")
    parent = out.parent if not out.exists() else out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CommandError(f"cannot create {out}: {parent} is not a directory")
