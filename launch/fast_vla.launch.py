"""policy_node + chunk_executor_node for an arm whose ros2_control controllers are already running.

    ros2 launch fast_vla_ros fast_vla.launch.py
    ros2 launch fast_vla_ros fast_vla.launch.py params_file:=$PWD/my_arm.yaml

The first uses config/arm.example.yaml; for your arm, copy it, edit it (joints, limits, controller,
cameras) and pass the copy. The launch arguments other than params_file are empty by default, and
empty means "as the parameters file says": only a value given on the command line replaces it
(fast_vla_ros.launch_parameters). If either node exits, the launch shuts the other down.

The executor starts disarmed: arm with
    ros2 service call /chunk_executor_node/arm std_srvs/srv/SetBool "{data: true}"
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from fast_vla_ros.launch_parameters import FROM_PARAMS_FILE, node_parameters


def _arguments(context, names: tuple[str, ...]) -> dict[str, str]:
    return {name: LaunchConfiguration(name).perform(context) for name in names}


def _nodes(context) -> list[Node]:
    params_file = LaunchConfiguration("params_file").perform(context)
    return [
        Node(
            package="fast_vla_ros", executable="policy_node", name="policy_node", output="screen",
            parameters=node_parameters(params_file, _arguments(context, ("policy_dir",))),
            on_exit=Shutdown(reason="policy_node exited"),
        ),
        Node(
            package="fast_vla_ros", executable="chunk_executor_node", name="chunk_executor_node", output="screen",
            parameters=node_parameters(params_file, _arguments(context, ("output_mode", "controller_name"))),
            on_exit=Shutdown(reason="chunk_executor_node exited"),
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    config = os.path.join(get_package_share_directory("fast_vla_ros"), "config")
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(config, "arm.example.yaml"),
            description="YAML with the policy_node and chunk_executor_node parameters of your arm",
        ),
        DeclareLaunchArgument(
            "policy_dir", default_value=FROM_PARAMS_FILE,
            description="policy checkpoint directory (empty: as params_file says; empty there: the shipped policy)",
        ),
        DeclareLaunchArgument(
            "output_mode", default_value=FROM_PARAMS_FILE,
            choices=[FROM_PARAMS_FILE, "forward_position", "joint_trajectory", "follow_joint_trajectory"],
            description="how the executor commands the arm (empty: as params_file says)",
        ),
        DeclareLaunchArgument(
            "controller_name", default_value=FROM_PARAMS_FILE,
            description="the ros2_control controller the executor commands (empty: as params_file says)",
        ),
        OpaqueFunction(function=_nodes),
    ])
