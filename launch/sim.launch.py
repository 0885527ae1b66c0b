"""The whole loop on the simulated arm: sim_node + policy_node + chunk_executor_node.

    ros2 launch fast_vla_ros sim.launch.py task:=push
    ros2 service call /chunk_executor_node/arm std_srvs/srv/SetBool "{data: true}"
    ros2 service call /sim_node/reset std_srvs/srv/Trigger

sim_node forwards each episode's instruction to /instruction (forward_instruction, on in
config/sim.yaml), so the policy plans for it as soon as the episode starts, and arming lets it act.
A reset lays out the next seeded episode and holds the arm until the policy has planned for the new
instruction (hold_arm_on_reset). The launch arguments other than params_file are empty by default,
and empty means "as the parameters file says". If any node exits, the launch shuts the others down.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction, Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from fast_vla_ros.launch_parameters import FROM_PARAMS_FILE, SIM_CONTROLLERS, node_parameters, sim_executor_arguments


def _nodes(context) -> list:
    def argument(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    params_file = argument("params_file")
    sim_arguments = {"task": argument("task"), "forward_instruction": argument("forward_instruction")}
    executor_arguments = sim_executor_arguments(argument("output_mode"))
    return [
        Node(
            package="fast_vla_ros", executable="sim_node", name="sim_node", output="screen",
            parameters=node_parameters(params_file, sim_arguments, booleans=("forward_instruction",)),
            on_exit=Shutdown(reason="sim_node exited"),
        ),
        IncludeLaunchDescription(
            # Beside this file, wherever that is: the installed share/ or a source checkout.
            PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), "fast_vla.launch.py")),
            launch_arguments={
                "params_file": params_file, "policy_dir": argument("policy_dir"), **executor_arguments
            }.items(),
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    config = os.path.join(get_package_share_directory("fast_vla_ros"), "config")
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(config, "sim.yaml"),
            description="parameters of sim_node, policy_node and chunk_executor_node",
        ),
        DeclareLaunchArgument("task", default_value=FROM_PARAMS_FILE,
                              description="touch | push | pick (empty: as params_file says)"),
        DeclareLaunchArgument("policy_dir", default_value=FROM_PARAMS_FILE,
                              description="policy checkpoint directory (empty: as params_file says)"),
        DeclareLaunchArgument(
            "output_mode", default_value=FROM_PARAMS_FILE, choices=[FROM_PARAMS_FILE, *SIM_CONTROLLERS],
            description="how the executor commands sim_node (empty: as params_file says); "
                        "the controller follows it",
        ),
        DeclareLaunchArgument(
            "forward_instruction", default_value=FROM_PARAMS_FILE, choices=[FROM_PARAMS_FILE, "true", "false"],
            description="sim_node publishes each episode's instruction on /instruction too "
                        "(empty: as params_file says; config/sim.yaml: true)",
        ),
        OpaqueFunction(function=_nodes),
    ])
