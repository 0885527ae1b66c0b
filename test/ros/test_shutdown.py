"""Each node as a process of its own, stopped the ways a user stops it, and started with a bad parameter.

Stopping: SIGINT to its process group (a terminal's Ctrl-C), SIGINT twice at once (the terminal's and
the one ``ros2 launch`` forwards), SIGTERM; each after the node is spinning, a few times each. Every one
must end with exit code 0 and no traceback. benchmarks/shutdown.py repeats this 20+ times per case.
A bad parameter must end the start with exit code 2 and one line naming it. An armed executor stopping
makes a trajectory controller hold."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from fast_vla_ros.demo.shutdown_trial import SIGNAL_PATTERNS, SpinningWitness, node_process, shutdown_trial
from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.nodes.conversions import action_chunk_to_msg
from fast_vla_ros.types import ActionChunk, JointLimits

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = "config/sim.yaml"
LIMITS_FILE = "config/sim_arm_limits.yaml"
NODES = ("sim_node", "chunk_executor_node", "policy_node")
REPETITIONS = 2


@pytest.fixture
def witness(rclpy_context):
    witness = SpinningWitness(rclpy_context)
    yield witness
    witness.close()


@pytest.mark.parametrize("repetition", range(REPETITIONS))
@pytest.mark.parametrize("pattern", SIGNAL_PATTERNS)
@pytest.mark.parametrize("node", NODES)
def test_signals_end_a_spinning_node_with_exit_0_and_no_traceback(node, pattern, repetition, witness, ros_env):
    outcome = shutdown_trial(node, pattern, ["--params-file", PARAMS_FILE], ros_env, REPO_ROOT, witness.until_spinning)
    assert outcome.exit_code == 0, outcome.output[-3000:]
    assert not outcome.traceback, outcome.output[-3000:]


def test_a_signal_while_the_policy_loads_ends_it_cleanly(ros_env):
    """Loading and warming up the policy takes a while; a Ctrl-C then must not wait for it or print a
    traceback. (On a fast machine the signal may land just after loading: the outcome must be the same.)"""
    process = node_process("policy_node", ["--params-file", PARAMS_FILE], ros_env, REPO_ROOT)
    try:
        assert process.wait_for_output("loading policy", timeout_s=120.0), process.output
        process.signal_group("sigint")
        outcome = process.wait_for_exit("sigint")
    finally:
        process.kill()
    assert outcome.clean, outcome.output[-3000:]


BAD_PARAMETERS = [
    ("sim_node", "task:=stack", "unknown task 'stack'"),
    ("sim_node", "step_rate:=0.0", "step_rate"),
    ("sim_node", "image_size:=[224]", "image_size"),
    ("chunk_executor_node", "output_mode:=follow_joint_trajectory", "control_msgs"),
    ("chunk_executor_node", "thread_priority:=high", "thread_priority"),
    ("policy_node", "policy_dir:=/nonexistent/policy", "/nonexistent/policy"),
    ("policy_node", "cpu_threads:=many", "cpu_threads"),
    ("policy_node", "expected_image_size:=[1]", "expected_image_size"),
]


@pytest.mark.parametrize(("node", "parameter", "named"), BAD_PARAMETERS, ids=lambda v: str(v)[:24])
def test_a_bad_parameter_gives_one_line_and_exit_2(node, parameter, named, spawn_python):
    if parameter.startswith("output_mode:=follow") and importlib.util.find_spec("control_msgs"):
        pytest.skip("control_msgs is importable here, so follow_joint_trajectory is a valid output_mode")
    child = spawn_python("-m", f"fast_vla_ros.nodes.{node}", "--ros-args", "--params-file", PARAMS_FILE,
                         "-p", parameter)
    output, _ = child.communicate(timeout=120)
    assert child.returncode == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    problems = [line for line in lines if not line.startswith("[INFO]")]  # log lines before the failure
    assert len(problems) == 1 and problems[0].startswith(f"{node}: configuration error: "), output
    assert named in problems[0]


def test_an_armed_executor_makes_a_trajectory_controller_hold_when_it_stops(harness, ros_env):
    """A JointTrajectoryController would otherwise play out the previewed trajectory (up to
    trajectory.max_duration) after the executor is gone."""
    limits = JointLimits.from_yaml(LIMITS_FILE)
    home = np.zeros(len(limits.joint_names))
    node = harness.node
    controller = "joint_trajectory_controller"
    trajectories: list[JointTrajectory] = harness.record(JointTrajectory, f"/{controller}/joint_trajectory")
    joint_states = node.create_publisher(JointState, "/joint_states", 10)
    chunks = node.create_publisher(ActionChunkMsg, "/action_chunk", 10)

    def publish_joint_state() -> None:
        msg = JointState(name=list(limits.joint_names), position=home.tolist())
        msg.header.stamp = node.get_clock().now().to_msg()
        joint_states.publish(msg)

    node.create_timer(0.02, publish_joint_state)
    ros_args = ["--params-file", PARAMS_FILE, "-p", "output_mode:=joint_trajectory",
                "-p", f"controller_name:={controller}"]
    process = node_process("chunk_executor_node", ros_args, ros_env, REPO_ROOT)
    try:
        arm = SetBool.Request(data=True)
        harness.spin_until(lambda: harness.call(SetBool, "/chunk_executor_node/arm", arm).success, what="arming")
        targets = np.tile(home, (50, 1))
        targets[:, 0] = np.linspace(0.0, 0.4, 50)
        now = node.get_clock().now().nanoseconds * 1e-9
        chunks.publish(action_chunk_to_msg(ActionChunk(targets, now, 0.02, limits.joint_names), [], "fast", 0.01))
        harness.spin_until(lambda: any(len(t.points) > 1 for t in trajectories), what="a previewed trajectory")
        before = len(trajectories)
        process.signal_group("sigint")
        outcome = process.wait_for_exit("sigint")
    finally:
        process.kill()
    assert outcome.clean, outcome.output[-3000:]
    harness.spin_until(lambda: any(not t.points for t in trajectories[before:]), what="the stop trajectory")


@pytest.mark.parametrize("pattern", ["sigint", "sigterm"])
def test_a_node_with_nothing_arriving_still_ends_on_a_signal(pattern, harness, ros_env):
    """expert_teleop_node alone (no simulator, no recorder) has no timer and receives nothing: its spin loop
    only returns for the signal's own wake-up (it used to wait forever)."""
    from rcl_interfaces.srv import ListParameters

    process = node_process("expert_teleop_node", ["-p", 'recorder_node:=""'], ros_env, REPO_ROOT)
    try:
        # a service is answered only from the spin loop: past this the node is spinning
        harness.call(ListParameters, "/expert_teleop_node/list_parameters", ListParameters.Request())
        process.signal_group(pattern)
        outcome = process.wait_for_exit(pattern)
    finally:
        process.kill()
    assert outcome.clean, outcome.output[-3000:]
