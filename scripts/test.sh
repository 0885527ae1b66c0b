#!/usr/bin/env bash
# The README's second command: sets up the environment on a fresh machine (or reuses it), then runs
# the linter and the whole test suite. Extra arguments go to pytest (e.g. -k tokenizer, -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup_env.sh
ruff check .
python -m pytest "$@"
