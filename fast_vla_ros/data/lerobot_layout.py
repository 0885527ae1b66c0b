"""The on-disk layout of an episode data set: LeRobot v3 (parquet tables + metadata JSON).

Shared by the writer and the reader so the two cannot drift apart. Frames are compressed images in
the parquet rows (LeRobot's ``dtype: image`` features, struct of ``bytes`` and ``path``) rather than
MP4 files: training samples frames at random, and decoding one JPEG is far cheaper than seeking in a
video. Paths, file names and metadata columns follow LeRobot's ``lerobot/datasets/utils.py`` and
``dataset_metadata.py`` of release v0.6.1 (codebase_version "v3.0"); docs/data.md has the file tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk directory, as LeRobot
DATA_FILE_SIZE_MB = 100  # LeRobot's limit on a data file; ours hold one episode each, far below it
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
# One file holds every episode's row (LeRobot starts a second one past 100 MB, far beyond ours).
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

# Columns of meta/episodes that locate an episode; any other column is the episode's own metadata.
EPISODE_LOCATION_COLUMNS = frozenset(
    {
        "episode_index",
        "tasks",
        "length",
        "data/chunk_index",
        "data/file_index",
        "dataset_from_index",
        "dataset_to_index",
        "meta/episodes/chunk_index",
        "meta/episodes/file_index",
    }
)
# LeRobot writes meta/tasks.parquet from a pandas frame indexed by the task text and reads it back with
# pandas; this schema metadata makes pandas (and so LeRobot) see ``task`` as that index.
TASKS_PANDAS_METADATA = {
    "index_columns": ["task"],
    "column_indexes": [
        {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
         "metadata": {"encoding": "UTF-8"}},
    ],
    "columns": [
        {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
         "metadata": None},
        {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
    ],
}  # fmt: skip


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


def signature(info: dict) -> tuple[int, tuple[str, ...], tuple[str, ...], tuple[int, int]]:
    """(fps, joint names, cameras, image height and width) of a data set: what must agree to mix data sets."""
    extra = info.get("fast_vla_ros", {})
    joint_names = tuple(extra.get("joint_names") or info["features"][ACTION]["names"])
    images = {name: f for name, f in info["features"].items() if name.startswith(IMAGE_PREFIX)}
    cameras = tuple(name.removeprefix(IMAGE_PREFIX) for name in images)
    shapes = {tuple(f["shape"][:2]) for f in images.values()}
    size = shapes.pop() if len(shapes) == 1 else (0, 0)
    return int(info["fps"]), joint_names, cameras, (int(size[0]), int(size[1]))


def read_episode_rows(root: Path) -> list[dict]:
    """The committed episodes' rows of meta/episodes, in episode order (none before the first commit)."""
    path = root / EPISODES_PATH
    if not path.is_file():
        return []
    return sorted(pq.read_table(path).to_pylist(), key=lambda row: row["episode_index"])


def data_file(root: Path, row: dict) -> Path:
    """The data file holding the episode of a meta/episodes ``row``."""
    return root / DATA_PATH.format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"])


def read_info(root: Path) -> dict:
    """info.json of the data set at ``root``; a clear error when ``root`` is not one."""
    path = root / INFO_PATH
    if not path.is_file():
        raise FileNotFoundError(f"not an episode data set: {path} is missing")
    info = json.loads(path.read_text())
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise ValueError(f"{path}: expected codebase_version {CODEBASE_VERSION}, got {info.get('codebase_version')}")
    return info
