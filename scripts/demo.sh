#!/usr/bin/env bash
# The README's first command: sets up the environment on a fresh machine (or reuses it), then runs the
# main job: sim_node, policy_node (the shipped default policy) and chunk_executor_node as separate
# processes over loopback DDS; several instructions one after another, each episode to success or
# timeout; a table on the terminal, out/demo/joints.png and out/demo/scene.gif.
# Extra arguments go to the demo (python -m fast_vla_ros.demo --help).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup_env.sh
python -m fast_vla_ros.demo "$@"
