"""The merge rule the launch files use for their parameters (fast_vla_ros.launch_parameters), checked
without ``launch``: the YAML first, then only the launch arguments given on the command line."""

from __future__ import annotations

import pytest

from fast_vla_ros.launch_parameters import FROM_PARAMS_FILE, node_parameters, sim_executor_arguments

YAML = "/share/fast_vla_ros/config/arm.example.yaml"


def test_arguments_left_at_their_default_leave_the_yaml_alone():
    arguments = {"output_mode": FROM_PARAMS_FILE, "controller_name": FROM_PARAMS_FILE}
    assert node_parameters(YAML, arguments) == [YAML]


def test_arguments_given_come_after_the_yaml_so_they_win():
    arguments = {"output_mode": "forward_position", "controller_name": FROM_PARAMS_FILE}
    assert node_parameters(YAML, arguments) == [YAML, {"output_mode": "forward_position"}]


def test_given_values_stay_strings_unless_declared_boolean():
    """A task or directory that looks like a number or a YAML keyword must reach the node as text."""
    parameters = node_parameters(YAML, {"policy_dir": "2024", "forward_instruction": "False"},
                                 booleans=("forward_instruction",))
    assert parameters == [YAML, {"policy_dir": "2024", "forward_instruction": False}]


def test_a_boolean_argument_rejects_other_words():
    with pytest.raises(ValueError, match="forward_instruction must be true or false, got 'yes'"):
        node_parameters(YAML, {"forward_instruction": "yes"}, booleans=("forward_instruction",))


@pytest.mark.parametrize(("output_mode", "expected"), [
    (FROM_PARAMS_FILE, {"output_mode": FROM_PARAMS_FILE, "controller_name": FROM_PARAMS_FILE}),
    ("forward_position", {"output_mode": "forward_position", "controller_name": "forward_position_controller"}),
    ("joint_trajectory", {"output_mode": "joint_trajectory", "controller_name": "joint_trajectory_controller"}),
])
def test_the_sim_controller_follows_a_given_output_mode(output_mode, expected):
    assert sim_executor_arguments(output_mode) == expected


def test_follow_joint_trajectory_cannot_drive_the_simulator():
    with pytest.raises(ValueError, match="cannot drive sim_node"):
        sim_executor_arguments("follow_joint_trajectory")
