"""recorder_node as a separate process over real DDS, fed by the test playing the arm (joint states at 100 Hz,
forward commands at 50 Hz, two cameras at 30 Hz): episodes written on stop hold rows resampled by time at 50 Hz,
the commanded positions as actions and the newest frame of each camera; gaps in a camera are counted as
dropped frames; a stopped joint-state stream ends the episode with an error and writes nothing; bad input and
unusable directories are refused with a reason while the node keeps running; and a recorder killed mid-episode
leaves every finished episode readable, the next recorder continuing the same data set."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
import yaml
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger

from fast_vla_ros.data.episode_dataset import EpisodeDataset
from fast_vla_ros.nodes.conversions import rgb_to_image, seconds_to_stamp

pytestmark = [pytest.mark.ros, pytest.mark.slow]

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
JOINTS = ("j1", "j2", "gripper")
CAMERAS = ("scene", "wrist")
SIZE = 16
FPS = 50
CAMERA_RATE = 30.0
SLOPE = np.array([0.1, -0.2, 0.01])  # rad/s of the joint ramp the test plays
COMMAND_OFFSET = 0.05  # rad: the commands lead the measured positions by this much


def recorder_params(tmp_path: Path, output_dir: Path, **overrides) -> Path:
    parameters = {
        "output_dir": str(output_dir),
        "robot_type": "test_arm",
        "joint_names": list(JOINTS),
        # the controller orders its joints differently from the data set: commands are resolved by name
        "command_joint_names": ["gripper", "j1", "j2"],
        "camera_names": list(CAMERAS),
        "camera_topics": [f"/camera/{c}/image_raw" for c in CAMERAS],
        "image_size": [SIZE, SIZE],
        "image_format": "png",
        "camera_rate": CAMERA_RATE,
        "max_frame_delay": 1.0,  # a loaded test machine delivers late; lateness has a test of its own below
        "joint_state_timeout": 0.5,
        **overrides,
    }
    path = tmp_path / f"recorder_{len(list(tmp_path.glob('recorder_*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump({"recorder_node": {"ros__parameters": parameters}}))
    return path


class ArmStandIn:
    """The arm, its controller's command topic and two cameras, published from the test's own node with
    stamps on the ideal grid of each rate (so gaps are exactly the frames the test leaves out).

    Joint positions follow ``q(t) = SLOPE * (t - t0)``; frame ``n`` of each camera is a flat image of value
    ``4 n % 256`` (4 grey levels apart, which H.264 keeps apart); a command is the position
    ``COMMAND_OFFSET`` ahead of the joint state published with it.
    """

    def __init__(self, harness) -> None:
        node = harness.node
        self.node = node
        self.t0 = self.now()
        self.joint_states = node.create_publisher(JointState, "/joint_states", 10)
        self.commands = node.create_publisher(Float64MultiArray, "/forward_position_controller/commands", 10)
        self.cameras = {
            c: node.create_publisher(Image, f"/camera/{c}/image_raw", qos_profile_sensor_data) for c in CAMERAS
        }
        self.instruction = node.create_publisher(String, "/instruction", LATCHED)
        self.publishing_joint_states = True
        self.skipped_frames: set[int] = set()  # frame numbers not to publish
        self.joint_count = 0
        self.frame_count = 0
        node.create_timer(0.01, self._tick)

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def position(self, t: float) -> np.ndarray:
        return SLOPE * (t - self.t0)

    def _tick(self) -> None:
        now = self.now()
        if self.publishing_joint_states:
            msg = JointState(name=list(JOINTS), position=self.position(now).tolist())
            msg.header.stamp = seconds_to_stamp(now)
            self.joint_states.publish(msg)
            self.joint_count += 1
            if self.joint_count % 2 == 0:  # forward commands at 50 Hz, in the controller's joint order
                target = self.position(now) + COMMAND_OFFSET
                self.commands.publish(Float64MultiArray(data=[target[2], target[0], target[1]]))
        due = int((now - self.t0) * CAMERA_RATE)
        while self.frame_count <= due:
            n = self.frame_count
            self.frame_count += 1
            if n not in self.skipped_frames:
                self._publish_frame(n)

    def _publish_frame(self, n: int) -> None:
        stamp = seconds_to_stamp(self.t0 + n / CAMERA_RATE)
        pixels = np.full((SIZE, SIZE, 3), n * 4 % 256, dtype=np.uint8)
        for camera, publisher in self.cameras.items():
            publisher.publish(rgb_to_image(pixels, stamp, camera))


class Recorder:
    """The operator's side: services and ~/status of one recorder_node process."""

    def __init__(self, harness, arm: ArmStandIn) -> None:
        self.harness, self.arm = harness, arm
        self.statuses = harness.record(String, "/recorder_node/status")

    def status(self) -> dict:
        return json.loads(self.statuses[-1].data) if self.statuses else {}

    def wait_status(self, condition, what: str) -> dict:
        self.harness.spin_until(lambda: bool(self.statuses) and condition(self.status()), what=what)
        return self.status()

    def instruct(self, instruction: str) -> None:
        """Publish the task and wait until the recorder has it (its ~/status echoes it)."""
        self.arm.instruction.publish(String(data=instruction))
        self.wait_status(lambda s: s["instruction"] == instruction, f"the recorder to take '{instruction}'")

    def start(self, instruction: str | None = None) -> Trigger.Response:
        if instruction is not None:
            self.instruct(instruction)
        return self.harness.call(Trigger, "/recorder_node/start_episode", Trigger.Request())

    def stop(self, keep: bool) -> SetBool.Response:
        return self.harness.call(SetBool, "/recorder_node/stop_episode", SetBool.Request(data=keep))

    def record_for(self, seconds: float) -> None:
        """Spin while the arm publishes for ``seconds`` more of its own clock (an event: the clock passing)."""
        until = self.arm.now() + seconds
        self.harness.spin_until(lambda: self.arm.now() >= until, what=f"{seconds} s of recording")

    def wait_ready(self) -> None:
        """Until a start succeeds: the node is up and has our joint states and frames (discarded at once)."""
        def started() -> bool:
            if self.start().success:
                stopped = self.stop(keep=False)
                assert stopped.success, f"{stopped.message}; status {self.status()}"
                return True
            return False

        self.harness.spin_until(lambda: self.arm.frame_count > 3, what="the arm stand-in publishing")
        self.instruct("warming up")
        self.harness.spin_until(started, what="recorder_node accepting start_episode")

    def record_episode(self, instruction: str, seconds: float) -> dict:
        written = self.status().get("episodes_written", 0)
        response = self.start(instruction)
        assert response.success and instruction in response.message, response.message
        self.record_for(seconds)
        assert self.stop(keep=True).success
        return self.wait_status(lambda s: s["episodes_written"] > written, "the episode written")


@pytest.fixture
def recording(harness, spawn_python, tmp_path):
    arm = ArmStandIn(harness)
    output = tmp_path / "dataset"
    child = spawn_python(
        "-m", "fast_vla_ros.nodes.recorder_node", "--ros-args", "--params-file", recorder_params(tmp_path, output)
    )
    recorder = Recorder(harness, arm)
    recorder.wait_ready()
    return recorder, arm, output, child


def test_an_episode_is_resampled_by_time_with_commands_as_actions_and_the_newest_frames(recording):
    recorder, arm, output, child = recording
    arm.skipped_frames = {arm.frame_count + 20 + k for k in range(5)}  # five frames lost on the way
    status = recorder.record_episode("pick up the red cube", seconds=2.0)
    assert status["last_frames_dropped"] == 2 * 5 and not status["last_error"], status  # both cameras
    dataset = EpisodeDataset(output)
    assert len(dataset) == 1 and dataset.fps == FPS and dataset.joint_names == JOINTS
    episode = dataset.episodes[0]
    assert episode.instruction == "pick up the red cube" and episode.metadata["success"] is True
    assert episode.metadata["frames_dropped/scene"] == 5 and episode.metadata["frames_dropped/wrist"] == 5
    # rows = duration x rate + 1: nothing lost, nothing invented
    assert episode.length == int(np.floor(episode.metadata["duration_s"] * FPS + 1e-6)) + 1
    assert 1.5 * FPS <= episode.length <= 3 * FPS
    rows = dataset.frame_rows(0)
    state, action, stamps = dataset.state[rows], dataset.action[rows], dataset.timestamp[rows]
    np.testing.assert_allclose(np.diff(stamps), 1 / FPS, atol=1e-5)
    # the ramp is linear, so interpolating the joint states by time reproduces it exactly at every row
    np.testing.assert_allclose(state - state[0], np.outer(stamps, SLOPE), atol=1e-5)
    # actions: the last command received before each row. A command is the ramp's position at the instant it
    # was sent plus the offset, so (action - state - offset) / SLOPE is how long before the row it was sent:
    # the same for every joint (all three values come from one command), never after the row, and recent.
    sent_before = (action[1:] - state[1:] - COMMAND_OFFSET) / SLOPE
    np.testing.assert_allclose(sent_before, sent_before[:, :1].repeat(3, axis=1), atol=2e-3)
    assert np.all(sent_before <= 2e-3) and np.median(sent_before) > -0.1, sent_before[:, 0]
    np.testing.assert_allclose(dataset.velocity[rows], np.tile(SLOPE, (len(stamps), 1)), atol=1e-4)
    # each row shows the newest frame taken at or before it: frame numbers never go back, and skip only
    # where the test left frames out
    shown = np.array([round(dataset.image(0, k, "wrist")[0, 0, 0] / 4) for k in range(episode.length)])
    steps = np.diff(shown) % 64
    assert set(steps) <= {0, 1, 6} and np.sum(steps == 6) == 1
    assert child.poll() is None


def test_a_stopped_joint_state_stream_ends_the_episode_unwritten_and_recording_goes_on(recording):
    recorder, arm, output, child = recording
    recorder.record_episode("touch the blue can", seconds=1.0)
    response = recorder.start("push the green block to the left")
    assert response.success, response.message
    recorder.record_for(0.5)
    arm.publishing_joint_states = False
    status = recorder.wait_status(lambda s: s["state"] == "idle", "the recorder to end the episode")
    assert "no joint state" in status["last_error"] and status["episodes_written"] == 1
    assert not recorder.stop(keep=True).success  # nothing left to stop
    arm.publishing_joint_states = True
    recorder.record_for(0.2)
    recorder.record_episode("lift the blue can", seconds=1.0)
    assert [e.instruction for e in EpisodeDataset(output).episodes] == ["touch the blue can", "lift the blue can"]
    assert child.poll() is None


def test_start_is_refused_with_a_reason_and_discarded_episodes_are_not_written(recording):
    recorder, arm, output, child = recording
    empty = recorder.start("")
    assert not empty.success and "instruction" in empty.message
    response = recorder.start("touch the red cube")
    assert response.success
    again = recorder.start("touch the red cube")
    assert not again.success and "still recording" in again.message
    assert recorder.stop(keep=False).success
    assert len(EpisodeDataset(output)) == 0
    arm.publishing_joint_states = False
    recorder.harness.spin_until(
        lambda: not (refusal := recorder.start()).success and "joint state" in refusal.message,
        what="start refused for stale joint states",
    )
    arm.publishing_joint_states = True
    recorder.record_for(0.2)
    bad = JointState(name=["j1", "j1", "gripper"], position=[0.0, 0.0, 0.0])
    arm.joint_states.publish(bad)
    status = recorder.wait_status(lambda s: s["refused"].get("joint_states", 0) >= 1, "the bad joint state counted")
    assert status["state"] == "idle" and child.poll() is None


def test_an_unusable_output_directory_is_refused_and_the_node_keeps_running(harness, spawn_python, tmp_path):
    arm = ArmStandIn(harness)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    child = spawn_python(
        "-m", "fast_vla_ros.nodes.recorder_node", "--ros-args", "--params-file",
        recorder_params(tmp_path, blocker / "dataset"),
    )  # fmt: skip
    recorder = Recorder(harness, arm)
    harness.spin_until(lambda: arm.frame_count > 3, what="the arm stand-in publishing")
    messages = []

    recorder.instruct("touch the red cube")

    def refused_for_the_directory() -> bool:
        response = recorder.start()
        messages.append(response.message)
        return not response.success and "output_dir" in response.message

    harness.spin_until(refused_for_the_directory, what=f"a refusal naming output_dir (got {messages[-1:]})")
    assert child.poll() is None


def test_a_recorder_killed_mid_episode_leaves_a_readable_data_set_that_the_next_one_continues(
    recording, spawn_python, tmp_path
):
    recorder, arm, output, child = recording
    recorder.record_episode("touch the red cube", seconds=1.0)
    assert recorder.start("lift the green block").success
    recorder.record_for(1.0)
    child.send_signal(signal.SIGKILL)  # mid-episode, as a crash or a power cut would end it
    child.wait(timeout=10)
    dataset = EpisodeDataset(output)
    assert [e.instruction for e in dataset.episodes] == ["touch the red cube"]
    length = dataset.episodes[0].length
    assert dataset.num_frames == length and len(dataset.compressed_frames(0, "scene")) == length  # MP4 decoded
    assert sorted(str(p.relative_to(output)) for p in output.rglob("*.mp4")) == [
        f"videos/observation.images.{camera}/chunk-000/file-000.mp4" for camera in CAMERAS
    ]
    assert not list(output.rglob("*.tmp"))
    # a new recorder on the same directory continues the data set
    spawn_python(
        "-m", "fast_vla_ros.nodes.recorder_node", "--ros-args", "--params-file", recorder_params(tmp_path, output)
    )
    recorder.statuses.clear()
    recorder.wait_ready()
    recorder.record_episode("lift the green block", seconds=1.0)
    dataset = EpisodeDataset(output)
    assert [e.instruction for e in dataset.episodes] == ["touch the red cube", "lift the green block"]
    assert dataset.episodes[1].start == dataset.episodes[0].length
