"""Where the package's data files (config/, models/) are, in a checkout and once installed.

In a source checkout they sit beside the ``fast_vla_ros/`` sources. A ``colcon build`` or a pip install
copies only the Python package into site-packages and puts config/ and models/ under
``share/fast_vla_ros/``, which the ament index finds the way ``ros2 launch`` does (AMENT_PREFIX_PATH).
"""

from __future__ import annotations

from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

PACKAGE = "fast_vla_ros"
SOURCE_ROOT = Path(__file__).resolve().parents[1]


def package_file(relative: str | Path, source_root: Path = SOURCE_ROOT) -> Path:
    """``relative`` (e.g. ``config/sim_arm_limits.yaml``) in the checkout, else in the installed share/."""
    in_checkout = source_root / relative
    if in_checkout.exists():
        return in_checkout
    try:
        installed = Path(get_package_share_directory(PACKAGE)) / relative
    except PackageNotFoundError:
        installed = None
    if installed is None or not installed.exists():
        raise FileNotFoundError(
            f"{relative} is neither in the source checkout {source_root} nor under share/{PACKAGE} of any "
            "prefix on AMENT_PREFIX_PATH (source the install's setup file, or scripts/setup_env.sh)"
        )
    return installed
