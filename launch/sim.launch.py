"""The whole loop on the simulated arm: sim_node + policy_node + chunk_executor_node.

    ros2 launch fast_vla_ros sim.launch.py task:=push
    ros2 service call /chunk_executor_node/arm std_srvs/srv/SetBool "{data: true}"
    ros2 topic pub --once /instruction std_msgs/msg/String "{data: 'push the red cube to the left'}"
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("fast_vla_ros")
    params_file = LaunchConfiguration("params_file")
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(share, "config", "sim.yaml"),
            description="parameters of sim_node, policy_node and chunk_executor_node",
        ),
        DeclareLaunchArgument("task", default_value="touch", description="touch | push | pick"),
        DeclareLaunchArgument("policy_dir", default_value="", description="empty: the shipped default policy"),
        DeclareLaunchArgument("output_mode", default_value="forward_position",
                              description="forward_position | joint_trajectory"),
        Node(
            package="fast_vla_ros", executable="sim_node", name="sim_node", output="screen",
            parameters=[params_file, {"task": LaunchConfiguration("task")}],
        ),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "fast_vla.launch.py")),
            launch_arguments={
                "params_file": params_file,
                "policy_dir": LaunchConfiguration("policy_dir"),
                "output_mode": LaunchConfiguration("output_mode"),
                # sim_node listens to both controller topics; pick the one output_mode publishes on.
                "controller_name": PythonExpression([
                    "'joint_trajectory_controller' if '", LaunchConfiguration("output_mode"),
                    "' == 'joint_trajectory' else 'forward_position_controller'",
                ]),
            }.items(),
        ),
    ])
