"""diagnostic_msgs helpers shared by the nodes: one status per node, key-values as strings."""

from __future__ import annotations

from collections.abc import Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

LEVELS = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}


def _format(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def diagnostic_array(node: Node, level: str, message: str, values: Mapping[str, object]) -> DiagnosticArray:
    status = DiagnosticStatus(
        level=LEVELS[level],
        name=f"fast_vla_ros: {node.get_name()}",
        message=message,
        hardware_id=node.get_fully_qualified_name(),
        values=[KeyValue(key=key, value=_format(value)) for key, value in values.items()],
    )
    array = DiagnosticArray(status=[status])
    array.header.stamp = node.get_clock().now().to_msg()
    return array
