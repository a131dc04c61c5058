"""The `simreal` command: parse, hand to a workflow module, print.

Each subcommand lives in a workflow module that exposes ``configure(parser)`` (adds its arguments)
and ``run(args) -> int`` (does the work, returns the exit code). Modules are imported lazily so that
``simreal --help`` stays fast and a broken optional dependency only affects its own subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from simreal.errors import UserError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "tasks": ("simreal.catalog", "list the tasks with their observation and action spaces"),
    "collect": ("simreal.collect", "collect demonstrations into a LeRobotDataset"),
    "dataset": ("simreal.dataset_tools", "inspect or validate a recorded dataset"),
    "replay": ("simreal.replay", "replay an episode's actions in the simulator and render a video"),
    "train": ("simreal.train", "train a policy on a dataset"),
    "eval": ("simreal.evaluate", "evaluate a trained policy in simulation"),
    "deploy": ("simreal.deploy", "run the ROS 2 graph (sim robot + policy) without ros2 launch"),
    "demo": ("simreal.demo", "the end-to-end demo that `make demo` runs"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="simreal",
        description="simreal: collect demos in MuJoCo, store LeRobot datasets, train generative "
        "policies, deploy them over ROS 2.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers = {}
    for name, (_module, help_text) in COMMANDS.items():
        subparsers[name] = sub.add_parser(name, help=help_text, description=help_text)
    return parser, subparsers


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = build_parser()
    # Only the chosen command's module is imported, then its arguments are added.
    name = next((a for a in argv if not a.startswith("-")), None)
    if name in COMMANDS:
        module = importlib.import_module(COMMANDS[name][0])
        module.configure(subparsers[name])
        subparsers[name].set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"simreal {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"simreal {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
