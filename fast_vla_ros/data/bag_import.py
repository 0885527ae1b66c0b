"""Episodes from a rosbag2 recording (MCAP or sqlite3), read with the ``rosbags`` library: no ROS install.

The same topic mapping as the live recorder (``RecordingConfig``, the ``recorder_node`` section of its YAML)
names the joint-state, command, camera and instruction topics, and the same ``EpisodeStreams.assemble``
turns samples into rows, so a bag gives the data set the recorder would have written. A bag has no
start/stop service calls, so episodes are found in it:

- ``bag_split: topic``: an episode starts at each message on ``bag_split_topic`` (by default the
  instruction topic: a new task, a new episode) and ends at the last command before the next one;
- ``bag_split: gap``: an episode is a stretch of commands without a pause longer than ``bag_split_gap``.

The bag's receive timestamps play the part of arrival times, header stamps (``stamp_source: header``) that
of sensor times, as in the live recorder. A first pass reads only the small topics to find the episodes;
the second reads each episode's time window, so memory holds one episode's frames, not the bag's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.typesys import Stores, get_typestore

from fast_vla_ros.data.arm_messages import forward_command, joint_state_arrays, stamp_seconds, trajectory_command
from fast_vla_ros.data.episode_streams import EpisodeStreams, Frame, RecordingError, RecordingHealth, assemble
from fast_vla_ros.data.episode_writer import EpisodeWriter
from fast_vla_ros.data.frame_codec import encode_frame
from fast_vla_ros.data.image_messages import InvalidInput, compressed_image_to_rgb, image_to_rgb
from fast_vla_ros.data.recording_config import RecordingConfig

# Message definitions for bags that carry none (rosbag2 stores them from Iron on); Humble's standard
# messages have the same layout for every type read here.
DEFAULT_TYPESTORE = Stores.ROS2_HUMBLE
NS = 1e-9


@dataclass(frozen=True)
class BagEpisode:
    instruction: str
    start: float  # s, bag time
    stop: float


@dataclass
class BagImportReport:
    written: list[tuple[int, RecordingHealth]] = field(default_factory=list)  # (episode index, health)
    skipped: list[str] = field(default_factory=list)  # why each unusable stretch was left out


def find_episodes(bag: Path, config: RecordingConfig) -> list[BagEpisode]:
    """The episodes of ``bag`` by the configured split (first pass: instruction, split and command topics)."""
    with _open(bag) as reader:
        _require_topics(reader, bag, config)
        instructions: list[tuple[float, str]] = []
        splits: list[float] = []
        commands: list[float] = []
        topics = {config.instruction_topic, config.command_topic, config.split_topic}
        for connection, timestamp, raw in reader.messages([c for c in reader.connections if c.topic in topics]):
            t = timestamp * NS
            if connection.topic == config.instruction_topic:
                instructions.append((t, _deserialize(reader, raw, connection.msgtype).data))
            if connection.topic == config.split_topic:
                splits.append(t)
            if connection.topic == config.command_topic:
                commands.append(t)
    if config.bag_split == "gap":
        stretches, begin = [], 0
        for i in range(1, len(commands) + 1):
            if i == len(commands) or commands[i] - commands[i - 1] > config.bag_split_gap:
                stretches.append((commands[begin], commands[i - 1]))
                begin = i
    else:
        bounds = [*splits, float("inf")]
        stretches = []
        for begin, end in zip(bounds, bounds[1:], strict=False):
            inside = [t for t in commands if begin <= t < end]
            stretches.append((begin, inside[-1] if inside else begin))
    episodes = []
    for start, stop in stretches:
        said = [text for t, text in instructions if t <= start + 1e-6]
        episodes.append(BagEpisode(said[-1] if said else "", start, stop))
    return episodes


def import_bag(
    bag: str | Path,
    config: RecordingConfig,
    out: str | Path,
    append: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BagImportReport:
    """Write every usable episode of ``bag`` to the data set at ``out`` (new, or continued with ``append``)."""
    bag = Path(bag)
    episodes = find_episodes(bag, config)
    report = BagImportReport()
    writer = EpisodeWriter(
        out,
        fps=config.fps,
        joint_names=config.joint_names,
        cameras=config.camera_names,
        image_size=config.image_size,
        robot_type=config.robot_type,
        extra_info={"generator": "fast-vla import-bag", "bag": bag.name, "image_format": config.image_format},
        append=append,
    )
    with _open(bag) as reader:
        for number, episode in enumerate(episodes):
            where = f"episode {number} ({episode.start:.2f} to {episode.stop:.2f} s)"
            try:
                if not episode.instruction.strip():
                    raise RecordingError(f"no message on {config.instruction_topic} before it")
                streams = _read_window(reader, config, episode)
                recorded, health = assemble(
                    streams, episode.instruction, episode.start, episode.stop, {"bag_start_s": episode.start}
                )
                report.written.append((writer.add(recorded), health))
            except RecordingError as error:
                report.skipped.append(f"{where}: {error}")
            if progress is not None:
                progress(1)
    return report


@contextmanager
def _open(bag: Path) -> Iterator[AnyReader]:
    if not bag.exists():
        raise FileNotFoundError(f"bag not found: {bag}")
    reader = AnyReader([bag], default_typestore=get_typestore(DEFAULT_TYPESTORE))
    try:
        reader.open()
    except AnyReaderError as error:
        raise ValueError(f"{bag} is not a readable rosbag2 recording: {error}") from error
    try:
        yield reader
    finally:
        reader.close()


def _require_topics(reader: AnyReader, bag: Path, config: RecordingConfig) -> None:
    present = {c.topic for c in reader.connections}
    needed = [config.joint_states_topic, config.command_topic, config.instruction_topic, *config.camera_topics]
    if config.bag_split == "topic":
        needed.append(config.split_topic)
    missing = sorted(set(needed) - present)
    if missing:
        raise ValueError(f"{bag} has no messages on {missing}; its topics are {sorted(present)}")


def _read_window(reader: AnyReader, config: RecordingConfig, episode: BagEpisode) -> EpisodeStreams:
    """The samples around one episode, as the live recorder would have received them."""
    streams = EpisodeStreams(config)
    margin = max(config.joint_state_timeout, 1.0, 2.0 / config.camera_rate)
    cameras = dict(zip(config.camera_topics, config.camera_names, strict=True))
    topics = {config.joint_states_topic, config.command_topic, *cameras}
    connections = [c for c in reader.connections if c.topic in topics]
    start_ns, stop_ns = int((episode.start - margin) / NS), int((episode.stop + margin) / NS)
    for connection, timestamp, raw in reader.messages(connections, start=max(start_ns, 0), stop=stop_ns):
        arrival = timestamp * NS
        try:
            msg = _deserialize(reader, raw, connection.msgtype)
            if connection.topic == config.joint_states_topic:
                positions, velocities = joint_state_arrays(msg, config.joint_names)
                streams.add_joint_state(_stamp(config, msg, arrival), positions, velocities)
            elif connection.topic == config.command_topic:
                _add_command(streams, config, msg, arrival, episode)
            else:
                _add_frame(streams, config, cameras[connection.topic], msg, arrival)
        except (InvalidInput, AnyReaderError):  # a message that cannot be used is skipped, as live
            if connection.topic in cameras:
                streams.add_invalid_frame(cameras[connection.topic])
    return streams


def _deserialize(reader: AnyReader, raw: bytes, msgtype: str) -> Any:
    """rosbags accepts at most 3 bytes after a CDR message; Fast DDS pads some to 8-byte alignment (measured
    here on rclpy's serialized sensor_msgs/JointState: 4 more), so a message that is 4 bytes too long for
    rosbags is read again without them."""
    try:
        return reader.deserialize(raw, msgtype)
    except AnyReaderError as error:
        if "size mismatch" not in str(error) or len(raw) <= 8:
            raise
        return reader.deserialize(bytes(raw[:-4]), msgtype)


def _stamp(config: RecordingConfig, msg: Any, arrival: float) -> float:
    if config.stamp_source == "arrival":
        return arrival
    return stamp_seconds(msg.header.stamp) or arrival


def _add_command(
    streams: EpisodeStreams, config: RecordingConfig, msg: Any, arrival: float, episode: BagEpisode
) -> None:
    # Only the episode's own commands: one from before its start may belong to the previous task, sent before
    # the scene was reset (rows before the first command take the measured position, as live).
    if not episode.start - 1e-6 <= arrival <= episode.stop + 1e-6:
        return
    if config.command_type == "forward_position":
        streams.add_command(arrival, forward_command(msg, config.command_order, config.joint_names))
    else:
        streams.add_command(arrival, trajectory_command(msg, arrival, config.joint_names))


def _add_frame(streams: EpisodeStreams, config: RecordingConfig, camera: str, msg: Any, arrival: float) -> None:
    compressed = hasattr(msg, "format")
    decode = compressed_image_to_rgb if compressed else image_to_rgb
    data = encode_frame(decode(msg, config.image_size), config.image_format)
    streams.add_frame(camera, Frame(_stamp(config, msg, arrival), arrival, data))
