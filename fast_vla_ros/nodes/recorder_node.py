"""recorder_node: demonstrations from live topics into a LeRobot v3 data set, an episode at a time.

A teleop UI or a script drives it: publish the task on ``instruction``, call ``~/start_episode``, move
the arm, call ``~/stop_episode`` with ``data: true`` to keep the episode (written as a success) or
``false`` to discard it. Callbacks only hand samples to ``EpisodeRecorder`` (the ROS-free core), whose
worker thread compresses frames and writes each finished episode atomically; the parameters are
``RecordingConfig``'s (one table, the same YAML ``fast-vla import-bag --config`` reads).

Interfaces:
  subscribes  joint_states_topic (sensor_msgs/JointState), command_topic (std_msgs/Float64MultiArray or
              trajectory_msgs/JointTrajectory, per command_type), camera_topics (sensor_msgs/Image, or
              CompressedImage when the topic ends in /compressed), instruction_topic (std_msgs/String,
              reliable + transient local)
  services    ~/start_episode (std_srvs/Trigger): the task is the last instruction received; the reply says
              why not when the arm's joint states are missing or stale, or the output directory unusable
              ~/stop_episode (std_srvs/SetBool): data true keeps the episode, false discards it; the reply
              gives the rows, and the written episode's health follows on ~/status and /diagnostics
  publishes   ~/status (std_msgs/String, JSON: state, the instruction the next start takes, episodes written,
              the last episode's rows and dropped frames, last error; on every change and at 1 Hz),
              /diagnostics (1 Hz)
"""

from __future__ import annotations

import dataclasses
import json
import sys

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from fast_vla_ros.data.arm_messages import forward_command, joint_state_arrays, stamp_seconds, trajectory_command
from fast_vla_ros.data.episode_recorder import EpisodeRecorder
from fast_vla_ros.data.episode_streams import RecordingError
from fast_vla_ros.data.image_messages import InvalidInput, printable
from fast_vla_ros.data.recording_config import RecordingConfig
from fast_vla_ros.nodes.diagnostics import diagnostic_array
from fast_vla_ros.nodes.node_main import run_node

# Best effort takes both best-effort and reliable publishers (camera drivers use either); the depth
# absorbs a burst while the executor is busy, which the loopback profile makes rare (ROS_ON_PIP.md).
STREAM_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
INSTRUCTION_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
POLL_PERIOD_S = 0.05
_DYNAMIC = ParameterDescriptor(dynamic_typing=True)


def declare_recording_parameters(node: Node) -> RecordingConfig:
    """One ROS parameter per ``RecordingConfig`` field, checked by the config (errors name the parameter)."""
    values = {}
    for field in dataclasses.fields(RecordingConfig):
        default = field.default
        if default is dataclasses.MISSING or default == ():
            default = [""]  # a string array parameter cannot be declared empty
        elif isinstance(default, tuple):
            default = list(default)
        values[field.name] = node.declare_parameter(field.name, default, _DYNAMIC).value
    return RecordingConfig.from_mapping(values)


class RecorderNode(Node):
    def __init__(self) -> None:
        super().__init__("recorder_node")
        self.config = declare_recording_parameters(self)
        config = self.config
        compressed = {
            name for name, topic in zip(config.camera_names, config.camera_topics, strict=True)
            if topic.rstrip("/").endswith("/compressed")
        }  # fmt: skip
        self._recorder = EpisodeRecorder(config, compressed, log=self.get_logger().warn)
        self._rejected: dict[str, int] = {}
        self.create_subscription(JointState, config.joint_states_topic, self._on_joint_state, STREAM_QOS)
        if config.command_type == "forward_position":
            self.create_subscription(Float64MultiArray, config.command_topic, self._on_forward_command, STREAM_QOS)
        else:
            self.create_subscription(JointTrajectory, config.command_topic, self._on_trajectory, STREAM_QOS)
        for name, topic in zip(config.camera_names, config.camera_topics, strict=True):
            msg_type = CompressedImage if name in compressed else Image
            self.create_subscription(msg_type, topic, lambda msg, name=name: self._on_frame(name, msg), STREAM_QOS)
        self.create_subscription(String, config.instruction_topic, self._on_instruction, INSTRUCTION_QOS)
        self.create_service(Trigger, "~/start_episode", self._on_start)
        self.create_service(SetBool, "~/stop_episode", self._on_stop)
        self._status = self.create_publisher(String, "~/status", 10)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._published_status: dict = {}
        self._last_poll = self._now()
        self.create_timer(POLL_PERIOD_S, self._on_poll)
        self.create_timer(1.0, self._on_diagnostics)
        self.get_logger().info(
            f"ready: recording into {config.output_dir} at {config.fps} Hz: joints {list(config.joint_names)} from "
            f"{config.joint_states_topic}, {config.command_type} commands on {config.command_topic}, cameras "
            f"{dict(zip(config.camera_names, config.camera_topics, strict=True))}, task from {config.instruction_topic}"
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _stamp(self, header_stamp, arrival: float) -> float:
        if self.config.stamp_source == "arrival":
            return arrival
        return stamp_seconds(header_stamp) or arrival  # some drivers leave the stamp at zero

    def _reject(self, what: str, error: Exception) -> None:
        """Bad input is counted and logged once per kind of problem; recording goes on."""
        count = self._rejected.get(what, 0) + 1
        self._rejected[what] = count
        if count == 1:
            self.get_logger().warning(f"{what} refused (logged once, counted in ~/status): {error}")

    def _on_joint_state(self, msg: JointState) -> None:
        arrival = self._now()
        try:
            positions, velocities = joint_state_arrays(msg, self.config.joint_names)
        except InvalidInput as error:
            self._reject("joint_states", error)
            return
        self._recorder.on_joint_state(self._stamp(msg.header.stamp, arrival), arrival, positions, velocities)

    def _on_forward_command(self, msg: Float64MultiArray) -> None:
        try:
            positions = forward_command(msg, self.config.command_order, self.config.joint_names)
        except InvalidInput as error:
            self._reject("command", error)
            return
        self._recorder.on_command(self._now(), positions)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        arrival = self._now()
        try:
            command = trajectory_command(msg, arrival, self.config.joint_names)
        except InvalidInput as error:
            self._reject("command", error)
            return
        self._recorder.on_command(arrival, command)

    def _on_frame(self, camera: str, msg: Image | CompressedImage) -> None:
        arrival = self._now()
        self._recorder.on_frame(camera, self._stamp(msg.header.stamp, arrival), arrival, msg)

    def _on_instruction(self, msg: String) -> None:
        self._recorder.on_instruction(msg.data)

    def _on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            self._recorder.prepare()
            number = self._recorder.start(self._now())
        except RecordingError as error:
            response.success, response.message = False, str(error)
            self.get_logger().warning(f"start_episode refused: {error}")
            return response
        response.success = True
        response.message = f"episode {number}: \"{printable(self._recorder.instruction)}\""
        self.get_logger().info(f"recording {response.message}")
        self._publish_status()
        return response

    def _on_stop(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        try:
            number, rows = self._recorder.stop(bool(request.data), self._now())
        except RecordingError as error:
            response.success, response.message = False, str(error)
            return response
        response.success = True
        response.message = (
            f"episode {number}: {rows} rows, being written" if request.data else f"episode {number} discarded"
        )
        self.get_logger().info(response.message)
        self._publish_status()
        return response

    def _on_poll(self) -> None:
        now = self._now()
        # A poll that comes late means this executor was busy: queued joint states are not missing ones.
        late = now - self._last_poll > POLL_PERIOD_S + self.config.joint_state_timeout / 2
        self._last_poll = now
        ended = self._recorder.poll(now, check_joint_states=not late)
        if ended is not None:
            self.get_logger().error(ended)
        self._publish_status(only_changes=True)

    def _status_values(self) -> dict:
        return {**self._recorder.status(), "refused": dict(self._rejected)}

    def _publish_status(self, only_changes: bool = False) -> None:
        status = self._status_values()
        if only_changes and status == self._published_status:
            return
        self._published_status = status
        self._status.publish(String(data=json.dumps(status)))

    def _on_diagnostics(self) -> None:
        status = self._status_values()
        self._status.publish(String(data=json.dumps(status)))
        level = "error" if status["last_error"] else "ok"
        message = status["last_error"] or f"{status['state']}, {status['episodes_written']} episodes written"
        flat = {k: v for k, v in status.items() if k != "refused"}
        flat.update({f"refused/{k}": v for k, v in status["refused"].items()})
        self._diagnostics.publish(diagnostic_array(self, level, message, flat))

    def destroy_node(self) -> None:
        self._recorder.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(RecorderNode, "recorder_node", args)


if __name__ == "__main__":
    sys.exit(main())
