"""The on-disk layout of an episode data set: LeRobot v3 (parquet tables, MP4 videos, metadata JSON).

Shared by the writer and the reader so the two cannot drift apart. Camera streams are MP4 files under
``videos/`` (LeRobot's ``dtype: video`` features), one per episode and camera, located by the episode's
``videos/<key>/...`` columns of meta/episodes; the data parquet files hold no images. Data sets written
before that, with frames as images in the parquet rows (``dtype: image``), are still read. Paths, file
names and metadata columns follow LeRobot's ``lerobot/datasets/utils.py`` and ``dataset_metadata.py`` of
release v0.6.1 (codebase_version "v3.0"); docs/data.md has the file tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fast_vla_ros.data import video_codec

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk directory, as LeRobot
DATA_FILE_SIZE_MB = 100  # LeRobot's limit on a data file; ours hold one episode each, far below it
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
VIDEO_FILE_SIZE_MB = 500  # LeRobot's limit on a video file; ours hold one episode each
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


def video_columns(camera: str) -> tuple[str, str, str, str]:
    """meta/episodes columns locating an episode's video of ``camera``: chunk, file, first and last time."""
    key = image_feature(camera)
    return (f"videos/{key}/chunk_index", f"videos/{key}/file_index", f"videos/{key}/from_timestamp",
            f"videos/{key}/to_timestamp")  # fmt: skip


def is_location_column(name: str) -> bool:
    """Whether a meta/episodes column locates the episode's data (the rest are its own metadata)."""
    return name in EPISODE_LOCATION_COLUMNS or name.startswith("videos/")


def frame_schema(dof: int) -> pa.Schema:
    """A data file's columns (camera frames are in the videos, not here)."""
    vector = pa.list_(pa.float32(), dof)
    return pa.schema(
        [(name, vector) for name in VECTOR_FEATURES]
        + [
            ("timestamp", pa.float32()),
            ("frame_index", pa.int64()),
            ("episode_index", pa.int64()),
            ("index", pa.int64()),
            ("task_index", pa.int64()),
        ]
    )


def features(
    cameras: tuple[str, ...], image_size: tuple[int, int], joint_names: tuple[str, ...], fps: int
) -> dict:
    """The ``features`` block of info.json, in LeRobot's vocabulary (cameras as ``video`` features)."""
    height, width = image_size
    video_info = {
        "video.height": height,
        "video.width": width,
        "video.codec": video_codec.CODEC,
        "video.pix_fmt": video_codec.PIX_FMT,
        "video.is_depth_map": False,
        "video.fps": fps,
        "video.channels": 3,
        "has_audio": False,
    }
    out: dict[str, dict] = {
        image_feature(c): {
            "dtype": "video",
            "shape": [height, width, 3],
            "names": ["height", "width", "channels"],
            "info": dict(video_info),
        }
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


def video_file(root: Path, row: dict, camera: str) -> Path:
    """The MP4 holding ``camera``'s frames of the episode of a meta/episodes ``row``."""
    chunk, file, _, _ = video_columns(camera)
    return root / VIDEO_PATH.format(video_key=image_feature(camera), chunk_index=row[chunk], file_index=row[file])


def stores_video(info: dict) -> bool:
    """Whether the data set's cameras are MP4 videos (else images in the parquet rows, as written before)."""
    return any(f["dtype"] == "video" for name, f in info["features"].items() if name.startswith(IMAGE_PREFIX))


def read_info(root: Path) -> dict:
    """info.json of the data set at ``root``; a clear error when ``root`` is not one."""
    path = root / INFO_PATH
    if not path.is_file():
        raise FileNotFoundError(f"not an episode data set: {path} is missing")
    info = json.loads(path.read_text())
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise ValueError(f"{path}: expected codebase_version {CODEBASE_VERSION}, got {info.get('codebase_version')}")
    return info
