"""`vessel image ...` (and docker's top-level aliases images, rmi, tag, save, load, import, history).

Thin: parse flags, call vessel.image.Store, print docker's columns or JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

from vessel.errors import InvalidArgument

BASES = ("busybox", "debian:bookworm", "scratch")


def make_store(args: argparse.Namespace, in_use: Callable[[str], list[str]] | None = None):  # noqa: ANN201
    """The store under ``--root``; the engine passes ``in_use`` so rmi knows which images containers use."""
    from vessel.image.store import Store

    return Store(Path(args.root), in_use=in_use)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    lines = ["   ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [headers, *rows]]
    return "\n".join(lines)


def _json(value: object) -> None:
    print(json.dumps(value, indent=2))


# -- commands ------------------------------------------------------------------------------------


def cmd_ls(args: argparse.Namespace) -> int:
    from vessel.image.inspect import created_ago, human_size, list_rows, summary
    from vessel.image.reference import parse_reference, short_id

    store = make_store(args)
    images = store.images()
    want = parse_reference(args.reference, default_tag=None) if args.reference else None
    if want is not None:
        images = [i for i in images if any(t.name == want.name and want.tag in (None, t.tag) for t in i.tags)]
    pairs = [(image, store.image_size(image)) for image in images]
    if args.format == "json":
        _json([summary(image, size) for image, size in pairs])
        return 0
    rows = list_rows(pairs, want)
    if args.quiet:
        seen: dict[str, None] = {}
        for row in rows:
            seen.setdefault(row.image_id if args.no_trunc else short_id(row.image_id), None)
        if seen:
            print("\n".join(seen))
        return 0
    now = time.time()
    table = [[r.repository, r.tag, r.image_id if args.no_trunc else short_id(r.image_id),
              created_ago(r.created, now), human_size(r.size)] for r in rows]
    print(_table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], table))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    store = make_store(args)
    _json([store.inspect(name) for name in args.images])
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    make_store(args).tag(args.source, args.target)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    store = make_store(args)
    for name in args.images:
        result = store.remove(name, force=args.force)
        for tag in result.untagged:
            print(f"Untagged: {tag}")
        for image_id in result.deleted:
            print(f"Deleted: {image_id}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from vessel.image.inspect import human_size

    deleted, freed = make_store(args).prune(all=args.all)
    if args.format == "json":
        _json({"ImagesDeleted": [{"Deleted": d} for d in deleted], "SpaceReclaimed": freed})
        return 0
    if deleted:
        print("Deleted Images:")
        print("\n".join(f"deleted: {d}" for d in deleted))
        print()
    print(f"Total reclaimed space: {human_size(freed)}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from vessel.image.inspect import created_ago, human_size
    from vessel.image.reference import short_id

    rows = make_store(args).history(args.image)
    if args.format == "json":
        _json(rows)
        return 0
    if args.quiet:
        print("\n".join(r["Id"] if args.no_trunc or r["Id"] == "<missing>" else short_id(r["Id"]) for r in rows))
        return 0
    now = time.time()
    table = []
    for r in rows:
        by = r["CreatedBy"] if args.no_trunc or len(r["CreatedBy"]) <= 45 else r["CreatedBy"][:44] + "…"
        shown_id = r["Id"] if args.no_trunc or r["Id"] == "<missing>" else short_id(r["Id"])
        table.append([shown_id, created_ago(r["Created"] or None, now), by, human_size(r["Size"]), r["Comment"]])
    print(_table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], table))
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from vessel.image.bootstrap import build_base

    store = make_store(args)
    for name in args.names:
        image = build_base(store, name) if args.force else store.ensure_base(name)
        print(image.id)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    image = make_store(args).import_rootfs(args.file, args.reference, changes=args.change or (), message=args.message)
    print(image.id)
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    store = make_store(args)
    if args.output:
        _save_to_file(store, args)
        return 0
    if sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal", hint="use the -o flag or redirect")
    store.save(args.images, sys.stdout.buffer, args.format)
    sys.stdout.buffer.flush()
    return 0


def _save_to_file(store, args: argparse.Namespace) -> None:  # noqa: ANN001
    """Write next to the destination, then rename: an interrupted save leaves no partial file."""
    import os
    import tempfile

    target = Path(args.output)
    fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}-")
    try:
        with open(fd, "wb") as out:
            store.save(args.images, out, args.format)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cmd_load(args: argparse.Namespace) -> int:
    store = make_store(args)
    source = args.input or "-"
    if source == "-" and sys.stdin.isatty():
        raise InvalidArgument("requested load from stdin, but stdin is empty", hint="use -i FILE or a pipe")
    for loaded in store.load(source):
        if args.quiet:
            continue
        if loaded.tags:
            for tag in loaded.tags:
                print(f"Loaded image: {tag.familiar}")
        else:
            print(f"Loaded image ID: {loaded.image.id}")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from vessel.image.inspect import human_size

    result = make_store(args).gc()
    print(f"removed {result.blobs} blobs, {result.snapshots} snapshots, {result.temp} temp entries "
          f"({human_size(result.bytes_freed)})")
    return 0


# -- parsers -------------------------------------------------------------------------------------


def _fmt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")


def _add(sub, name: str, func, help_text: str, aliases: tuple[str, ...] = ()):  # noqa: ANN001, ANN202
    p = sub.add_parser(name, help=help_text, aliases=list(aliases))
    p.set_defaults(func=func)
    return p


def _commands(sub, top: bool) -> None:  # noqa: ANN001
    """The image commands, under `image` (top=False) or as docker's top-level aliases (top=True)."""
    p = _add(sub, "images" if top else "ls", cmd_ls, "list images", () if top else ("list",))
    p.add_argument("reference", nargs="?", help="only images of this repository[:tag]")
    p.add_argument("-a", "--all", action="store_true", help="accepted for docker compatibility")
    p.add_argument("-q", "--quiet", action="store_true", help="only image IDs")
    p.add_argument("--no-trunc", action="store_true", help="full image IDs")
    _fmt(p)
    p = _add(sub, "rmi" if top else "rm", cmd_rm, "remove images", () if top else ("rmi",))
    p.add_argument("-f", "--force", action="store_true", help="untag even if a container uses the image")
    p.add_argument("images", nargs="+")
    p = _add(sub, "tag", cmd_tag, "name an image: tag SOURCE TARGET")
    p.add_argument("source")
    p.add_argument("target")
    p = _add(sub, "history", cmd_history, "show an image's history")
    p.add_argument("image")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    _fmt(p)
    p = _add(sub, "import", cmd_import, "make an image of a root filesystem tar (- for stdin)")
    p.add_argument("file")
    p.add_argument("reference", nargs="?")
    p.add_argument("-c", "--change", action="append", help="Dockerfile instruction, e.g. 'CMD [\"sh\"]'")
    p.add_argument("-m", "--message", help="commit message in the history")
    p = _add(sub, "save", cmd_save, "write images to a tar archive")
    p.add_argument("images", nargs="+")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.add_argument("--format", choices=("docker-archive", "oci-archive"), default="docker-archive")
    p = _add(sub, "load", cmd_load, "load images from a docker-archive or OCI-archive tar")
    p.add_argument("-i", "--input", help="tar file to read (default: stdin)")
    p.add_argument("-q", "--quiet", action="store_true")


def register(subparsers) -> None:  # noqa: ANN001
    image = subparsers.add_parser("image", help="manage images")
    sub = image.add_subparsers(dest="image_command", metavar="COMMAND")
    image.set_defaults(func=lambda args: (image.print_help(), 0)[1])
    _commands(sub, top=False)
    p = _add(sub, "inspect", cmd_inspect, "show images in docker's ImageInspect JSON")
    p.add_argument("images", nargs="+")
    p.add_argument("--format", choices=("json",), default="json")
    p = _add(sub, "prune", cmd_prune, "remove dangling images (-a: every unused image)")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true", help="accepted for docker compatibility (no prompt)")
    _fmt(p)
    p = _add(sub, "bootstrap", cmd_bootstrap, f"build a base image without a registry ({', '.join(BASES)})")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--force", action="store_true", help="build again even if present")
    _add(sub, "gc", cmd_gc, "remove unreferenced blobs, snapshots and temp files")
    _commands(subparsers, top=True)
