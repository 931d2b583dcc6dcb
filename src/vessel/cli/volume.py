"""`vessel volume create/ls/inspect/rm/prune`."""

from __future__ import annotations

import json
import sys

from vessel.errors import VesselError


def _vols(args):
    from vessel.engine.engine import Engine

    return Engine(args.root).volumes


def cmd_create(args) -> int:
    labels = dict(l.split("=", 1) if "=" in l else (l, "") for l in args.label)
    print(_vols(args).create(args.name, labels=labels))
    return 0


def cmd_ls(args) -> int:
    vols = _vols(args).db.volumes()
    if args.quiet:
        for v in vols:
            print(v["name"])
    elif args.format == "json":
        for v in vols:
            print(json.dumps({"Driver": "local", "Name": v["name"], "Labels": v["labels"]}))
    else:
        print(f"{'DRIVER':<10}VOLUME NAME")
        for v in vols:
            print(f"{'local':<10}{v['name']}")
    return 0


def cmd_inspect(args) -> int:
    vols = _vols(args)
    print(json.dumps([vols.inspect(n) for n in args.names], indent=4))
    return 0


def cmd_rm(args) -> int:
    vols = _vols(args)
    failed = 0
    for name in args.names:
        try:
            vols.remove(name, force=args.force)
            print(name)
        except VesselError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            failed = 1
    return failed


def cmd_prune(args) -> int:
    removed = _vols(args).prune(all_volumes=args.all)
    print("Deleted Volumes:")
    for name in removed:
        print(name)
    return 0


def register(sub) -> None:
    group = sub.add_parser("volume", help="manage volumes")
    vs = group.add_subparsers(dest="volume_command", metavar="COMMAND")
    p = vs.add_parser("create", help="create a volume")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("-d", "--driver", default="local")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_create)
    p = vs.add_parser("ls", help="list volumes")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format")
    p.set_defaults(func=cmd_ls)
    p = vs.add_parser("inspect", help="display detailed information on volumes")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=cmd_inspect)
    p = vs.add_parser("rm", help="remove volumes")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=cmd_rm)
    p = vs.add_parser("prune", help="remove unused volumes")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(func=cmd_prune)
