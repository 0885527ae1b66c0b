"""The Isaac Sim output mode end to end over real DDS: chunk_executor_node (output_mode joint_state) publishes
each tick's command as a sensor_msgs/JointState on /joint_command, and sim_node, standing in for Isaac Sim's
"ROS2 Subscribe Joint State" + "Articulation Controller" graph, moves the arm by it."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.nodes.conversions import action_chunk_to_msg
from fast_vla_ros.types import ActionChunk

pytestmark = pytest.mark.ros

PARAMS_FILE = "config/sim.yaml"
NODE = "chunk_executor_node"
MAX_STEP = 0.05  # rad per tick: safety.max_step in config/sim.yaml


def test_joint_state_commands_drive_the_simulated_arm(harness, spawn_python):
    spawn_python("-m", "fast_vla_ros.nodes.sim_node", "--ros-args", "--params-file", PARAMS_FILE)
    spawn_python("-m", "fast_vla_ros.nodes.chunk_executor_node", "--ros-args", "--params-file", PARAMS_FILE,
                 "-p", "output_mode:=joint_state", "-p", "diagnostics_period:=0.5")  # fmt: skip
    node = harness.node
    measured: list[JointState] = []
    node.create_subscription(JointState, "/joint_states", measured.append, qos_profile_sensor_data)
    commands: list[JointState] = harness.record(JointState, "/joint_command")
    forward = harness.record(Float64MultiArray, "/forward_position_controller/commands")
    chunks = node.create_publisher(ActionChunkMsg, "/action_chunk", 10)

    harness.spin_until(lambda: len(measured) > 5, what="joint states from sim_node")
    status = harness.next_diagnostics(NODE)
    assert status["output_mode"] == "joint_state"
    reply = harness.call(SetBool, f"/{NODE}/arm", SetBool.Request(data=True))
    assert reply.success, reply.message
    harness.spin_until(lambda: len(commands) >= 5, what="hold commands on /joint_command")
    names = tuple(measured[-1].name)
    start = np.array(measured[-1].position)
    held = commands[-1]
    assert tuple(held.name) == names and len(held.position) == len(held.velocity) == len(names)
    assert np.abs(np.array(held.position) - start).max() < 0.01, "arming moved the arm"

    targets = np.tile(start, (50, 1))
    targets[:, 0] = start[0] + np.linspace(0.0, 0.4, 50)
    now = node.get_clock().now().nanoseconds * 1e-9
    chunks.publish(action_chunk_to_msg(ActionChunk(targets, now, 0.02, names), [], "fast", 0.0))
    first = len(commands)
    harness.spin_until(lambda: measured[-1].position[0] > start[0] + 0.2, what="the simulated arm to follow")

    sent = np.array([c.position for c in commands[first:]])
    assert np.abs(np.diff(sent, axis=0)).max() <= MAX_STEP + 1e-9
    velocities = np.array([c.velocity for c in commands[first:]])
    assert velocities[:, 0].max() > 0.1, "the commands carry the motion's velocity"
    assert all(stamp.header.stamp.sec > 0 for stamp in commands[first:]), "commands are stamped"
    assert forward == [], "joint_state mode must not also command the forward controller"
