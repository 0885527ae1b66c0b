#!/usr/bin/env bash
# Installs this package into the virtual environment twice over, as users get it: first with pip
# (console scripts, share/ files), then built the way colcon builds it on a ROS machine (ament_cmake +
# rosidl), which adds the generated fast_vla_ros.msg to the same import package. pip first, because
# a pip install of the same name removes the folder the CMake install wrote (ROS_ON_PIP.md).
# Called by setup_env.sh when the package's build files change. Expects VIRTUAL_ENV to be set.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$VIRTUAL_ENV/bin/python"

# PYTHONPATH unset: pip must see the installed copy, not the source tree, as the one to replace.
(cd "$root" && env -u PYTHONPATH "$python" -m pip install --quiet --no-deps --no-build-isolation . 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true)

# The ROS wheels' exported CMake files name the include folders of the machine that built them;
# point them at this venv's Python and numpy headers once, or configure fails on a missing path.
python_include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
numpy_include="$("$python" -c 'import numpy; print(numpy.get_include())')"
{ grep -rlZ --include='*.cmake' '/opt/python/cp311-cp311/' "$VIRTUAL_ENV/share" 2>/dev/null || true; } \
  | xargs -0 -r sed -i \
      -e "s#/opt/python/cp311-cp311/include/python3.11#$python_include#g" \
      -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$numpy_include#g"

build="$root/.build/cmake"
export CMAKE_PREFIX_PATH="$VIRTUAL_ENV" AMENT_PREFIX_PATH="$VIRTUAL_ENV"
cmake -S "$root" -B "$build" -G "Unix Makefiles" -Wno-dev --log-level=WARNING \
  -DCMAKE_INSTALL_PREFIX="$VIRTUAL_ENV" -DPython3_EXECUTABLE="$python" -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" -- --no-print-directory >/dev/null
cmake --install "$build" >/dev/null
