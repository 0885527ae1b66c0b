"""Writes episodes into a LeRobot v3 data set (layout in ``lerobot_layout``), each committed on its own.

Every episode goes to a data file and, per camera, an MP4 of its own, each written under a temporary name
and renamed into place; the metadata that lists them (``meta/episodes``) is then replaced the same way,
and that replacement is the commit. A process killed at any instant leaves every committed episode
readable and the episode being written absent (at worst unlisted files, which readers never open and
``append`` removes). The
totals in ``info.json`` and ``stats.json`` follow the commit and are recomputed when a data set is opened
for appending, so a crash between the two costs nothing either.

LeRobot packs several episodes into one data file of up to ``data_files_size_in_mb``; a file per episode
is also a valid v3 layout (LeRobot starts a new file when it resumes recording) and the only one that can
be appended to without rewriting or risking what is already on disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fast_vla_ros.data import lerobot_layout as layout
from fast_vla_ros.data.atomic_files import TEMPORARY_SUFFIX, write_atomically, write_text_atomically
from fast_vla_ros.data.frame_codec import decode_frame
from fast_vla_ros.data.video_codec import encode_video


@dataclass
class RecordedEpisode:
    """One episode as recorded: row ``t`` of every array belongs to frame ``t`` (taken at ``timestamps[t]``)."""

    instruction: str
    timestamps: np.ndarray  # [T] s since the episode started
    state: np.ndarray  # [T, D] joint positions
    velocity: np.ndarray  # [T, D] joint velocities
    action: np.ndarray  # [T, D] targets commanded right after frame t was observed
    frames: dict[str, list[bytes]]  # camera -> T encoded images (see frame_codec), encoded into an MP4 on writing
    metadata: dict[str, object] = field(default_factory=dict)  # extra columns of meta/episodes (family, seed, ...)

    def __len__(self) -> int:
        return len(self.timestamps)


class EpisodeWriter:
    """Adds episodes to a data set directory; each ``add`` is durable when it returns.

    A new directory (or an empty one) starts a data set; with ``append`` an existing data set of the same
    rate, joints, cameras and image size is continued, e.g. by a recorder restarted after a crash.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        fps: int,
        joint_names: tuple[str, ...],
        cameras: tuple[str, ...],
        image_size: tuple[int, int],
        robot_type: str,
        extra_info: dict | None = None,
        append: bool = False,
    ) -> None:
        self.root = Path(root)
        occupied = self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir()))
        if occupied and not (append and (self.root / layout.INFO_PATH).is_file()):
            kind = "is not a data set" if append else "is not empty"
            raise FileExistsError(f"output directory {self.root} exists and {kind}")
        self.fps, self.joint_names, self.cameras = int(fps), tuple(joint_names), tuple(cameras)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.robot_type, self.extra_info = robot_type, extra_info or {}
        self._schema = layout.frame_schema(len(self.joint_names))
        self._episodes: list[dict] = []
        self._tasks: dict[str, int] = {}
        self._frames = 0
        self._next_file = 0
        self._stats = {name: _RunningStats(len(self.joint_names)) for name in layout.VECTOR_FEATURES}
        if occupied:
            self._continue_existing()
        else:
            self.root.mkdir(parents=True, exist_ok=True)
        self._write_totals()  # readable, with no episode, from the start

    @property
    def episode_count(self) -> int:
        return len(self._episodes)

    def add(self, episode: RecordedEpisode) -> int:
        """Write ``episode`` and commit it; returns its episode index.

        On an error (disk full, directory removed) nothing of this episode is committed, the data set keeps
        every earlier episode, and the error propagates with the writer still usable.
        """
        length = len(episode)
        self._check(episode)
        index = len(self._episodes)
        tasks = dict(self._tasks)
        task_index = tasks.setdefault(episode.instruction, len(tasks))
        chunk_index, file_index = divmod(self._next_file, layout.CHUNKS_SIZE)
        data_file = self.root / layout.DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)
        table = self._frame_table(episode, index, task_index)
        duration = length / self.fps
        videos = {}
        for camera in self.cameras:
            chunk_column, file_column, from_column, to_column = layout.video_columns(camera)
            videos.update({chunk_column: chunk_index, file_column: file_index, from_column: 0.0, to_column: duration})
        row = {
            "episode_index": index,
            "tasks": [episode.instruction],
            "length": length,
            "data/chunk_index": chunk_index,
            "data/file_index": file_index,
            "dataset_from_index": self._frames,
            "dataset_to_index": self._frames + length,
            **videos,
            "meta/episodes/chunk_index": 0,
            "meta/episodes/file_index": 0,
            **episode.metadata,
        }
        written: list[Path] = []
        try:
            for camera in self.cameras:
                video = layout.video_file(self.root, row, camera)
                written.append(video)
                write_atomically(video, lambda path, camera=camera: self._write_video(path, episode.frames[camera]))
            written.append(data_file)
            write_atomically(data_file, lambda path: pq.write_table(table, path))
            if len(tasks) != len(self._tasks):
                write_atomically(self.root / layout.TASKS_PATH, lambda path: pq.write_table(_tasks_table(tasks), path))
            episodes = [*self._episodes, row]
            write_atomically(self.root / layout.EPISODES_PATH, lambda path: pq.write_table(_rows_table(episodes), path))
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        self._episodes.append(row)
        self._tasks = tasks
        self._frames += length
        self._next_file += 1
        self._stats[layout.STATE].add(episode.state)
        self._stats[layout.VELOCITY].add(episode.velocity)
        self._stats[layout.ACTION].add(episode.action)
        self._write_totals()
        return index

    def close(self) -> None:
        """Nothing is left to write (every ``add`` committed); kept so the writer is a context manager."""

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write_video(self, path: Path, frames: list[bytes]) -> None:
        """One camera's frames of an episode as an MP4 (a row's frame, repeated while no newer one came,
        is decoded once)."""
        decoded: dict[int, np.ndarray] = {}

        def rows() -> Iterator[np.ndarray]:
            for data in frames:
                if id(data) not in decoded:
                    decoded.clear()  # rows reuse only the frame just before them
                    decoded[id(data)] = decode_frame(data)
                yield decoded[id(data)]

        encode_video(path, rows(), self.fps, self.image_size)

    def _frame_table(self, episode: RecordedEpisode, index: int, task_index: int) -> pa.Table:
        length = len(episode)
        vector_type = self._schema.field(layout.ACTION).type
        columns: dict[str, pa.Array] = {}
        for name, values in ((layout.STATE, episode.state), (layout.VELOCITY, episode.velocity)):
            columns[name] = pa.array(list(np.asarray(values, np.float32)), type=vector_type)
        columns[layout.ACTION] = pa.array(list(np.asarray(episode.action, np.float32)), type=vector_type)
        columns["timestamp"] = pa.array(np.asarray(episode.timestamps, np.float32))
        columns["frame_index"] = pa.array(np.arange(length, dtype=np.int64))
        columns["episode_index"] = pa.array(np.full(length, index, dtype=np.int64))
        columns["index"] = pa.array(np.arange(self._frames, self._frames + length, dtype=np.int64))
        columns["task_index"] = pa.array(np.full(length, task_index, dtype=np.int64))
        return pa.table(columns, schema=self._schema)

    def _write_totals(self) -> None:
        """stats.json and info.json, which follow the committed episodes."""
        meta = self.root / "meta"
        meta.mkdir(parents=True, exist_ok=True)
        if not self._tasks:
            write_atomically(self.root / layout.TASKS_PATH, lambda path: pq.write_table(_tasks_table({}), path))
        stats = {name: s.as_dict() for name, s in self._stats.items()}
        write_text_atomically(self.root / layout.STATS_PATH, json.dumps(stats, indent=2) + "\n")
        info = {
            "codebase_version": layout.CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": len(self._episodes),
            "total_frames": self._frames,
            "total_tasks": len(self._tasks),
            "chunks_size": layout.CHUNKS_SIZE,
            "data_files_size_in_mb": layout.DATA_FILE_SIZE_MB,
            "fps": self.fps,
            "splits": {"train": f"0:{len(self._episodes)}"},
            "video_files_size_in_mb": layout.VIDEO_FILE_SIZE_MB,
            "data_path": layout.DATA_PATH,
            "video_path": layout.VIDEO_PATH,
            "features": layout.features(self.cameras, self.image_size, self.joint_names, self.fps),
            "fast_vla_ros": {
                "joint_names": list(self.joint_names),
                "cameras": list(self.cameras),
                "action": "absolute joint position targets, commanded at frame t and held until frame t+1",
                **self.extra_info,
            },
        }
        write_text_atomically(self.root / layout.INFO_PATH, json.dumps(info, indent=2) + "\n")

    def _continue_existing(self) -> None:
        """Take up the committed episodes of the data set at ``root``; remove what a crash left unlisted."""
        info = layout.read_info(self.root)
        theirs = layout.signature(info)
        ours = (self.fps, self.joint_names, self.cameras, self.image_size)
        if theirs != ours:
            raise ValueError(
                f"cannot append to {self.root}: its fps, joints, cameras and image size are {theirs}, this "
                f"recording's are {ours}"
            )
        if not layout.stores_video(info):
            raise ValueError(f"cannot append to {self.root}: it stores camera frames as parquet images, not MP4 videos")
        self.extra_info = {**info.get("fast_vla_ros", {}), **self.extra_info}
        self._episodes = layout.read_episode_rows(self.root)
        if self._episodes:
            tasks = pq.read_table(self.root / layout.TASKS_PATH).to_pylist()
            self._tasks = {row["task"]: row["task_index"] for row in tasks}
        data_files = {layout.data_file(self.root, row) for row in self._episodes}
        videos = {layout.video_file(self.root, row, c) for row in self._episodes for c in self.cameras}
        stray = [*(self.root / "data").glob("chunk-*/*"), *(self.root / "videos").glob("*/chunk-*/*")]
        for path in sorted(stray):
            listed = path in data_files or path in videos
            if not listed and (path.suffix in (".parquet", ".mp4") or path.name.endswith(TEMPORARY_SUFFIX)):
                path.unlink()
        for path in sorted(self.root.glob(f"meta/**/*{TEMPORARY_SUFFIX}")):
            path.unlink()
        for path in sorted(data_files):
            table = pq.read_table(path, columns=list(layout.VECTOR_FEATURES))
            for name in layout.VECTOR_FEATURES:
                values = np.stack(table.column(name).to_numpy(zero_copy_only=False)) if len(table) else None
                if values is not None:
                    self._stats[name].add(values)
        self._frames = self._episodes[-1]["dataset_to_index"] if self._episodes else 0
        numbers = [
            row["data/chunk_index"] * layout.CHUNKS_SIZE + row["data/file_index"] for row in self._episodes
        ]
        self._next_file = max(numbers, default=-1) + 1

    def _check(self, episode: RecordedEpisode) -> None:
        length, dof = len(episode), len(self.joint_names)
        if length == 0:
            raise ValueError("cannot write an empty episode")
        for name in ("state", "velocity", "action"):
            shape = np.shape(getattr(episode, name))
            if shape != (length, dof):
                raise ValueError(f"episode {name} must be [{length}, {dof}], got {shape}")
        for camera in self.cameras:
            if len(episode.frames.get(camera, ())) != length:
                raise ValueError(f"episode needs {length} frames from camera '{camera}'")


def _rows_table(rows: list[dict]) -> pa.Table:
    """One column per key of any row (``from_pylist`` would keep only the first row's keys)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return pa.table({key: [row.get(key) for row in rows] for key in keys})


def _tasks_table(tasks: dict[str, int]) -> pa.Table:
    """meta/tasks.parquet as LeRobot writes it with pandas: ``task_index`` indexed by the ``task`` text."""
    table = pa.table(
        {"task_index": pa.array(list(tasks.values()), pa.int64()), "task": pa.array(list(tasks), pa.string())}
    )
    return table.replace_schema_metadata({b"pandas": json.dumps(layout.TASKS_PANDAS_METADATA).encode()})


class _RunningStats:
    """Per-dimension mean/std/min/max over all frames, as LeRobot's meta/stats.json holds them."""

    def __init__(self, dof: int) -> None:
        self.count = 0
        self.total = np.zeros(dof)
        self.squares = np.zeros(dof)
        self.low = np.full(dof, np.inf)
        self.high = np.full(dof, -np.inf)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        self.count += len(values)
        self.total += values.sum(axis=0)
        self.squares += (values**2).sum(axis=0)
        self.low = np.minimum(self.low, values.min(axis=0))
        self.high = np.maximum(self.high, values.max(axis=0))

    def as_dict(self) -> dict[str, list[float]]:
        if self.count == 0:
            return {}
        mean = self.total / max(self.count, 1)
        std = np.sqrt(np.maximum(self.squares / max(self.count, 1) - mean**2, 0.0))
        return {
            "mean": mean.tolist(),
            "std": std.tolist(),
            "min": self.low.tolist(),
            "max": self.high.tolist(),
            "count": [self.count],
        }
