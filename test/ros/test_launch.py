"""The launch files run for real, where ``launch`` and ``launch_ros`` are installed (a ROS machine, or
both built from source; they are not on PyPI, so CI skips this module and checks the launch files with
test/test_launch_files.py and test/test_launch_parameters.py instead).

Each launch runs as ``ros2 launch`` would run it, in a process group of its own, with the parameters
files of this checkout; it is stopped with SIGINT to the group, a terminal's Ctrl-C."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from fast_vla_ros.demo.shutdown_trial import ProcessGroup
from fast_vla_ros.sim.simulator import ArmSimulator

LAUNCH_INSTALLED = all(importlib.util.find_spec(name) for name in ("launch", "launch_ros"))
pytestmark = [
    pytest.mark.ros,
    pytest.mark.slow,
    pytest.mark.skipif(not LAUNCH_INSTALLED, reason="launch and launch_ros are not installed (not on PyPI); "
                       "test/test_launch_files.py and test/test_launch_parameters.py check the launch files"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCH = REPO_ROOT / "launch"
CONFIG = REPO_ROOT / "config"
START_TIMEOUT_S = 180.0

# What `ros2 launch <file> name:=value ...` does (ros2launch's launch_a_launch_file), without ros2cli.
ROS2_LAUNCH = """
import sys
import launch
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

path, *arguments = sys.argv[1:]
service = launch.LaunchService(argv=arguments, noninteractive=True)
service.include_launch_description(IncludeLaunchDescription(
    PythonLaunchDescriptionSource(path), launch_arguments=[a.split(":=", 1) for a in arguments]))
sys.exit(service.run())
"""


def ros2_launch(file: str, *arguments: str, env: dict[str, str]) -> ProcessGroup:
    return ProcessGroup("launch", [sys.executable, "-c", ROS2_LAUNCH, str(LAUNCH / file), *arguments], env, REPO_ROOT)


def parameters(harness, node: str, names: list[str]) -> dict[str, object]:
    reply = harness.call(GetParameters, f"/{node}/get_parameters", GetParameters.Request(names=names))
    fields = {ParameterType.PARAMETER_STRING: "string_value", ParameterType.PARAMETER_BOOL: "bool_value"}
    return {name: getattr(value, fields[value.type]) for name, value in zip(names, reply.values, strict=True)}


def stop_with_ctrl_c(launch: ProcessGroup, nodes: int) -> None:
    launch.signal_group("sigint")
    outcome = launch.wait_for_exit("sigint")
    assert outcome.clean, outcome.output[-4000:]
    assert outcome.output.count("process has finished cleanly") == nodes, outcome.output[-4000:]
    assert "process has died" not in outcome.output


def test_the_yaml_decides_unless_an_argument_is_given(harness, ros_env):
    """arm.example.yaml says joint_trajectory to joint_trajectory_controller: a launch without those
    arguments must keep it; one that gives them must win."""
    arm_yaml = f"params_file:={CONFIG / 'arm.example.yaml'}"
    for given, expected in (
        ((), {"output_mode": "joint_trajectory", "controller_name": "joint_trajectory_controller"}),
        (("output_mode:=forward_position", "controller_name:=forward_position_controller"),
         {"output_mode": "forward_position", "controller_name": "forward_position_controller"}),
    ):
        launch = ros2_launch("fast_vla.launch.py", arm_yaml, *given, env=ros_env)
        try:
            assert parameters(harness, "chunk_executor_node", list(expected)) == expected
            stop_with_ctrl_c(launch, nodes=2)
        finally:
            launch.kill()


def test_the_sim_launch_forwards_the_episode_instruction(harness, ros_env):
    """`sim.launch.py task:=push`: the policy's /instruction carries the episode's instruction without the
    user publishing it; the task comes from the argument, everything else from config/sim.yaml."""
    with ArmSimulator() as sim:
        instruction = sim.reset("push", 0)  # config/sim.yaml: seed 0
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    forwarded = harness.record(String, "/instruction", latched)
    launch = ros2_launch("sim.launch.py", f"params_file:={CONFIG / 'sim.yaml'}", "task:=push", env=ros_env)
    try:
        assert parameters(harness, "sim_node", ["task", "forward_instruction", "hold_arm_on_reset"]) == {
            "task": "push", "forward_instruction": True, "hold_arm_on_reset": True}
        harness.spin_until(lambda: any(m.data == instruction for m in forwarded), START_TIMEOUT_S, "/instruction")
        assert parameters(harness, "chunk_executor_node", ["output_mode"]) == {"output_mode": "forward_position"}
        harness.spin_until(lambda: harness.diagnostics.get("policy_node"), START_TIMEOUT_S, "policy_node running")
        stop_with_ctrl_c(launch, nodes=3)
    finally:
        launch.kill()


def test_the_sim_launch_offers_no_controller_name_argument():
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    description = get_launch_description_from_python_launch_file(str(LAUNCH / "sim.launch.py"))
    names = {argument.name for argument in description.get_launch_arguments()}
    assert names == {"params_file", "task", "policy_dir", "output_mode", "forward_instruction"}


def test_a_node_that_exits_shuts_the_launch_down(ros_env):
    if importlib.util.find_spec("control_msgs"):
        pytest.skip("control_msgs is importable here, so follow_joint_trajectory starts the executor")
    launch = ros2_launch("fast_vla.launch.py", f"params_file:={CONFIG / 'arm.example.yaml'}",
                         "output_mode:=follow_joint_trajectory", env=ros_env)
    try:
        outcome = launch.wait_for_exit("none", timeout_s=START_TIMEOUT_S)
    finally:
        launch.kill()
    assert outcome.exit_code is not None, "the launch kept running after the executor exited"
    assert "chunk_executor_node: configuration error: output_mode follow_joint_trajectory needs control_msgs" \
        in outcome.output
    assert "[policy_node-1]: process has finished cleanly" in outcome.output
    assert "Traceback" not in outcome.output
