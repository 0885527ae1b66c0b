"""The package installs the way ROS users get it: package.xml valid, messages generated, share/ files
and console scripts in place (the install done by scripts/setup_env.sh, as on a fresh machine)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from catkin_pkg.package import parse_package

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_is_valid_format_3_ament_cmake():
    package = parse_package(str(REPO_ROOT / "package.xml"))
    package.validate()
    assert package.package_format == 3
    assert package.get_build_type() == "ament_cmake"
    run_deps = {d.name for d in package.exec_depends + package.build_export_depends + package.build_depends}
    assert {"rclpy", "sensor_msgs", "trajectory_msgs", "std_msgs", "rosidl_default_runtime"} <= run_deps
    assert "rosidl_interface_packages" in {g.name for g in package.member_of_groups}


def test_generated_messages_and_sources_share_one_import_package():
    import fast_vla_ros
    from fast_vla_ros.msg import ActionChunk, PolicyStatus

    assert Path(fast_vla_ros.__path__[0]) == REPO_ROOT / "fast_vla_ros", "source tree must come first"
    assert "positions" in ActionChunk.get_fields_and_field_types()
    assert PolicyStatus.STATE_RUNNING == 1


def test_share_files_and_console_script_installed():
    prefix = Path(os.environ["VIRTUAL_ENV"])
    share = prefix / "share" / "fast_vla_ros"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "fast_vla_ros").is_file()
    assert (share / "package.xml").read_text() == (REPO_ROOT / "package.xml").read_text()
    assert (share / "config" / "dds" / "loopback_only.xml").is_file()
    assert (share / "models" / "default" / "model.safetensors").is_file()
    for node in ("policy_node", "chunk_executor_node", "sim_node"):
        assert os.access(prefix / "lib" / "fast_vla_ros" / node, os.X_OK), node
    assert shutil.which("fast-vla") == str(prefix / "bin" / "fast-vla")
