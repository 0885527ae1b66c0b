"""Samples at their own rates and jitter become rows at the recording rate: states interpolated by time,
actions as the controller held them, the newest frame per row; gaps, late frames and a silent stream are
counted or refused, never papered over."""

from __future__ import annotations

import numpy as np
import pytest

from fast_vla_ros.data.episode_streams import (
    EpisodeStreams,
    Frame,
    RecordingError,
    TrajectoryCommand,
    assemble,
    row_times,
)
from fast_vla_ros.data.recording_config import RecordingConfig

JOINTS = ("a", "b")
CONFIG = RecordingConfig(
    joint_names=JOINTS, camera_names=("cam",), camera_topics=("/cam",), camera_rate=10.0, max_frame_delay=0.05
)


def streams(duration: float = 1.0, joint_rate: float = 100.0, skip_frames=(), late_frames=()) -> EpisodeStreams:
    s = EpisodeStreams(CONFIG)
    for t in np.arange(-0.05, duration + 0.05, 1 / joint_rate):
        s.add_joint_state(float(t), np.array([t, 2 * t]), None)
    for n in range(-1, int(duration * 10) + 1):
        if n in skip_frames:
            continue
        stamp = n / 10
        s.add_frame("cam", Frame(stamp, stamp + (0.2 if n in late_frames else 0.01), bytes([n % 256])))
    return s


def test_rows_sit_on_the_rate_grid_and_interpolate_the_state():
    s = streams()
    s.add_command(0.0, np.array([1.0, 1.0]))
    episode, health = assemble(s, "task", 0.003, 1.003)
    assert len(episode) == health.rows == 51
    np.testing.assert_allclose(episode.timestamps, np.arange(51) * 0.02, atol=1e-12)
    np.testing.assert_allclose(episode.state[:, 0], 0.003 + episode.timestamps, atol=1e-12)
    np.testing.assert_allclose(episode.velocity, np.tile([1.0, 2.0], (51, 1)), atol=1e-9)  # from the positions
    assert health.cameras["cam"].dropped == 0 and health.frames_late == 0


def test_forward_commands_hold_until_the_next_and_rows_before_the_first_hold_the_measured_position():
    s = streams()
    s.add_command(0.5, np.array([1.0, -1.0]))
    s.add_command(0.7, np.array([2.0, -2.0]))
    episode, health = assemble(s, "task", 0.0, 1.0)
    t = episode.timestamps
    np.testing.assert_allclose(episode.action[t < 0.5], episode.state[t < 0.5])
    assert health.rows_without_command == int(np.sum(t < 0.5))
    np.testing.assert_array_equal(episode.action[(t >= 0.5) & (t < 0.7)], [[1.0, -1.0]] * 10)
    np.testing.assert_array_equal(episode.action[t >= 0.7], [[2.0, -2.0]] * int(np.sum(t >= 0.7)))


def test_trajectory_commands_are_replayed_as_the_controller_interpolates_them():
    s = streams()
    s.add_command(-0.1, np.array([0.0, 0.0]))
    s.add_command(0.2, TrajectoryCommand(("b", "a"), 0.2, np.array([0.5]), np.array([[5.0, 1.0]]), None))
    episode, _ = assemble(s, "task", 0.0, 1.0)
    t = episode.timestamps
    np.testing.assert_allclose(episode.action[t <= 0.2], 0.0)
    ramp = (t > 0.2) & (t <= 0.7)
    np.testing.assert_allclose(episode.action[ramp, 0], (t[ramp] - 0.2) / 0.5 * 1.0, atol=1e-9)
    np.testing.assert_allclose(episode.action[ramp, 1], (t[ramp] - 0.2) / 0.5 * 5.0, atol=1e-9)
    np.testing.assert_allclose(episode.action[t > 0.7], [[1.0, 5.0]] * int(np.sum(t > 0.7)))


def test_each_row_shows_the_newest_frame_and_gaps_and_late_frames_are_counted():
    s = streams(skip_frames={3, 4, 7}, late_frames={5, 8})
    s.add_command(0.0, np.zeros(2))
    episode, health = assemble(s, "task", 0.0, 1.0)
    shown = [frame[0] for frame in episode.frames["cam"]]
    expected = [max(n for n in range(-1, 11) if n not in {3, 4, 7} and n / 10 <= t + 0.01) for t in episode.timestamps]
    assert shown == expected
    camera = health.cameras["cam"]
    assert camera.dropped == 3 and camera.late == 2 and camera.received == 11 - 3
    assert episode.metadata["frames_dropped/cam"] == 3 and episode.metadata["frames_late"] == 2


def test_a_silent_joint_state_stream_is_an_error_not_stale_rows():
    s = streams()
    s.add_command(0.0, np.zeros(2))
    keep = [i for i, t in enumerate(s.joint_times) if not 0.3 < t < 0.9]
    s.joint_times = [s.joint_times[i] for i in keep]
    s.positions = [s.positions[i] for i in keep]
    s.velocities = [s.velocities[i] for i in keep]
    with pytest.raises(RecordingError, match=r"stopped for 0\.6\d s .* at 0\.[23]\d s into the episode"):
        assemble(s, "task", 0.0, 1.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [("no_frames", "camera 'cam' sent no frame on /cam"), ("no_commands", "no command arrived"),
     ("no_joints", "no joint state arrived")],
)  # fmt: skip
def test_a_missing_input_names_its_topic(change, message):
    s = streams()
    if change != "no_commands":
        s.add_command(0.0, np.zeros(2))
    if change == "no_frames":
        s.frames["cam"] = []
    if change == "no_joints":
        s.joint_times, s.positions, s.velocities = [], [], []
    with pytest.raises(RecordingError, match=message):
        assemble(s, "task", 0.0, 1.0)


def test_row_count_is_duration_times_rate_plus_one():
    assert len(row_times(10.0, 12.0, 50)) == 101 and len(row_times(0.0, 0.019, 50)) == 1
