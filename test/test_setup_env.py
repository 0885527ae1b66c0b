"""scripts/setup_env.sh sourced into a shell leaves the shell's options as they were (the README tells
users to source it into their terminal, where a leftover ``set -e`` closes the terminal at the next
failing command), says which step failed and returns 1, and scripts/test.sh and scripts/demo.sh, which
run with ``set -e``, stop there.

Each run points FAST_VLA_VENV at a fresh venv without pip, so nothing is ever installed: with the stamp
files of this run's environment copied in it takes the path a set-up machine takes, without them the
first install step fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
STAMPS = (".fast_vla_ros-requirements.sha256", ".fast_vla_ros-package.sha256")

# Sources the script and prints whether the shell's options changed and what it returned.
PROBE = """
{before_options}
set +o > "$HOME/before"; echo "$-" >> "$HOME/before"  # not $(set +o): bash drops -e in a command substitution
source scripts/setup_env.sh
status=$?
set +o > "$HOME/after"; echo "$-" >> "$HOME/after"
diff "$HOME/before" "$HOME/after" && echo "options unchanged"
echo "status $status, VIRTUAL_ENV=$VIRTUAL_ENV"
"""
# In a shell without `set -e`, a failing command afterwards must not end the shell.
THEN_FAIL = """
false
echo "still here"
"""


@pytest.fixture
def bare_venv(tmp_path) -> Path:
    path = tmp_path / "venv"
    venv.create(path, with_pip=False, symlinks=True)
    return path


def run_bash(script: str, fast_vla_venv: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(fast_vla_venv.parent), "FAST_VLA_VENV": str(fast_vla_venv),
           "FAST_VLA_PYTHON": sys.executable}
    return subprocess.run(["bash", "--norc", "--noprofile", "-c", script], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("before_options", ["", "set -euo pipefail"], ids=["plain shell", "strict shell"])
def test_sourcing_leaves_the_shell_options_as_they_were(bare_venv, before_options):
    installed = Path(sys.prefix)
    if not all((installed / stamp).is_file() for stamp in STAMPS):
        pytest.skip(f"{installed} was not set up by scripts/setup_env.sh (no stamp files)")
    for stamp in STAMPS:
        shutil.copy(installed / stamp, bare_venv / stamp)
    result = run_bash(PROBE.format(before_options=before_options) + ("" if before_options else THEN_FAIL), bare_venv)
    assert "installing" not in result.stdout, "the stamps of this environment do not match this checkout"
    assert "options unchanged" in result.stdout, result.stdout + result.stderr
    assert f"status 0, VIRTUAL_ENV={bare_venv}" in result.stdout, result.stdout + result.stderr
    assert before_options or "still here" in result.stdout


def test_a_failing_step_says_so_returns_1_and_keeps_the_shell(bare_venv):
    result = run_bash(PROBE.format(before_options="") + THEN_FAIL, bare_venv)
    assert "fast_vla_ros: installing the requirements failed" in result.stderr
    assert "status 1" in result.stdout and "options unchanged" in result.stdout, result.stdout + result.stderr
    assert "still here" in result.stdout


@pytest.mark.parametrize("script", ["scripts/test.sh", "scripts/demo.sh"])
def test_the_scripts_stop_when_the_setup_fails(bare_venv, script):
    result = run_bash(f"bash {script}; echo \"exit $?\"", bare_venv)
    assert "fast_vla_ros: installing the requirements failed" in result.stderr
    assert "exit 1" in result.stdout, result.stdout + result.stderr
    assert "ruff" not in result.stdout + result.stderr and "Traceback" not in result.stderr
