"""The package installs the way ROS users get it: package.xml valid, messages generated, share/ files
and console scripts in place (the install done by scripts/setup_env.sh, as on a fresh machine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

from fast_vla_ros.package_files import package_file

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
    for node in ("policy_node", "chunk_executor_node", "sim_node", "recorder_node", "expert_teleop_node"):
        assert os.access(prefix / "lib" / "fast_vla_ros" / node, os.X_OK), node
    assert shutil.which("fast-vla") == str(prefix / "bin" / "fast-vla")


def test_data_files_come_from_the_checkout_when_there_is_one():
    assert package_file("config/sim_arm_limits.yaml") == REPO_ROOT / "config" / "sim_arm_limits.yaml"


def test_data_files_come_from_share_through_the_ament_index_when_installed(tmp_path, monkeypatch):
    prefix = tmp_path / "install"
    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / "fast_vla_ros"
    marker.parent.mkdir(parents=True)
    marker.touch()
    limits = prefix / "share" / "fast_vla_ros" / "config" / "sim_arm_limits.yaml"
    limits.parent.mkdir(parents=True)
    limits.write_text("joints: {}\n")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    assert package_file("config/sim_arm_limits.yaml", source_root=tmp_path / "site-packages") == limits
    with pytest.raises(FileNotFoundError, match="neither in the source checkout .* nor under share/fast_vla_ros"):
        package_file("config/arm.yaml", source_root=tmp_path / "site-packages")


def test_an_installed_copy_without_the_checkout_finds_its_limits_profile_and_policy(tmp_path):
    """The layout colcon and pip give: the Python package alone in site-packages, data under share/."""
    site = tmp_path / "site-packages"
    shutil.copytree(REPO_ROOT / "fast_vla_ros", site / "fast_vla_ros", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(site), "AMENT_PREFIX_PATH": os.environ["VIRTUAL_ENV"]}
    script = (
        "import fast_vla_ros.sim.arm_model as arm, fast_vla_ros.nodes.loopback_dds as dds;"
        "from fast_vla_ros.package_files import package_file;"
        "print(arm.__file__); print(len(arm.load_arm_model().joint_names));"
        "print(dds.loopback_dds_environment(1)['FASTDDS_DEFAULT_PROFILES_FILE']);"
        "print(package_file('models/default'))"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    module, joints, profile, policy = result.stdout.split()
    share = Path(os.environ["VIRTUAL_ENV"]) / "share" / "fast_vla_ros"
    assert Path(module).is_relative_to(site) and joints == "7"
    assert Path(profile) == share / "config" / "dds" / "loopback_only.xml"
    assert Path(policy) == share / "models" / "default"
