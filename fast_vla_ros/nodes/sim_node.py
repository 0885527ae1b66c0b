"""sim_node: the MuJoCo arm behind the interfaces a ros2_control arm or Isaac Sim offers.

Two ways to keep time. By default physics advances by the wall-clock time elapsed at each step tick, so
the rest of the system sees an arm that moves at real speed; joint states and frames are stamped with
this node's clock. With ``publish_clock`` it runs as Gazebo and Isaac Sim do: fixed steps of
1/``step_rate`` simulated seconds, ``real_time_factor`` times as fast as the wall clock (slower when the
machine cannot keep up), the simulated time published on ``/clock`` and stamped on every message, for
nodes started with ``use_sim_time: true``. Frames are rendered every 1/``camera_rate`` of that time.

Interfaces:
  subscribes  /<forward_controller>/commands (std_msgs/Float64MultiArray, ordered as ``joint_names``)
              /<trajectory_controller>/joint_trajectory (trajectory_msgs/JointTrajectory)
              <joint_command_topic> (sensor_msgs/JointState: positions by name, as Isaac Sim's articulation
              controller takes them; velocities and efforts are not used by the position servos)
  publishes   joint_states (sensor_msgs/JointState), camera/<name>/image_raw (sensor_msgs/Image, rgb8),
              ~/success (std_msgs/Bool, 5 Hz), ~/instruction (std_msgs/String, transient local, each episode),
              and the same on instruction (the policy's topic) when ``forward_instruction`` is set,
              /clock (rosgraph_msgs/Clock, every step)                                  [publish_clock]
  services    ~/reset (std_srvs/Trigger): new episode of parameter ``task`` with seed ``seed``; the response
              message is the task's instruction
Every episode, the one at start-up included, takes the seed in parameter ``seed`` and advances it by one,
so each ``~/reset`` lays out a new episode and setting ``seed`` picks the next one. With
``hold_arm_on_reset`` a reset also holds the arm until the policy has planned for the new instruction
(``ResetHold``).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from fast_vla_ros.data.joint_trajectory import JointTrajectoryFollower
from fast_vla_ros.nodes.conversions import (
    InvalidInput,
    joint_positions,
    rgb_to_image,
    seconds_to_stamp,
    stamp_to_seconds,
)
from fast_vla_ros.nodes.node_main import run_node
from fast_vla_ros.nodes.reset_hold import ResetHold
from fast_vla_ros.sim.camera_cadence import CameraCadence
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.sim.tasks import TASK_FAMILIES

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
MAX_CATCH_UP_S = 0.1  # after a stall (debugger, overloaded machine) simulate at most this much at once


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim_node")
        self._sim: ArmSimulator | None = None  # destroy_node must work on a node whose start failed
        self._task = self.declare_parameter("task", "touch").value
        self._seed = self.declare_parameter("seed", 0).value
        step_rate = self.declare_parameter("step_rate", 100.0).value
        camera_rate = self.declare_parameter("camera_rate", 10.0).value
        image_size = list(self.declare_parameter("image_size", [224, 224]).value)
        forward = self.declare_parameter("forward_controller", "forward_position_controller").value
        trajectory = self.declare_parameter("trajectory_controller", "joint_trajectory_controller").value
        forward_instruction = self.declare_parameter("forward_instruction", False).value
        hold_arm_on_reset = self.declare_parameter("hold_arm_on_reset", False).value
        joint_command = self.declare_parameter("joint_command_topic", "/joint_command").value
        publish_clock = bool(self.declare_parameter("publish_clock", False).value)
        real_time_factor = float(self.declare_parameter("real_time_factor", 1.0).value)
        if self._task not in TASK_FAMILIES:
            raise ValueError(f"unknown task '{self._task}'; known tasks are {sorted(TASK_FAMILIES)}")
        for name, rate in (("step_rate", step_rate), ("camera_rate", camera_rate)):
            if not rate > 0:
                raise ValueError(f"parameter {name} must be positive (Hz), got {rate}")
        if len(image_size) != 2 or min(image_size) <= 0:
            raise ValueError(f"parameter image_size must be [height, width], both positive, got {image_size}")
        if not (real_time_factor > 0 and np.isfinite(real_time_factor)):
            raise ValueError(f"real_time_factor must be > 0, got {real_time_factor}")
        if real_time_factor != 1.0 and not publish_clock:
            raise ValueError(
                f"real_time_factor {real_time_factor:g} needs publish_clock: true (and use_sim_time: true on the "
                "other nodes): on the wall clock the arm must move at real speed"
            )
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._sim = ArmSimulator(image_size=(int(image_size[0]), int(image_size[1])))
        self._follower = JointTrajectoryFollower(self._sim.joint_names)
        self._joint_states = self.create_publisher(JointState, "joint_states", 10)
        self._cameras = {
            name: self.create_publisher(Image, f"camera/{name}/image_raw", qos_profile_sensor_data)
            for name in self._sim.camera_names
        }
        self._clock_publisher = self.create_publisher(ClockMsg, "/clock", 10) if publish_clock else None
        self._steps = 0  # of simulated time published on /clock: it starts at 0, as Gazebo's and Isaac's do
        self._step_s = 1.0 / step_rate
        self._cadence = CameraCadence(1.0 / camera_rate)
        self._success = self.create_publisher(Bool, "~/success", 10)
        self._instructions = [self.create_publisher(String, "~/instruction", LATCHED)]
        if forward_instruction:
            self._instructions.append(self.create_publisher(String, "instruction", LATCHED))
        self._hold = ResetHold(self) if hold_arm_on_reset else None
        self.create_subscription(Float64MultiArray, f"/{forward}/commands", self._on_forward_command, 10)
        self.create_subscription(JointTrajectory, f"/{trajectory}/joint_trajectory", self._on_trajectory, 10)
        joint_command_subscription = self.create_subscription(JointState, joint_command, self._on_joint_command, 10)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._reset_episode()
        self._last_step = time.monotonic()
        # The steps are paced by the steady clock: this node makes the simulated time, it cannot wait on it.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(self._step_s / real_time_factor, self._on_step, clock=steady)
        self.create_timer(0.2, self._on_success, clock=steady)
        timing = f"simulated time on /clock at {real_time_factor:g}x real time" if publish_clock else "wall time"
        self.get_logger().info(
            f"ready: joints {list(self._sim.joint_names)}, cameras {list(self._cameras)} at {camera_rate:g} Hz, "
            f"{timing}; commands on /{forward}/commands, /{trajectory}/joint_trajectory or "
            f"{joint_command_subscription.topic_name}"
        )

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "task" and parameter.value not in TASK_FAMILIES:
                return SetParametersResult(
                    successful=False, reason=f"unknown task '{parameter.value}'; known: {sorted(TASK_FAMILIES)}"
                )
        for parameter in parameters:
            if parameter.name == "task":
                self._task = parameter.value
            elif parameter.name == "seed":
                self._seed = int(parameter.value)
        return SetParametersResult(successful=True)

    def _now(self) -> float:
        """The time this node stamps with: the simulated time it publishes, or its clock."""
        if self._clock_publisher is not None:
            return self._steps * self._step_s  # a product, not a running sum: no rounding drift over hours
        return self.get_clock().now().nanoseconds * 1e-9

    def _reset_episode(self) -> str:
        seed = int(self._seed)
        instruction = self._sim.reset(self._task, seed)
        self._follower.clear()
        self.set_parameters([Parameter("seed", value=seed + 1)])  # the next episode's; _on_set_parameters keeps it
        for publisher in self._instructions:
            publisher.publish(String(data=instruction))
        self.get_logger().info(f"episode: task '{self._task}' seed {seed}: \"{instruction}\"")
        return instruction

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        reset_stamp = self._now()
        response.message = self._reset_episode()
        response.success = True
        if self._hold is not None:
            self._hold.on_reset(response.message, reset_stamp)
        return response

    def _accepts_commands(self) -> bool:
        return self._hold is None or self._hold.accepts_commands

    def _on_forward_command(self, msg: Float64MultiArray) -> None:
        if not self._accepts_commands():
            return
        try:
            self._sim.set_joint_targets(np.asarray(msg.data, dtype=np.float64))
            self._follower.clear()
        except ValueError as error:
            self.get_logger().warning(f"forward command ignored: {error}")

    def _on_joint_command(self, msg: JointState) -> None:
        if not self._accepts_commands():
            return
        try:
            self._sim.set_joint_targets(joint_positions(msg, self._sim.joint_names))
            self._follower.clear()
        except (InvalidInput, ValueError) as error:
            self.get_logger().warning(f"joint command ignored: {error}")

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        if not self._accepts_commands():
            return
        start = stamp_to_seconds(msg.header.stamp) or self._now()
        times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points])
        try:
            positions = np.array([list(p.positions) for p in msg.points], dtype=np.float64)
            velocities = np.array([list(p.velocities) for p in msg.points], dtype=np.float64)
            self._follower.set_trajectory(
                list(msg.joint_names), start, times, positions, velocities if velocities.size else None,
                self._sim.joint_positions(),
            )
        except ValueError as error:
            self.get_logger().warning(f"joint trajectory rejected: {error}")

    def _on_step(self) -> None:
        now_monotonic = time.monotonic()
        elapsed = min(now_monotonic - self._last_step, MAX_CATCH_UP_S)
        self._last_step = now_monotonic
        targets = self._follower.target(self._now(), self._sim.joint_targets())
        self._sim.set_joint_targets(targets)
        if self._clock_publisher is not None:
            start = self._now()
            self._steps += 1
            now = self._now()
            self._advance_with_frames(start, now)
            self._clock_publisher.publish(ClockMsg(clock=seconds_to_stamp(now)))
        else:
            now = self._now()
            self._advance_with_frames(now - elapsed, now)
        msg = JointState(
            name=list(self._sim.joint_names),
            position=self._sim.joint_positions().tolist(),
            velocity=self._sim.joint_velocities().tolist(),
        )
        msg.header.stamp = seconds_to_stamp(now)
        self._joint_states.publish(msg)

    def _advance_with_frames(self, start: float, end: float) -> None:
        """Simulate from ``start`` to ``end``, stopping at each frame instant in between to render
        (``CameraCadence``: frames keep their cadence when a step comes late)."""
        reached = start
        for instant in self._cadence.instants(start, end):
            self._sim.advance(instant - reached)
            reached = instant
            self._publish_frames(instant)
        self._sim.advance(end - reached)

    def _publish_frames(self, now: float) -> None:
        stamp = seconds_to_stamp(now)
        for name, publisher in self._cameras.items():
            publisher.publish(rgb_to_image(self._sim.render(name), stamp, f"{name}_camera_optical_frame"))

    def _on_success(self) -> None:
        self._success.publish(Bool(data=bool(self._sim.success())))

    def destroy_node(self) -> None:
        for timer in list(self.timers):  # no step or camera tick may touch the simulator once it is closed
            self.destroy_timer(timer)
        if self._sim is not None:
            self._sim.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, "sim_node", args)


if __name__ == "__main__":
    sys.exit(main())
