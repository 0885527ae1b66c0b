"""``fast-vla import-bag``: a rosbag2 recording into the episode data set the recorder writes (docs/data.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fast_vla_ros.cli import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    bag = subparsers.add_parser(
        "import-bag",
        help="turn a rosbag2 recording (MCAP or sqlite3) into a LeRobot v3 data set",
        description="Read a rosbag2 recording with the rosbags library (no ROS install needed), split it into "
        "episodes by a topic or by pauses in the commands, and write them as recorder_node would.",
    )
    bag.add_argument("bag", type=Path, help="the bag directory (or a single .mcap / .db3 file)")
    bag.add_argument(
        "--config",
        type=Path,
        required=True,
        help="topic mapping: recorder_node's parameter file (e.g. config/recording_sim.yaml)",
    )
    bag.add_argument("--out", type=Path, required=True, help="data set directory (new, or continued with --append)")
    bag.add_argument("--append", action="store_true", help="add the episodes to an existing data set at --out")
    bag.set_defaults(handler=import_bag_command)


def import_bag_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fast_vla_ros.data.bag_import import find_episodes, import_bag
    from fast_vla_ros.data.recording_config import load_recording_config

    try:
        config = load_recording_config(args.config)
        episodes = find_episodes(args.bag, config)
        with tqdm(total=len(episodes), unit="episode", desc="import-bag") as bar:
            report = import_bag(args.bag, config, args.out, append=args.append, progress=bar.update)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise CommandError(str(error)) from error
    for reason in report.skipped:
        print(f"skipped {reason}")
    rows = sum(health.rows for _, health in report.written)
    dropped = sum(health.frames_dropped for _, health in report.written)
    print(
        f"wrote {len(report.written)} of {len(episodes)} episodes ({rows} rows, {dropped} dropped frames) to {args.out}"
    )
    return 0 if report.written or not episodes else 2
