"""The ``fast-vla`` command: one subcommand per workflow step (fit a tokenizer, record demos, train, ...).

Each module listed in ``COMMAND_MODULES`` owns its subcommands through ``register(subparsers)``; a
subcommand sets ``handler`` (a function of the parsed arguments returning an exit code). Modules are
imported only when listed, so a command's heavy imports (torch, mujoco) stay inside its handler.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES: tuple[str, ...] = (
    "fast_vla_ros.cli.tokenizer_commands",
    "fast_vla_ros.cli.sim_commands",
    "fast_vla_ros.cli.policy_commands",
    "fast_vla_ros.cli.data_commands",
)


class CommandError(Exception):
    """A user mistake (missing file, bad shapes, NaN in data): printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fast-vla", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CommandError as error:
        print(f"fast-vla {args.command}: error: {error}", file=sys.stderr)
        return 2
