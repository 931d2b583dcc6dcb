"""Entry point of the `vessel` command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from vessel.errors import VesselError

# Command-group modules under vessel.cli; each has register(subparsers).
GROUPS: tuple[str, ...] = ()

# Which module registers each top-level command, so `vessel ps` imports and builds only the
# container group (importing every group and building every parser costs ~100 ms).
# tests/unit/test_cli_main.py checks this table against what the modules register.
COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(("attach", "commit", "container", "cp", "create", "exec", "export", "inspect", "kill", "logs",
                     "pause", "port", "ps", "rename", "restart", "rm", "run", "start", "stats", "stop", "top",
                     "unpause", "update", "wait", "healthcheck"), "container"),
    **dict.fromkeys(("history", "image", "images", "import", "load", "rmi", "save", "tag"), "image"),
    **dict.fromkeys(("build", "builder"), "build"),
    **dict.fromkeys(("info", "system", "version"), "system"),
    **dict.fromkeys(("login", "logout", "pull", "push"), "registry"),
    "daemon": "daemon", "network": "network", "sim": "sim", "vm": "vm", "volume": "volume",
}


def _command_in(argv: list[str]) -> str | None:
    """The first positional word of argv (the command), skipping the global options."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--root":
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None


def _available_groups() -> list[str]:
    here = os.path.dirname(__file__)
    found = []
    for name in sorted(os.listdir(here)):
        if name.endswith(".py") and name not in ("__init__.py", "main.py") and not name.startswith("_"):
            found.append(name[:-3])
    return found


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vessel", description="Software containment: images, containers, VMs, clusters.")
    parser.add_argument("--root", default=os.environ.get("VESSEL_ROOT", "/var/lib/vessel"),
                        help="state directory (default /var/lib/vessel, or $VESSEL_ROOT)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = _command_in(argv) if argv is not None else None
    groups = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else (GROUPS or _available_groups())
    sub.vessel_command = command  # a hint: groups may skip building parsers for other commands
    for group in groups:
        module = importlib.import_module(f"vessel.cli.{group}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from vessel.engine import exitcmd

    exit_command = exitcmd.parse(argv)
    if exit_command is not None:          # conmon runs it after every container: no parser
        try:
            return exitcmd.run(*exit_command)
        except VesselError as err:
            print(f"Error: {err}", file=sys.stderr)
            return 125
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except VesselError as err:
        if args.debug:
            raise
        print(f"Error: {err}", file=sys.stderr)
        return getattr(err, "cli_exit_code", 125)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
