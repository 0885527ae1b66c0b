"""Writes episodes into a LeRobot v3 data set (layout in ``lerobot_layout``), one parquet row group per
episode so a reader can fetch one episode's frames without touching the rest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fast_vla_ros.data import lerobot_layout as layout


@dataclass
class RecordedEpisode:
    """One episode as recorded: row ``t`` of every array belongs to frame ``t`` (taken at ``timestamps[t]``)."""

    instruction: str
    timestamps: np.ndarray  # [T] s since the episode started
    state: np.ndarray  # [T, D] joint positions
    velocity: np.ndarray  # [T, D] joint velocities
    action: np.ndarray  # [T, D] targets commanded right after frame t was observed
    frames: dict[str, list[bytes]]  # camera -> T encoded images (see frame_codec)
    metadata: dict[str, object] = field(default_factory=dict)  # extra columns of meta/episodes (family, seed, ...)

    def __len__(self) -> int:
        return len(self.timestamps)


class EpisodeWriter:
    """Appends episodes to a new data set directory; ``close`` writes the metadata that makes it readable."""

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
    ) -> None:
        self.root = Path(root)
        if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
            raise FileExistsError(f"output directory {self.root} exists and is not empty")
        self.root.mkdir(parents=True, exist_ok=True)
        self.fps, self.joint_names, self.cameras = fps, tuple(joint_names), tuple(cameras)
        self.image_size, self.robot_type, self.extra_info = image_size, robot_type, extra_info or {}
        self._schema = layout.frame_schema(self.cameras, len(self.joint_names))
        self._writer: pq.ParquetWriter | None = None
        self._file_number = 0
        self._file_bytes = 0
        self._episodes: list[dict] = []
        self._tasks: dict[str, int] = {}
        self._frames = 0
        self._stats = {name: _RunningStats(len(self.joint_names)) for name in layout.VECTOR_FEATURES}

    def add(self, episode: RecordedEpisode) -> int:
        """Append ``episode``; returns its episode index."""
        length = len(episode)
        self._check(episode)
        index = len(self._episodes)
        task_index = self._tasks.setdefault(episode.instruction, len(self._tasks))
        if self._writer is None:
            self._open_file()
        vector_type = self._schema.field(layout.ACTION).type
        columns: dict[str, pa.Array] = {
            layout.image_feature(c): pa.array(
                [{"bytes": b, "path": None} for b in episode.frames[c]], type=layout.IMAGE_TYPE
            )
            for c in self.cameras
        }
        for name, values in ((layout.STATE, episode.state), (layout.VELOCITY, episode.velocity)):
            columns[name] = pa.array(list(np.asarray(values, np.float32)), type=vector_type)
        columns[layout.ACTION] = pa.array(list(np.asarray(episode.action, np.float32)), type=vector_type)
        columns["timestamp"] = pa.array(np.asarray(episode.timestamps, np.float32))
        columns["frame_index"] = pa.array(np.arange(length, dtype=np.int64))
        columns["episode_index"] = pa.array(np.full(length, index, dtype=np.int64))
        columns["index"] = pa.array(np.arange(self._frames, self._frames + length, dtype=np.int64))
        columns["task_index"] = pa.array(np.full(length, task_index, dtype=np.int64))
        self._writer.write_table(pa.table(columns, schema=self._schema), row_group_size=length)
        chunk_index, file_index = divmod(self._file_number, layout.CHUNKS_SIZE)
        self._episodes.append(
            {
                "episode_index": index,
                "tasks": [episode.instruction],
                "length": length,
                "data/chunk_index": chunk_index,
                "data/file_index": file_index,
                "dataset_from_index": self._frames,
                "dataset_to_index": self._frames + length,
                **episode.metadata,
            }
        )
        self._frames += length
        self._stats[layout.STATE].add(episode.state)
        self._stats[layout.VELOCITY].add(episode.velocity)
        self._stats[layout.ACTION].add(episode.action)
        self._file_bytes += sum(len(b) for c in self.cameras for b in episode.frames[c])
        if self._file_bytes > layout.DATA_FILE_SIZE_MB * 1e6:
            self._close_file()
            self._file_number += 1
        return index

    def close(self) -> None:
        """Finish the data files and write meta/ (info, stats, tasks, episodes)."""
        self._close_file()
        meta = self.root / "meta"
        (meta / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self._episodes), self.root / layout.EPISODES_PATH)
        pq.write_table(
            pa.table({"task_index": list(self._tasks.values()), "task": list(self._tasks)}),
            self.root / layout.TASKS_PATH,
        )
        stats = {name: s.as_dict() for name, s in self._stats.items()}
        (self.root / layout.STATS_PATH).write_text(json.dumps(stats, indent=2) + "\n")
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
            "data_path": layout.DATA_PATH,
            "video_path": None,
            "features": layout.features(self.cameras, self.image_size, self.joint_names),
            "fast_vla_ros": {
                "joint_names": list(self.joint_names),
                "cameras": list(self.cameras),
                "action": "absolute joint position targets, commanded at frame t and held until frame t+1",
                **self.extra_info,
            },
        }
        (self.root / layout.INFO_PATH).write_text(json.dumps(info, indent=2) + "\n")

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def _open_file(self) -> None:
        chunk_index, file_index = divmod(self._file_number, layout.CHUNKS_SIZE)
        path = self.root / layout.DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(path, self._schema)
        self._file_bytes = 0

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


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
