"""The on-disk layout of an episode data set: LeRobot v3 (parquet tables + metadata JSON).

Shared by the writer and the reader so the two cannot drift apart. Frames are compressed images in
the parquet rows (LeRobot's ``dtype: image`` features, struct of ``bytes`` and ``path``) rather than
MP4 files: training samples frames at random, and decoding one JPEG is far cheaper than seeking in a
video. See docs/simulator.md for the full description.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk directory, as LeRobot
DATA_FILE_SIZE_MB = 100  # a data file is closed once its frames pass this size
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"

STATE = "observation.state"  # joint positions, rad (gripper: m of finger travel)
VELOCITY = "observation.velocity"  # joint velocities, rad/s (m/s)
ACTION = "action"  # commanded absolute joint position targets
IMAGE_PREFIX = "observation.images."
VECTOR_FEATURES = (STATE, VELOCITY, ACTION)

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def image_feature(camera: str) -> str:
    return IMAGE_PREFIX + camera


def frame_schema(cameras: tuple[str, ...], dof: int) -> pa.Schema:
    vector = pa.list_(pa.float32(), dof)
    return pa.schema(
        [(image_feature(c), IMAGE_TYPE) for c in cameras]
        + [(name, vector) for name in VECTOR_FEATURES]
        + [
            ("timestamp", pa.float32()),
            ("frame_index", pa.int64()),
            ("episode_index", pa.int64()),
            ("index", pa.int64()),
            ("task_index", pa.int64()),
        ]
    )


def features(cameras: tuple[str, ...], image_size: tuple[int, int], joint_names: tuple[str, ...]) -> dict:
    """The ``features`` block of info.json, in LeRobot's vocabulary."""
    height, width = image_size
    out: dict[str, dict] = {
        image_feature(c): {"dtype": "image", "shape": [height, width, 3], "names": ["height", "width", "channels"]}
        for c in cameras
    }
    for name in VECTOR_FEATURES:
        out[name] = {"dtype": "float32", "shape": [len(joint_names)], "names": list(joint_names)}
    for name, dtype in (
        ("timestamp", "float32"),
        ("frame_index", "int64"),
        ("episode_index", "int64"),
        ("index", "int64"),
        ("task_index", "int64"),
    ):
        out[name] = {"dtype": dtype, "shape": [1], "names": None}
    return out


def read_info(root: Path) -> dict:
    """info.json of the data set at ``root``; a clear error when ``root`` is not one."""
    path = root / INFO_PATH
    if not path.is_file():
        raise FileNotFoundError(f"not an episode data set: {path} is missing")
    info = json.loads(path.read_text())
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise ValueError(f"{path}: expected codebase_version {CODEBASE_VERSION}, got {info.get('codebase_version')}")
    return info
