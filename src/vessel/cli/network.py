"""`vessel network create|ls|inspect|rm|prune|connect|disconnect` (thin over NetworkManager)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vessel.errors import InvalidArgument

LS_COLUMNS = ("NETWORK ID", "NAME", "DRIVER", "SCOPE")


def _manager(args: argparse.Namespace):  # noqa: ANN202 - imported lazily
    """The root's network manager, configured exactly as the engine's (bridge and nft table per root)."""
    import logging

    from vessel.engine.engine import network_config
    from vessel.network.manager import NetworkManager

    logging.getLogger("vessel.network").addHandler(logging.NullHandler())
    return NetworkManager(Path(args.root), config=network_config(Path(args.root)))


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what} {item!r}", value=item, hint=f"write --{what} KEY=VALUE")
        out[key] = value if sep else ""
    return out


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["   ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines) + "\n"


def ls_json_line(net) -> str:  # noqa: ANN001 - vessel.network.model.Network
    """docker's `network ls --format json` object for one network."""
    labels = ",".join(f"{k}={v}" for k, v in sorted(net.labels.items()))
    return json.dumps({"CreatedAt": net.created, "Driver": net.driver, "ID": net.short_id, "IPv6": "false",
                       "Internal": str(net.internal).lower(), "Labels": labels, "Name": net.name, "Scope": "local"})


def cmd_create(args: argparse.Namespace) -> int:
    if args.driver != "bridge":
        raise InvalidArgument(f"network driver {args.driver!r} is not supported", value=args.driver,
                              hint="vessel creates bridge networks")
    opts = _pairs(args.opt, "opt")
    with _manager(args) as mgr:
        mgr.ensure_default()
        net = mgr.create(args.name, subnet=args.subnet, gateway=args.gateway, internal=args.internal,
                         labels=_pairs(args.label, "label"), bridge=opts.get("com.docker.network.bridge.name"))
    print(net.id)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    if args.format not in (None, "table", "json"):
        raise InvalidArgument(f"unsupported --format {args.format!r}", value=args.format, hint="use table or json")
    with _manager(args) as mgr:
        nets = mgr.list()
    if args.quiet:
        sys.stdout.write("".join(f"{n.id if args.no_trunc else n.short_id}\n" for n in nets))
    elif args.format == "json":
        sys.stdout.write("".join(ls_json_line(n) + "\n" for n in nets))
    else:
        rows = [(n.id if args.no_trunc else n.short_id, n.name, n.driver, "local") for n in nets]
        sys.stdout.write(table(rows, LS_COLUMNS))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    with _manager(args) as mgr:
        docs = [mgr.inspect(ref) for ref in args.network]
    print(json.dumps(docs, indent=4))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    with _manager(args) as mgr:
        for ref in args.network:
            mgr.remove(ref)
            print(ref)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    if not args.force:
        answer = input("WARNING! This will remove all custom networks not used by at least one container.\n"
                       "Are you sure you want to continue? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    with _manager(args) as mgr:
        gone = mgr.prune()
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone))
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    """Attach a running container (by name or id, through the engine) or a bare netns (--netns)."""
    cid, name, netns = args.container, args.name or "", args.netns
    if not netns:
        from vessel.engine.engine import Engine
        from vessel.errors import Conflict

        rec = Engine(Path(args.root)).get(args.container)
        if rec.status != "running" or rec.isolation != "container":
            raise Conflict(f"container {rec.name} is not running", hint="start it first")
        cid, name, netns = rec.id, name or rec.name, rec.pid
    with _manager(args) as mgr:
        mgr.attach(cid, args.network, netns, name=name, aliases=tuple(args.alias or ()), ip=args.ip)
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    from vessel.errors import NotFound

    with _manager(args) as mgr:
        ids = mgr.containers(args.container)
        if len(ids) != 1:
            raise NotFound(f"container {args.container} is not attached to any network" if not ids
                           else f"container reference {args.container} is ambiguous: {', '.join(ids)}",
                           container=args.container)
        mgr.detach(ids[0], args.network)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    net = subparsers.add_parser("network", help="manage networks")
    sub = net.add_subparsers(dest="network_command", metavar="COMMAND")
    net.set_defaults(func=lambda _args: (net.print_help(), 0)[1])

    p = sub.add_parser("create", help="create a bridge network")
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--subnet", help="CIDR, e.g. 10.89.3.0/24 (default: a free /24 of 10.89.0.0/16)")
    p.add_argument("--gateway", help="gateway address (default: the subnet's first address)")
    p.add_argument("--internal", action="store_true", help="no outbound traffic, no published ports")
    p.add_argument("--label", action="append", metavar="KEY=VALUE")
    p.add_argument("-o", "--opt", action="append", metavar="KEY=VALUE",
                   help="com.docker.network.bridge.name=NAME names the bridge")
    p.add_argument("name")
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("ls", aliases=["list"], help="list networks")
    p.add_argument("-q", "--quiet", action="store_true", help="only IDs")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format", help="table (default) or json")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("inspect", help="show networks as JSON")
    p.add_argument("network", nargs="+")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("rm", aliases=["remove"], help="remove networks")
    p.add_argument("network", nargs="+")
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser("prune", help="remove all unused user networks")
    p.add_argument("-f", "--force", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("connect", help="connect a container to a network")
    p.add_argument("--alias", action="append", help="extra DNS name on this network")
    p.add_argument("--ip", help="IPv4 address on this network")
    p.add_argument("--name", help="the container's name (resolvable on the network)")
    p.add_argument("--netns", help="the container's network namespace (/proc/PID/ns/net)")
    p.add_argument("network")
    p.add_argument("container")
    p.set_defaults(func=cmd_connect)

    p = sub.add_parser("disconnect", help="disconnect a container from a network")
    p.add_argument("network")
    p.add_argument("container")
    p.set_defaults(func=cmd_disconnect)
