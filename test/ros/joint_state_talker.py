"""Child process for the two-process DDS test: publishes a known JointState at 50 Hz until stopped."""

import sys

from rclpy.node import Node
from sensor_msgs.msg import JointState

from fast_vla_ros.nodes.node_main import run_node

JOINT_NAMES = ["shoulder_pan_joint", "elbow_joint", "gripper_joint"]
POSITIONS = [0.25, -1.5, 0.02]


class JointStateTalker(Node):
    def __init__(self) -> None:
        super().__init__("joint_state_talker")
        self._publisher = self.create_publisher(JointState, "/joint_states", 10)
        self.create_timer(0.02, self._publish)

    def _publish(self) -> None:
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = JOINT_NAMES
        msg.position = POSITIONS
        self._publisher.publish(msg)


if __name__ == "__main__":
    sys.exit(run_node(JointStateTalker, "joint_state_talker"))
