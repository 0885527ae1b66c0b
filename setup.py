"""pip install of the Python package, for work without a ROS build (training, tokenizer fitting).

On a robot, build with colcon (ament_cmake, see CMakeLists.txt): that also generates msg/. A pip
install ships the same sources, the ament index marker, package.xml, launch/ and config/ under
share/, so `ros2 launch` finds them when AMENT_PREFIX_PATH includes the install prefix.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "fast_vla_ros"
ROOT = Path(__file__).parent
NODES = ("policy_node", "chunk_executor_node", "sim_node", "recorder_node", "expert_teleop_node")


def share_files(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries that mirror ``folder`` under share/<package>/, one entry per directory."""
    entries: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(ROOT)
            entries.setdefault(f"share/{PACKAGE}/{relative.parent}", []).append(str(relative))
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    description="FAST-tokenized vision-language-action policies for ROS 2 robot arms",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    include_package_data=True,
    package_data={PACKAGE: ["sim/assets/*.xml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        # pip ignores setup.cfg's install_scripts, so ship the node executables where ros2 run looks.
        (f"lib/{PACKAGE}", [f"executables/{node}" for node in NODES]),
        *share_files("launch"),
        *share_files("config"),
        *share_files("models"),
    ],
    install_requires=["numpy>=2", "scipy", "tokenizers", "pyyaml", "tqdm", "matplotlib"],
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "fast-vla = fast_vla_ros.cli:main",
            *[f"{node} = fast_vla_ros.nodes.{node}:main" for node in NODES],
        ],
    },
)
