"""policy_node + chunk_executor_node for a real arm whose ros2_control controllers are already running.

    ros2 launch fast_vla_ros fast_vla.launch.py params_file:=/path/to/my_arm.yaml \
        output_mode:=joint_trajectory controller_name:=joint_trajectory_controller

The executor starts disarmed: arm with
    ros2 service call /chunk_executor_node/arm std_srvs/srv/SetBool "{data: true}"
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    config = os.path.join(get_package_share_directory("fast_vla_ros"), "config")
    params_file = LaunchConfiguration("params_file")
    policy_dir = LaunchConfiguration("policy_dir")
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(config, "arm.example.yaml"),
            description="YAML with the policy_node and chunk_executor_node parameters of your arm",
        ),
        DeclareLaunchArgument(
            "policy_dir", default_value="",
            description="policy checkpoint directory (empty: the shipped default policy)",
        ),
        DeclareLaunchArgument(
            "output_mode", default_value="forward_position",
            description="forward_position | joint_trajectory | follow_joint_trajectory",
        ),
        DeclareLaunchArgument(
            "controller_name", default_value="forward_position_controller",
            description="the ros2_control controller the executor commands",
        ),
        Node(
            package="fast_vla_ros", executable="policy_node", name="policy_node", output="screen",
            parameters=[params_file, {"policy_dir": policy_dir}],
        ),
        Node(
            package="fast_vla_ros", executable="chunk_executor_node", name="chunk_executor_node", output="screen",
            parameters=[params_file, {
                "output_mode": LaunchConfiguration("output_mode"),
                "controller_name": LaunchConfiguration("controller_name"),
            }],
        ),
    ])
