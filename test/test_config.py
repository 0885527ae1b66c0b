"""The shipped YAML files agree with each other and with what the nodes accept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from fast_vla_ros.execution.config import ExecutionConfig
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


@pytest.mark.parametrize("file", ["sim.yaml", "arm.example.yaml"])
def test_executor_parameters_are_valid(file):
    parameters = executor_parameters(file)
    sections = {k: v for k, v in parameters.items() if k in ("scheduler", "safety", "watchdog", "trajectory")}
    config = ExecutionConfig.from_mapping(sections)
    limits = JointLimits.from_mapping(parameters["joint_limits"])
    assert tuple(parameters["joint_names"]) == limits.joint_names
    assert config.scheduler.control_period == 0.02
    assert parameters["output_mode"] in ("forward_position", "joint_trajectory", "follow_joint_trajectory")
