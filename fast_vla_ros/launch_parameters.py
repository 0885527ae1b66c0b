"""How the launch files combine a parameters file with launch arguments. ROS-free, so CI checks it
without ``launch``, which is not on PyPI.

launch_ros applies a node's ``parameters`` list in order, later entries winning. A launch argument
passed there whatever its value would replace the YAML's value with the argument's default even when
the user never gave it (``fast_vla.launch.py params_file:=arm.example.yaml`` once ran the executor
with ``forward_position`` although that YAML says ``joint_trajectory``). So every launch argument that
sets a node parameter defaults to ``FROM_PARAMS_FILE`` (empty) and is passed only when given: a value
on the command line wins, one not given comes from the YAML, and the node's own default comes last.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

FROM_PARAMS_FILE = ""  # a launch argument's default: the parameters file decides
BOOLEANS = {"true": True, "false": False}

# sim_node takes both controller interfaces; the executor's controller_name must match its output_mode.
SIM_CONTROLLERS = {
    "forward_position": "forward_position_controller",
    "joint_trajectory": "joint_trajectory_controller",
}


def node_parameters(
    params_file: str, arguments: Mapping[str, str], booleans: Collection[str] = ()
) -> list[str | dict[str, object]]:
    """A launch_ros ``Node``'s ``parameters``: the YAML, then the arguments given on the command line.
    Arguments named in ``booleans`` take ``true`` or ``false``; the others stay strings."""
    given: dict[str, object] = {}
    for name, value in arguments.items():
        if value == FROM_PARAMS_FILE:
            continue
        if name in booleans:
            if value.lower() not in BOOLEANS:
                raise ValueError(f"launch argument {name} must be true or false, got '{value}'")
            given[name] = BOOLEANS[value.lower()]
        else:
            given[name] = value
    return [params_file, given] if given else [params_file]


def sim_executor_arguments(output_mode: str) -> dict[str, str]:
    """fast_vla.launch.py's executor arguments for the simulated arm: the controller follows the output
    mode when one is given; otherwise both come from the parameters file."""
    if output_mode == FROM_PARAMS_FILE:
        return {"output_mode": FROM_PARAMS_FILE, "controller_name": FROM_PARAMS_FILE}
    if output_mode not in SIM_CONTROLLERS:
        raise ValueError(
            f"output_mode '{output_mode}' cannot drive sim_node, which takes {' or '.join(SIM_CONTROLLERS)}"
        )
    return {"output_mode": output_mode, "controller_name": SIM_CONTROLLERS[output_mode]}
