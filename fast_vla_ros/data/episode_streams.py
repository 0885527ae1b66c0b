"""One episode's timestamped samples as they arrived, and the rows they become at the recording rate.

Joint states, commands and camera frames arrive at their own rates (100 Hz, 50 Hz, 30 Hz on the simulated
arm) and with jitter. A data set row ``k`` is the instant ``start + k / fps``: the joint state there is
interpolated between the two measurements around it, the action is the position the controller was
commanded to hold at that instant (forward commands held until the next one, joint trajectories
interpolated as the controller does, see ``joint_trajectory``), and each camera contributes its newest
frame taken at or before the row. The live recorder and the rosbag2 import both fill an ``EpisodeStreams``
and call ``assemble``, so a bag and a live recording of the same motion give the same rows.

Rows are never invented: a gap in the joint states longer than the timeout, a camera that sent nothing,
or no command at all make the episode an error (``RecordingError``) instead of rows of stale data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fast_vla_ros.data.episode_writer import RecordedEpisode
from fast_vla_ros.data.joint_trajectory import JointTrajectoryFollower
from fast_vla_ros.data.recording_config import RecordingConfig


class RecordingError(RuntimeError):
    """An episode that cannot be written as recorded; the text says which input failed and when."""


@dataclass(frozen=True)
class TrajectoryCommand:
    """A JointTrajectory as the controller would take it: starting at ``start`` (s), points relative to it."""

    joint_names: tuple[str, ...]
    start: float
    times: np.ndarray  # [P] s from start
    positions: np.ndarray  # [P, J]
    velocities: np.ndarray | None  # [P, J]


@dataclass(frozen=True)
class Frame:
    stamp: float  # when it was taken (s)
    arrival: float  # when it reached the recorder (s)
    data: bytes  # encoded image (frame_codec)


@dataclass
class CameraHealth:
    received: int = 0
    dropped: int = 0  # frames missing from the camera's rate (gaps in the stamps)
    late: int = 0  # frames that arrived more than max_frame_delay after their stamp
    invalid: int = 0  # frames refused (wrong size or encoding, undecodable)


@dataclass
class RecordingHealth:
    """What the recording lost or delayed, per camera; stored with the episode in meta/episodes."""

    rows: int = 0
    duration: float = 0.0
    cameras: dict[str, CameraHealth] = field(default_factory=dict)
    rows_without_command: int = 0  # rows before the first command: the action is then the measured position

    @property
    def frames_dropped(self) -> int:
        return sum(c.dropped for c in self.cameras.values())

    @property
    def frames_late(self) -> int:
        return sum(c.late for c in self.cameras.values())

    def as_metadata(self) -> dict[str, object]:
        """Flat columns for meta/episodes (LeRobot flattens nested metadata with '/')."""
        out: dict[str, object] = {
            "duration_s": round(self.duration, 6),
            "frames_dropped": self.frames_dropped,
            "frames_late": self.frames_late,
            "rows_without_command": self.rows_without_command,
        }
        for camera, health in self.cameras.items():
            for name in ("received", "dropped", "late", "invalid"):
                out[f"frames_{name}/{camera}"] = getattr(health, name)
        return out


class EpisodeStreams:
    """Samples of one episode, in arrival order; times in seconds on one clock (see ``stamp_source``)."""

    def __init__(self, config: RecordingConfig) -> None:
        self.config = config
        self.joint_times: list[float] = []
        self.positions: list[np.ndarray] = []
        self.velocities: list[np.ndarray | None] = []
        self.commands: list[tuple[float, np.ndarray | TrajectoryCommand]] = []  # (time it took effect, command)
        self.frames: dict[str, list[Frame]] = {c: [] for c in config.camera_names}
        self.invalid_frames: dict[str, int] = dict.fromkeys(config.camera_names, 0)

    def add_joint_state(self, stamp: float, positions: np.ndarray, velocities: np.ndarray | None) -> None:
        """Positions (and velocities, or None when the driver sends none) in ``joint_names`` order."""
        self.joint_times.append(stamp)
        self.positions.append(np.asarray(positions, dtype=np.float64))
        self.velocities.append(None if velocities is None else np.asarray(velocities, dtype=np.float64))

    def add_command(self, time: float, command: np.ndarray | TrajectoryCommand) -> None:
        """A forward position command (positions in ``joint_names`` order) or a trajectory, in effect from ``time``."""
        self.commands.append((time, command))

    def add_frame(self, camera: str, frame: Frame) -> None:
        self.frames[camera].append(frame)

    def add_invalid_frame(self, camera: str) -> None:
        self.invalid_frames[camera] += 1

    def last_joint_time(self) -> float | None:
        return self.joint_times[-1] if self.joint_times else None


def row_times(start: float, stop: float, fps: int) -> np.ndarray:
    """``start + k / fps`` for every k with the instant inside [start, stop]: duration x fps + 1 rows."""
    count = int(np.floor((stop - start) * fps + 1e-9)) + 1
    return start + np.arange(max(count, 0)) / fps


def assemble(
    streams: EpisodeStreams, instruction: str, start: float, stop: float, metadata: dict | None = None
) -> tuple[RecordedEpisode, RecordingHealth]:
    """The episode's rows from ``start`` to ``stop``; ``RecordingError`` when an input cannot fill them."""
    config = streams.config
    if stop <= start:
        raise RecordingError(f"the episode has no duration (start {start:.3f} s, stop {stop:.3f} s)")
    times = row_times(start, stop, config.fps)
    state, velocity = _joint_rows(streams, times)
    health = RecordingHealth(rows=len(times), duration=float(times[-1] - times[0]))
    action, health.rows_without_command = _command_rows(streams, times, state)
    frames = {}
    for camera, topic in zip(config.camera_names, config.camera_topics, strict=True):
        frames[camera], health.cameras[camera] = _frame_rows(streams, camera, topic, times)
    episode = RecordedEpisode(
        instruction=instruction,
        timestamps=times - times[0],
        state=state,
        velocity=velocity,
        action=action,
        frames=frames,
        metadata={**health.as_metadata(), **(metadata or {})},
    )
    return episode, health


def _joint_rows(streams: EpisodeStreams, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    config = streams.config
    topic = config.joint_states_topic
    if not streams.joint_times:
        raise RecordingError(f"no joint state arrived on {topic} during the episode")
    order = np.argsort(streams.joint_times, kind="stable")
    stamps = np.asarray(streams.joint_times)[order]
    positions = np.stack(streams.positions)[order]
    timeout = config.joint_state_timeout
    points = _coverage_points(stamps, times[0], times[-1])
    gaps = np.diff(points)
    if gaps.max() > timeout:
        at = int(np.argmax(gaps))
        raise RecordingError(
            f"joint states on {topic} stopped for {gaps[at]:.2f} s (more than joint_state_timeout {timeout:g} s) "
            f"at {points[at] - times[0]:.2f} s into the episode; no stale rows were written"
        )
    state = np.stack([np.interp(times, stamps, positions[:, j]) for j in range(positions.shape[1])], axis=1)
    if all(v is not None for v in streams.velocities):
        measured = np.stack(streams.velocities)[order]
        velocity = np.stack([np.interp(times, stamps, measured[:, j]) for j in range(measured.shape[1])], axis=1)
    else:  # the driver sends no velocities: differentiate the resampled positions
        velocity = np.gradient(state, times, axis=0) if len(times) > 1 else np.zeros_like(state)
    return state, velocity


def _coverage_points(stamps: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Sorted ``stamps`` as they cover [start, stop]: the last one at or before ``start`` (or ``start`` itself
    when the stream began later), those inside, and ``stop``; the gaps between them are the stream's silences."""
    prior = stamps[stamps <= start]
    inside = stamps[(stamps > start) & (stamps < stop)]
    return np.concatenate([[prior[-1] if len(prior) else start], inside, [stop]])


def _command_rows(streams: EpisodeStreams, times: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, int]:
    """The commanded position at each row, replayed through the controller's semantics."""
    config = streams.config
    if not streams.commands:
        raise RecordingError(f"no command arrived on {config.command_topic} during the episode")
    commands = sorted(streams.commands, key=lambda item: item[0])
    follower = JointTrajectoryFollower(config.joint_names)
    target: np.ndarray | None = None
    action = np.empty_like(state)
    next_command = 0
    without = 0
    for row, now in enumerate(times):
        while next_command < len(commands) and commands[next_command][0] <= now:
            _, command = commands[next_command]
            current = state[row] if target is None else target
            if isinstance(command, TrajectoryCommand):
                follower.set_trajectory(
                    list(command.joint_names), command.start, command.times, command.positions,
                    command.velocities, current,
                )  # fmt: skip
                target = follower.target(now, current)
            else:
                follower.clear()
                target = np.asarray(command, dtype=np.float64)
            next_command += 1
        if target is None:
            action[row] = state[row]  # nothing commanded yet: the arm holds where it is
            without += 1
            continue
        target = follower.target(now, target)
        action[row] = target
    return action, without


def _frame_rows(
    streams: EpisodeStreams, camera: str, topic: str, times: np.ndarray
) -> tuple[list[bytes], CameraHealth]:
    config = streams.config
    frames = sorted(streams.frames[camera], key=lambda f: f.stamp)
    period = 1.0 / config.camera_rate
    # The newest frame taken no later than half a row after the row's instant.
    tolerance = 0.5 / config.fps
    in_episode = [f for f in frames if f.stamp <= times[-1] + tolerance]
    health = CameraHealth(invalid=streams.invalid_frames[camera])
    if not in_episode:
        raise RecordingError(f"camera '{camera}' sent no frame on {topic} during the episode")
    stamps = np.array([f.stamp for f in in_episode])
    used = stamps >= (stamps[stamps <= times[0]].max() if stamps[0] <= times[0] else times[0])
    health.received = int(used.sum())
    delays = np.array([f.arrival - f.stamp for f in in_episode])
    health.late = int(np.sum(used & (delays > config.max_frame_delay)))
    # Gaps longer than the camera period, from the episode's start to its end, are frames that never came.
    gaps = np.diff(_coverage_points(stamps, times[0], times[-1]))
    health.dropped = int(np.sum(np.maximum(np.round(gaps / period) - 1, 0)))
    indices = np.searchsorted(stamps, times + tolerance, side="right") - 1
    return [in_episode[max(i, 0)].data for i in indices], health
