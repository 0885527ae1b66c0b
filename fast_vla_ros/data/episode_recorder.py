"""The recorder's core, without ROS: an episode at a time from live samples, written on a worker thread.

The ROS callbacks call ``on_joint_state``, ``on_command`` and ``on_frame``, which only append under a lock
and return; camera frames are decoded and compressed, and finished episodes assembled and written, by one
worker thread in arrival order, so a callback never waits on JPEG encoding or the disk. ``poll`` (a timer)
ends an episode whose joint states stopped, and hands a stopped episode to the worker once frames taken
before the stop have had ``max_frame_delay`` to arrive.

An episode is only ever written whole, by ``EpisodeWriter.add``; one in progress when the process dies is
simply absent from the data set. ``close`` (clean shutdown) discards the one in progress, with a log line,
and waits for the stopped ones to be written.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fast_vla_ros.data.episode_streams import (
    EpisodeStreams,
    Frame,
    RecordingError,
    RecordingHealth,
    TrajectoryCommand,
    assemble,
    row_times,
)
from fast_vla_ros.data.episode_writer import EpisodeWriter
from fast_vla_ros.data.frame_codec import encode_frame
from fast_vla_ros.data.image_messages import InvalidInput, compressed_image_to_rgb, image_to_rgb
from fast_vla_ros.data.recording_config import RecordingConfig

Command = np.ndarray | TrajectoryCommand
# A command older than this at the start of an episode is not taken as the one in force: the arm has long
# settled (its measured position is then the better action), or was moved since, as a simulator reset does.
COMMAND_PRE_ROLL_S = 1.0


@dataclass
class EpisodeOutcome:
    """What became of one recorded episode (``index`` in the data set, or the error that kept it out)."""

    number: int  # episodes started by this recorder, from 0
    instruction: str
    index: int | None = None
    health: RecordingHealth | None = None
    error: str = ""


@dataclass
class _Episode:
    number: int
    instruction: str
    start: float
    streams: EpisodeStreams
    stop: float | None = None
    deadline: float | None = None  # stopped: frames taken before ``stop`` may arrive until then


class EpisodeRecorder:
    def __init__(
        self,
        config: RecordingConfig,
        compressed_cameras: set[str] | None = None,
        log: Callable[[str], None] = print,
        extra_info: dict | None = None,
    ) -> None:
        self.config = config
        self._compressed = compressed_cameras or set()
        self._log = log
        self._extra_info = extra_info or {}
        self._lock = threading.Lock()
        self._writer: EpisodeWriter | None = None
        self._recording: _Episode | None = None
        self._stopped: list[_Episode] = []
        self._started = 0
        self._latest_joint_state: tuple[float, np.ndarray, np.ndarray | None] | None = None
        self._last_joint_arrival: float | None = None
        self._latest_command: tuple[float, Command] | None = None
        self._latest_frames: dict[str, tuple[float, float, Any]] = {}
        self.instruction = ""
        self.outcomes: list[EpisodeOutcome] = []
        self.last_error = ""
        self._jobs: queue.Queue = queue.Queue()
        self._written = threading.Condition(self._lock)
        self._worker = threading.Thread(target=self._work, name="episode_writer", daemon=True)
        self._worker.start()

    # --- inputs (ROS callbacks): append and return ---

    def on_joint_state(
        self, stamp: float, arrival: float, positions: np.ndarray, velocities: np.ndarray | None
    ) -> None:
        with self._lock:
            self._latest_joint_state = (stamp, positions, velocities)
            self._last_joint_arrival = arrival
            for episode in self._open_episodes():
                episode.streams.add_joint_state(stamp, positions, velocities)

    def on_command(self, time: float, command: Command) -> None:
        with self._lock:
            self._latest_command = (time, command)
            for episode in self._open_episodes():
                episode.streams.add_command(time, command)

    def on_frame(self, camera: str, stamp: float, arrival: float, msg: Any) -> None:
        """A raw camera message (decoded later, on the worker)."""
        with self._lock:
            self._latest_frames[camera] = (stamp, arrival, msg)
            targets = [e for e in self._open_episodes() if e.stop is None or stamp <= e.stop + 0.5 / self.config.fps]
            if targets:
                self._jobs.put(("frame", targets, camera, stamp, arrival, msg))

    def _open_episodes(self) -> list[_Episode]:
        """The recording episode and the stopped ones still taking samples delayed in transport."""
        return self._stopped + ([self._recording] if self._recording is not None else [])

    # --- control (services, timers) ---

    def on_instruction(self, text: str) -> None:
        """The task of the next episode (``start`` records it with the episode)."""
        with self._lock:
            self.instruction = text

    def prepare(self) -> None:
        """Open the data set, before ``start`` takes its time: opening one to continue reads its data files."""
        with self._lock:
            self._open_writer()

    def start(self, now: float) -> int:
        """Begin an episode of the last instruction at ``now``; its number. ``RecordingError`` says why not."""
        with self._lock:
            instruction = self.instruction
            if self._recording is not None:
                raise RecordingError(f"episode {self._recording.number} is still recording; stop it first")
            if not instruction.strip():
                raise RecordingError(
                    f"no instruction: publish the task on {self.config.instruction_topic} before starting"
                )
            self._require_fresh_inputs(now)
            self._open_writer()
            episode = _Episode(self._started, instruction, now, EpisodeStreams(self.config))
            self._started += 1
            # What held at the start: the arm's last state, the command in force, each camera's last frame.
            stamp, positions, velocities = self._latest_joint_state
            episode.streams.add_joint_state(stamp, positions, velocities)
            if self._latest_command is not None and now - self._latest_command[0] <= COMMAND_PRE_ROLL_S:
                episode.streams.add_command(*self._latest_command)
            for camera, (frame_stamp, arrival, msg) in self._latest_frames.items():
                self._jobs.put(("frame", [episode], camera, frame_stamp, arrival, msg))
            self._recording = episode
            return episode.number

    def stop(self, keep: bool, now: float) -> tuple[int, int]:
        """End the episode at ``now``: written when ``keep`` (as a success), else discarded. Returns its
        number and its row count; ``RecordingError`` when no episode is recording."""
        with self._lock:
            episode = self._recording
            if episode is None:
                raise RecordingError("no episode is recording; call start_episode first")
            self._recording = None
            rows = len(row_times(episode.start, now, self.config.fps))
            if not keep:
                self.outcomes.append(EpisodeOutcome(episode.number, episode.instruction, error="discarded"))
                return episode.number, rows
            episode.stop, episode.deadline = now, now + self.config.max_frame_delay
            self._stopped.append(episode)
            return episode.number, rows

    def poll(self, now: float, check_joint_states: bool = True) -> str | None:
        """Called by a timer: ends an episode whose joint states stopped (returns why), and hands stopped
        episodes whose frame deadline passed to the worker. A caller whose own timer ran late passes
        ``check_joint_states=False``: joint states may be waiting in its queue, not missing."""
        with self._lock:
            for episode in [e for e in self._stopped if now >= e.deadline]:
                self._stopped.remove(episode)
                self._jobs.put(("finish", episode))
            episode = self._recording
            if episode is None or self._last_joint_arrival is None or not check_joint_states:
                return None
            silent = now - max(self._last_joint_arrival, episode.start)
            if silent <= self.config.joint_state_timeout:
                return None
            self._recording = None
            reason = (
                f"episode {episode.number} ended with an error: no joint state on {self.config.joint_states_topic} "
                f"for {silent:.2f} s (joint_state_timeout {self.config.joint_state_timeout:g} s); it was not "
                "written, so no stale rows reached the data set"
            )
            self.outcomes.append(EpisodeOutcome(episode.number, episode.instruction, error=reason))
            self.last_error = reason
            return reason

    def wait_written(self, number: int, timeout_s: float) -> EpisodeOutcome | None:
        """The outcome of episode ``number`` once known (None at the timeout)."""
        with self._written:
            self._written.wait_for(lambda: any(o.number == number for o in self.outcomes), timeout_s)
            return next((o for o in self.outcomes if o.number == number), None)

    def status(self) -> dict[str, object]:
        with self._lock:
            written = [o for o in self.outcomes if o.index is not None]
            last = self.outcomes[-1] if self.outcomes else None
            status: dict[str, object] = {
                "state": "recording" if self._recording is not None else "idle",
                "episode": self._recording.number if self._recording is not None else -1,
                "instruction": self.instruction,
                "episodes_written": len(written),
                "episodes_failed": sum(1 for o in self.outcomes if o.error and o.error != "discarded"),
                "episodes_discarded": sum(1 for o in self.outcomes if o.error == "discarded"),
                "writes_pending": len(self._stopped) + self._jobs.qsize(),
                "output_dir": self.config.output_dir,
                "last_error": self.last_error,
            }
            if last is not None and last.health is not None:
                status.update(
                    last_rows=last.health.rows,
                    last_frames_dropped=last.health.frames_dropped,
                    last_frames_late=last.health.frames_late,
                )
            return status

    def close(self, timeout_s: float = 30.0) -> None:
        """Discard the episode in progress (it never reached the disk) and write the stopped ones."""
        with self._lock:
            if self._recording is not None:
                self._log(f"episode {self._recording.number} was still recording at shutdown: discarded")
                self._recording = None
            for episode in self._stopped:
                self._jobs.put(("finish", episode))
            self._stopped = []
            self._jobs.put(("quit",))
        self._worker.join(timeout_s)

    # --- worker ---

    def _require_fresh_inputs(self, now: float) -> None:
        """Refuse to start on a topic that never arrived or went quiet: the episode could not be written."""
        config = self.config
        topic = config.joint_states_topic
        if self._last_joint_arrival is None:
            raise RecordingError(f"no joint state has arrived on {topic}; is the arm's driver running?")
        age = now - self._last_joint_arrival
        if age > config.joint_state_timeout:
            raise RecordingError(
                f"the last joint state on {topic} is {age:.2f} s old (joint_state_timeout "
                f"{config.joint_state_timeout:g} s); is the arm's driver running?"
            )
        patience = max(1.0, 3.0 / config.camera_rate)
        quiet = [
            f"'{camera}' on {topic}"
            for camera, topic in zip(config.camera_names, config.camera_topics, strict=True)
            if camera not in self._latest_frames or now - self._latest_frames[camera][1] > patience
        ]
        if quiet:
            raise RecordingError(f"no frame in the last {patience:g} s from camera {', '.join(quiet)}")

    def _open_writer(self) -> None:
        if self._writer is not None:
            return
        config = self.config
        try:
            self._writer = EpisodeWriter(
                config.output_dir,
                fps=config.fps,
                joint_names=config.joint_names,
                cameras=config.camera_names,
                image_size=config.image_size,
                robot_type=config.robot_type,
                extra_info={"generator": "recorder_node", "image_format": config.image_format, **self._extra_info},
                append=True,
            )
        except (OSError, ValueError) as error:
            raise RecordingError(f"cannot record into output_dir {config.output_dir}: {error}") from error

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job[0] == "quit":
                return
            if job[0] == "frame":
                self._encode(*job[1:])
            else:
                self._finish(job[1])

    def _encode(self, targets: list[_Episode], camera: str, stamp: float, arrival: float, msg: Any) -> None:
        try:
            decode = compressed_image_to_rgb if camera in self._compressed else image_to_rgb
            data = encode_frame(decode(msg, self.config.image_size), self.config.image_format)
        except InvalidInput as error:
            with self._lock:
                for episode in targets:
                    episode.streams.add_invalid_frame(camera)
                self.last_error = f"camera '{camera}': {error}"
            return
        frame = Frame(stamp, arrival, data)
        with self._lock:
            for episode in targets:
                episode.streams.add_frame(camera, frame)

    def _finish(self, episode: _Episode) -> None:
        outcome = EpisodeOutcome(episode.number, episode.instruction)
        try:
            recorded, outcome.health = assemble(
                episode.streams, episode.instruction, episode.start, episode.stop, {"success": True}
            )
            outcome.index = self._writer.add(recorded)
        except (RecordingError, OSError, ValueError) as error:
            outcome.error = f"episode {episode.number} not written: {error}"
            self._log(outcome.error)
        with self._written:
            if outcome.error:
                self.last_error = outcome.error
            self.outcomes.append(outcome)
            self._written.notify_all()
