"""The launch files cannot run here (launch and launch_ros are not on PyPI), so check statically what
would break them on a ROS machine: syntax, the entry function, that every node they start is an
executable the package installs and every parameters file they default to ships in config/, and the
rules of issue 28: no launch argument replaces the YAML unless given (its default is FROM_PARAMS_FILE,
merged by fast_vla_ros.launch_parameters), every node is required (on_exit shuts the launch down), and
the sim launch has no controller_name argument (the controller follows output_mode).
test/ros/test_launch.py runs them where launch is installed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO_ROOT / "launch").glob("*.launch.py"))


def keyword_strings(tree: ast.AST, function: str, keyword: str) -> list[str]:
    """Literal string values of ``keyword=`` in every call of ``function`` (e.g. Node(executable=...))."""
    values = []
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", None)) == function:
            values += [k.value.value for k in call.keywords if k.arg == keyword and isinstance(k.value, ast.Constant)]
    return values


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_starts_installed_executables_with_shipped_config(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    functions = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    installed = {p.name for p in (REPO_ROOT / "executables").iterdir()}
    for executable in keyword_strings(tree, "Node", "executable"):
        assert executable in installed, f"{path.name} starts '{executable}', which is not in executables/"
    assert set(keyword_strings(tree, "Node", "package")) <= {"fast_vla_ros"}
    for literal in (n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)):
        if literal.endswith((".yaml", ".launch.py")):
            shipped = REPO_ROOT / ("config" if literal.endswith(".yaml") else "launch") / literal
            assert shipped.is_file(), f"{path.name} refers to {literal}, which the package does not ship"


def test_both_launch_files_exist():
    assert {p.name for p in LAUNCH_FILES} == {"fast_vla.launch.py", "sim.launch.py"}


def calls(tree: ast.AST, function: str) -> list[ast.Call]:
    return [c for c in ast.walk(tree)
            if isinstance(c, ast.Call) and getattr(c.func, "id", getattr(c.func, "attr", None)) == function]


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_arguments_default_to_the_parameters_file(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for call in calls(tree, "DeclareLaunchArgument"):
        name = call.args[0].value
        default = keyword(call, "default_value")
        if name != "params_file":
            assert getattr(default, "id", None) == "FROM_PARAMS_FILE", f"{path.name}: {name} would replace the YAML"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_node_shuts_the_launch_down_when_it_exits(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = calls(tree, "Node")
    assert nodes
    for node in nodes:
        on_exit = keyword(node, "on_exit")
        assert isinstance(on_exit, ast.Call) and on_exit.func.id == "Shutdown", f"{path.name}: {ast.unparse(node)}"


def test_the_sim_launch_has_no_controller_name_argument():
    tree = ast.parse((REPO_ROOT / "launch" / "sim.launch.py").read_text())
    declared = {call.args[0].value for call in calls(tree, "DeclareLaunchArgument")}
    assert declared == {"params_file", "task", "policy_dir", "output_mode", "forward_instruction"}
