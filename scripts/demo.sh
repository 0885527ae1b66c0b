#!/usr/bin/env bash
# The README's first command: sets up the environment on a fresh machine (or reuses it), then runs
# the main job. Until the simulated-arm demo lands, that is the FAST tokenizer report on real robot
# data (Bridge V1 sample in ../shared/data): a table on the terminal and out/tokenizer_report.png.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup_env.sh
data="${FAST_VLA_DATA:-../shared/data/bridge_v1_sample.npz}"
fast-vla tokenizer-report "$data" --horizon 10 "$@"
