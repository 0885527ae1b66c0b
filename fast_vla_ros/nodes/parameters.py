"""Node parameters declared from the core's config dataclasses, so there is one table per component.

The ROS-free layers define their settings as frozen dataclasses with defaults and validation
(``ExecutionConfig`` and friends). A node declares one ROS parameter per field, named
``<section>.<field>`` as in the YAML files, reads them back as a mapping and hands that to the core's
``from_mapping``, which rejects bad values with a message naming the parameter.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from fast_vla_ros.types import JointLimits

LIMIT_FIELDS = ("lower", "upper", "max_velocity", "max_acceleration")

# Typed by the core's validation, not by rclpy: a YAML ``1`` for a float field must not be refused.
_DYNAMIC = ParameterDescriptor(dynamic_typing=True)


def _ros_default(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def declare_section(node: Node, section: str, config_class: type) -> dict[str, Any]:
    """Declare ``section.<field>`` for every field of ``config_class``; return the values set."""
    defaults = config_class()
    names = [f.name for f in dataclasses.fields(config_class)]
    declared = node.declare_parameters(
        namespace=section, parameters=[(name, _ros_default(getattr(defaults, name)), _DYNAMIC) for name in names]
    )
    return {name: parameter.value for name, parameter in zip(names, declared, strict=True)}


def declare_sections(node: Node, sections: dict[str, type]) -> dict[str, dict[str, Any]]:
    return {section: declare_section(node, section, config_class) for section, config_class in sections.items()}


def declare_joint_limits(node: Node) -> JointLimits:
    """The arm's joints and limits from parameters ``joint_names`` and ``joint_limits.<joint>.<field>``,
    as written in config/arm.example.yaml; a missing or non-numeric value names the parameter."""
    joint_names = list(node.declare_parameter("joint_names", [""], _DYNAMIC).value)
    if joint_names == [""] or not joint_names:
        raise ValueError("parameter joint_names is required: the arm's joints, in the controller's order")
    limits: dict[str, dict[str, float]] = {}
    for joint in joint_names:
        for field in LIMIT_FIELDS:
            name = f"joint_limits.{joint}.{field}"
            value = node.declare_parameter(name, float("nan"), _DYNAMIC).value
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ValueError(f"parameter {name} is required (a number), got {value!r}")
            limits.setdefault(joint, {})[field] = float(value)
    return JointLimits.from_mapping(limits, source="joint_limits parameters")


def config_sections(config_class: type) -> dict[str, type]:
    """The nested sections of a grouped config such as ``ExecutionConfig``: section name -> dataclass."""
    return {f.name: type(getattr(config_class(), f.name)) for f in dataclasses.fields(config_class)}
