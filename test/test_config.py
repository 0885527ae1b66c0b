"""The shipped YAML files agree with each other and with what the nodes accept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from fast_vla_ros.execution.config import ExecutionConfig
from fast_vla_ros.nodes.chunk_executor_node import OUTPUT_MODES
from fast_vla_ros.types import JointLimits

CONFIG = Path(__file__).resolve().parents[1] / "config"


def executor_parameters(file: str) -> dict:
    return yaml.safe_load((CONFIG / file).read_text())["chunk_executor_node"]["ros__parameters"]


def test_sim_executor_limits_match_the_simulated_arm():
    parameters = executor_parameters("sim.yaml")
    arm = JointLimits.from_yaml(CONFIG / "sim_arm_limits.yaml")
    configured = JointLimits.from_mapping(parameters["joint_limits"])
    assert tuple(parameters["joint_names"]) == arm.joint_names == configured.joint_names
    for field in ("lower", "upper", "max_velocity", "max_acceleration"):
        assert np.array_equal(getattr(configured, field), getattr(arm, field)), field


@pytest.mark.parametrize("file", ["sim.yaml", "arm.example.yaml", "isaac_sim.example.yaml", "gazebo.example.yaml"])
def test_executor_parameters_are_valid(file):
    parameters = executor_parameters(file)
    sections = {k: v for k, v in parameters.items() if k in ("scheduler", "safety", "watchdog", "trajectory")}
    config = ExecutionConfig.from_mapping(sections)
    limits = JointLimits.from_mapping(parameters["joint_limits"])
    assert tuple(parameters["joint_names"]) == limits.joint_names
    assert config.scheduler.control_period == 0.02
    assert parameters["output_mode"] in OUTPUT_MODES


@pytest.mark.parametrize("file", ["isaac_sim.example.yaml", "gazebo.example.yaml"])
def test_simulator_examples_put_every_node_on_simulated_time(file):
    parameters = yaml.safe_load((CONFIG / file).read_text())
    assert all(node["ros__parameters"]["use_sim_time"] is True for node in parameters.values())


def test_gazebo_controllers_command_the_executor_joints_in_its_order():
    executor = executor_parameters("gazebo.example.yaml")
    controllers = yaml.safe_load((CONFIG / "gazebo_controllers.example.yaml").read_text())
    assert controllers[executor["controller_name"]]["ros__parameters"]["joints"] == executor["joint_names"]
    assert controllers["forward_position_controller"]["ros__parameters"]["joints"] == executor["joint_names"]
    assert controllers["controller_manager"]["ros__parameters"]["use_sim_time"] is True
