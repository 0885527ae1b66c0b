# Sourced by the README's commands, by scripts/test.sh and by scripts/demo.sh. Creates or reuses the
# project-local virtual environment, installs the pinned requirements only when requirements.txt
# changed, and keeps every ROS 2 process this project starts on loopback DDS. Safe to source
# repeatedly, and from an interactive shell: it leaves the shell's options as they were (a `set -e`
# left behind would close the terminal at the next failing command) and, when a step fails, says which
# and returns 1, which ends scripts that run with `set -e`.

_fast_vla_ros_setup() {
  local requirements_stamp requirements_hash package_stamp package_hash
  FAST_VLA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  FAST_VLA_VENV="${FAST_VLA_VENV:-$FAST_VLA_ROOT/.venv}"
  # The ROS 2 wheels on PyPI are built for CPython 3.11 only.
  FAST_VLA_PYTHON="${FAST_VLA_PYTHON:-$(command -v python3.11 || command -v python3)}"

  if [ ! -x "$FAST_VLA_VENV/bin/python" ]; then
    echo "fast_vla_ros: creating virtual environment $FAST_VLA_VENV"
    "$FAST_VLA_PYTHON" -m venv "$FAST_VLA_VENV" || { echo "fast_vla_ros: could not create $FAST_VLA_VENV" >&2; return 1; }
  fi

  requirements_stamp="$FAST_VLA_VENV/.fast_vla_ros-requirements.sha256"
  requirements_hash="$(sha256sum "$FAST_VLA_ROOT/requirements.txt" | cut -d' ' -f1)"
  if [ "$(cat "$requirements_stamp" 2>/dev/null)" != "$requirements_hash" ]; then
    echo "fast_vla_ros: installing pinned requirements (first run: about 2 minutes)"
    "$FAST_VLA_VENV/bin/pip" install --quiet --requirement "$FAST_VLA_ROOT/requirements.txt" 2>&1 \
      | grep -v "is ignored: it is neither a file nor a directory"
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fast_vla_ros: installing the requirements failed" >&2; return 1; }
    "$FAST_VLA_VENV/bin/pip" check || return 1
    echo "$requirements_hash" > "$requirements_stamp"
  fi

  export VIRTUAL_ENV="$FAST_VLA_VENV"
  export PATH="$FAST_VLA_VENV/bin:$PATH"
  # The source tree comes first so edits take effect without a reinstall; fast_vla_ros/__init__.py
  # extends the package path so the generated fast_vla_ros.msg still resolves from the installed copy.
  export PYTHONPATH="$FAST_VLA_ROOT${PYTHONPATH:+:$PYTHONPATH}"
  export AMENT_PREFIX_PATH="$FAST_VLA_VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"

  # No DDS traffic leaves this machine, whatever the user's shell says.
  export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
  export FASTDDS_DEFAULT_PROFILES_FILE="$FAST_VLA_ROOT/config/dds/loopback_only.xml"
  export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
  # Offscreen rendering for MuJoCo cameras on machines without a display.
  export MUJOCO_GL="${MUJOCO_GL:-egl}"

  # Reinstall the package itself (pip + the CMake/rosidl build of msg/) when its build inputs change;
  # Python sources need no reinstall: PYTHONPATH puts the source tree first.
  package_stamp="$FAST_VLA_VENV/.fast_vla_ros-package.sha256"
  package_hash="$(cd "$FAST_VLA_ROOT" && cat setup.py package.xml CMakeLists.txt msg/*.msg \
    scripts/install_package.sh executables/* | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$package_stamp" 2>/dev/null)" != "$package_hash" ]; then
    echo "fast_vla_ros: building and installing the package (messages included)"
    bash "$FAST_VLA_ROOT/scripts/install_package.sh" || { echo "fast_vla_ros: building the package failed" >&2; return 1; }
    echo "$package_hash" > "$package_stamp"
  fi
}

if _fast_vla_ros_setup; then
  unset -f _fast_vla_ros_setup
else
  unset -f _fast_vla_ros_setup
  return 1 2>/dev/null || exit 1  # `return` when sourced; `exit` when run as `bash scripts/setup_env.sh`
fi
