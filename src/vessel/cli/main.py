"""Entry point of the `vessel` command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from vessel.errors import VesselError

# Command-group modules under vessel.cli; each has register(subparsers).
GROUPS: tuple[str, ...] = ()


def _available_groups() -> list[str]:
    here = os.path.dirname(__file__)
    found = []
    for name in sorted(os.listdir(here)):
        if name.endswith(".py") and name not in ("__init__.py", "main.py") and not name.startswith("_"):
            found.append(name[:-3])
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vessel", description="Software containment: images, containers, VMs, clusters.")
    parser.add_argument("--root", default=os.environ.get("VESSEL_ROOT", "/var/lib/vessel"),
                        help="state directory (default /var/lib/vessel, or $VESSEL_ROOT)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS or _available_groups():
        module = importlib.import_module(f"vessel.cli.{group}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
