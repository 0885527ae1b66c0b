"""Reads an episode data set written by ``EpisodeWriter`` (LeRobot v3 layout).

Joint states, actions and timestamps of every frame are small and loaded at once into numpy arrays;
camera frames stay compressed on disk and are read one episode at a time, with recent episodes cached.
An episode's MP4 is decoded once, whole (about 1 ms a frame), and its frames kept as JPEG (quality 95):
raw frames of the 64 episodes training interleaves would take gigabytes, and sampling frames among the
cached episodes then costs one JPEG decode each, as it did when data sets stored JPEGs (which are still
read, from the parquet rows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from fast_vla_ros.data import lerobot_layout as layout
from fast_vla_ros.data.frame_codec import decode_frame, encode_frame
from fast_vla_ros.data.video_codec import decode_video

EPISODE_CACHE = 4  # default number of episodes whose compressed frames stay in memory
CACHE_JPEG_QUALITY = 95


@dataclass(frozen=True)
class EpisodeInfo:
    index: int
    instruction: str
    length: int
    start: int  # global frame index of frame 0 (rows start:start+length of the frame arrays)
    data_file: Path
    row_group: int
    videos: dict[str, Path]  # camera -> MP4 (empty for data sets that store images in the parquet rows)
    metadata: dict  # the extra columns of meta/episodes (family, seed, success for simulator demos)


class EpisodeDataset:
    """A data set on disk: per-frame arrays in global frame order, and episodes that index into them.

    Several roots read as one data set, their episodes in the order given (e.g. expert and recovery
    demonstrations trained together); they must agree on rate, joints and cameras.
    """

    def __init__(self, root: str | Path | Sequence[str | Path], cached_episodes: int = EPISODE_CACHE) -> None:
        roots = [Path(root)] if isinstance(root, str | Path) else [Path(r) for r in root]
        if not roots:
            raise ValueError("no data set directory given")
        parts = [_RootContents(r) for r in roots]
        first = parts[0]
        for part in parts[1:]:
            if part.signature != first.signature:
                raise ValueError(
                    f"{part.root} does not match {first.root}: fps, joints, cameras {part.signature} vs "
                    f"{first.signature}"
                )
        self.fps, self.joint_names, self.cameras = first.signature
        self.episodes: list[EpisodeInfo] = []
        offset = 0
        for part in parts:
            for episode in part.episodes:
                global_episode = dataclasses.replace(episode, index=len(self.episodes), start=episode.start + offset)
                self.episodes.append(global_episode)
            offset += len(part.columns["timestamp"])
        columns = {name: np.concatenate([part.columns[name] for part in parts]) for name in first.columns}
        self.state = columns[layout.STATE]  # [N, D] joint positions
        self.velocity = columns[layout.VELOCITY]  # [N, D]
        self.action = columns[layout.ACTION]  # [N, D] commanded targets
        self.timestamp = columns["timestamp"]  # [N] s since each episode's start
        self._read_row_group = lru_cache(maxsize=max(1, cached_episodes) * max(1, len(self.cameras)))(
            self._read_row_group_uncached
        )

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def num_frames(self) -> int:
        return len(self.timestamp)

    def frame_rows(self, episode: int) -> slice:
        info = self.episodes[episode]
        return slice(info.start, info.start + info.length)

    def compressed_frames(self, episode: int, camera: str) -> list[bytes]:
        """The episode's encoded frames of ``camera``, in frame order."""
        if camera not in self.cameras:
            raise KeyError(f"unknown camera '{camera}'; this data set has {list(self.cameras)}")
        return self._read_row_group(episode, camera)

    def image(self, episode: int, frame: int, camera: str) -> np.ndarray:
        """Frame ``frame`` of ``episode`` from ``camera`` as HxWx3 uint8 RGB."""
        return decode_frame(self.compressed_frames(episode, camera)[frame])

    def _read_row_group_uncached(self, episode: int, camera: str) -> list[bytes]:
        info = self.episodes[episode]
        if info.videos:
            video = info.videos[camera]
            frames = decode_video(video)
            if len(frames) != info.length:
                raise ValueError(f"{video} holds {len(frames)} frames, episode {episode} has {info.length} rows")
            return [encode_frame(frame, "jpeg", CACHE_JPEG_QUALITY) for frame in frames]
        table = pq.ParquetFile(info.data_file).read_row_group(info.row_group, columns=[layout.image_feature(camera)])
        return [cell["bytes"] for cell in table.column(0).to_pylist()]


class _RootContents:
    """One root's metadata, episodes (frame indices local to the root) and per-frame columns."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.info = layout.read_info(root)
        fps, joint_names, cameras, _ = layout.signature(self.info)
        self.cameras = cameras
        self.stores_video = layout.stores_video(self.info)
        self.signature: tuple[int, tuple[str, ...], tuple[str, ...]] = (fps, joint_names, cameras)
        self.episodes = self._read_episodes()
        names = [*layout.VECTOR_FEATURES, "timestamp"]
        files = sorted({e.data_file for e in self.episodes})
        tables = [pq.read_table(f, columns=[*names, "index"]) for f in files]
        dof = len(joint_names)
        order = np.argsort(np.concatenate([t.column("index").to_numpy() for t in tables])) if tables else []

        def column(name: str, width: int | None) -> np.ndarray:
            if not tables:
                return np.zeros((0, width) if width else (0,), np.float32)
            parts = [t.column(name).combine_chunks() for t in tables]
            values = np.concatenate([p.flatten().to_numpy() if width else p.to_numpy() for p in parts])
            return (values.reshape(-1, width) if width else values)[order]

        self.columns = {name: column(name, dof) for name in layout.VECTOR_FEATURES}
        self.columns["timestamp"] = column("timestamp", None)

    def _read_episodes(self) -> list[EpisodeInfo]:
        """Episodes as meta/episodes lists them: the writer's commit, whatever the totals in info.json say."""
        episodes, groups_in_file = [], {}
        for row in layout.read_episode_rows(self.root):
            path = layout.data_file(self.root, row)
            row_group = groups_in_file.get(path, 0)
            groups_in_file[path] = row_group + 1
            episodes.append(
                EpisodeInfo(
                    index=row["episode_index"],
                    instruction=row["tasks"][0],
                    length=row["length"],
                    start=row["dataset_from_index"],
                    data_file=path,
                    row_group=row_group,
                    videos={c: layout.video_file(self.root, row, c) for c in self.cameras} if self.stores_video else {},
                    metadata={k: v for k, v in row.items() if not layout.is_location_column(k) and v is not None},
                )
            )
        return episodes
