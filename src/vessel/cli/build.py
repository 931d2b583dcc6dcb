"""`vessel build` (docker build's flags) and `vessel builder prune`.

Thin: read the Dockerfile (a file, or stdin with ``-f -``), turn flags into
``BuildOptions``, run ``vessel.build.executor.Builder`` in a private mount
namespace (the step overlays never show on the host and vanish with the
process).  Output on stdout: the classic builder's lines (``--progress
plain``, or ``auto`` when stdout is no terminal) or a live display
(``tty``, or ``auto`` on a terminal), then ``Successfully built/tagged``;
with ``-q`` only the image ID.  Errors go to stderr (``Error: ...``, exit 1).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vessel.errors import InvalidArgument, NotFound, Unsupported, VesselError


def _pair(text: str, what: str) -> tuple[str, str | None]:
    key, sep, value = text.partition("=")
    if not key:
        raise InvalidArgument(f"invalid {what} {text!r}: expected KEY=VALUE", value=text)
    return key, value if sep else None


def build_args(items: list[str]) -> dict[str, str]:
    """``--build-arg K=V``; ``--build-arg K`` takes K from the environment (skipped when unset), as docker."""
    out: dict[str, str] = {}
    for item in items:
        key, value = _pair(item, "--build-arg")
        if value is None:
            value = os.environ.get(key)
            if value is None:
                continue
        out[key] = value
    return out


def labels(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, value = _pair(item, "--label")
        out[key] = value or ""
    return out


def secrets(items: list[str]) -> dict:
    """``--secret id=ID[,src=FILE|,env=VAR]``: without src or env, the variable named ID, else the file ID."""
    from vessel.build.options import Secret

    out = {}
    for item in items:
        fields = dict(_pair(part, "--secret") for part in item.split(",") if part)
        ident = fields.get("id")
        if not ident:
            raise InvalidArgument(f"--secret {item!r} has no id", hint="use --secret id=NAME,src=FILE", value=item)
        src = fields.get("src") or fields.get("source")
        env = fields.get("env")
        if src is None and env is None:
            env = ident if ident in os.environ else None
            src = None if env else ident
        if env is not None:
            if env not in os.environ:
                raise NotFound(f"--secret {ident}: environment variable {env} is not set", secret=ident)
            out[ident] = Secret(ident, os.environ[env].encode())
            continue
        try:
            out[ident] = Secret(ident, Path(str(src)).read_bytes())
        except OSError as err:
            raise NotFound(f"--secret {ident}: cannot read {src}: {err.strerror}", secret=ident) from None
    return out


def read_dockerfile(args: argparse.Namespace) -> tuple[str, str, Path | None]:
    """(text, name shown in messages, path for <Dockerfile>.dockerignore or None for stdin)."""
    if args.file == "-":
        return sys.stdin.read(), "Dockerfile", None
    path = Path(args.file) if args.file else Path(args.context) / "Dockerfile"
    try:
        return path.read_text(encoding="utf-8", errors="surrogateescape"), path.name, path
    except FileNotFoundError:
        raise NotFound(f"failed to read dockerfile: open {path}: no such file or directory", path=str(path),
                       hint="give the Dockerfile with -f, or put one at the root of the context") from None
    except IsADirectoryError:
        raise InvalidArgument(f"failed to read dockerfile: {path} is a directory", path=str(path)) from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cancels the build like ^C: the running step is killed, mounts undone


def cmd_build(args: argparse.Namespace) -> int:
    import signal

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _build(args)
    except VesselError as err:
        err.cli_exit_code = 1  # type: ignore[attr-defined]  # docker build exits 1 whatever failed
        raise


def _build(args: argparse.Namespace) -> int:
    from vessel.build import memo
    from vessel.build.options import BuildOptions, parse_tags
    from vessel.build.progress import make_progress
    from vessel.cli.image import make_store

    if os.geteuid() != 0:
        raise Unsupported("vessel build needs root (it mounts overlays and runs containers)",
                          hint="run it with sudo")
    if args.context == "-":
        raise Unsupported("a build context read from stdin is not supported", hint="give a directory")
    text, name, path = read_dockerfile(args)
    opts = BuildOptions(tags=tuple(args.tag), build_args=build_args(args.build_arg), target=args.target,
                        no_cache=args.no_cache, labels=labels(args.label), network=args.network,
                        secrets=secrets(args.secret), platform=args.platform)
    tags = parse_tags(opts.tags)
    store = make_store(args)
    progress = make_progress(args.progress, args.quiet)
    context = Path(args.context)
    try:
        image = None
        if not opts.no_cache and context.is_dir():  # unchanged inputs: no parser, planner or mounts needed
            key = memo.memo_key(text, name, context, path, opts.build_args, opts.target, opts.labels,
                                opts.platform)
            hit = memo.replay(store, Path(args.root) / "build", key, context, path, tags, progress)
            image = hit.image if hit is not None else None
        if image is None:
            from vessel.build.executor import Builder
            from vessel.build.workspace import private_mount_namespace

            private_mount_namespace()
            builder = Builder(store, Path(args.root), progress)
            image = builder.build(text, name, context, opts, dockerfile_path=path, use_memo=False).image
        progress.built(image.id, tags)
    finally:
        progress.close()
    if args.quiet:
        print(image.id)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from vessel.build import memo
    from vessel.build.cache import LayerCache

    build_dir = Path(args.root) / "build"
    records = LayerCache(build_dir / "steps").clear() if (build_dir / "steps").is_dir() else 0
    memo.clear(build_dir)
    caches = 0
    if (build_dir / "cache").is_dir():
        import shutil

        for entry in (build_dir / "cache").iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            caches += 1
    print(f"Deleted build cache: {records} step records, {caches} cache mounts")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("build", help="build an image from a Dockerfile",
                              description="Build an image from a Dockerfile and a context directory.")
    p.add_argument("-t", "--tag", action="append", default=[], help="name and tag, e.g. app:1 (repeatable)")
    p.add_argument("-f", "--file", help="the Dockerfile (default CONTEXT/Dockerfile; - reads stdin)")
    p.add_argument("--build-arg", action="append", default=[], metavar="K=V", help="set a build-time variable")
    p.add_argument("--target", help="build this stage (and what it needs) only")
    p.add_argument("--no-cache", action="store_true", help="do not use the layer cache")
    p.add_argument("--label", action="append", default=[], metavar="K=V", help="add a label to the image")
    p.add_argument("--network", choices=("default", "bridge", "host", "none"), default="default",
                   help="network for RUN steps: the default bridge (default, bridge), the host's, or none")
    p.add_argument("--progress", choices=("auto", "plain", "tty"), default="auto",
                   help="plain: the classic builder's lines; tty: a live display; auto: tty on a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    p.add_argument("--secret", action="append", default=[], metavar="id=ID,src=FILE",
                   help="a secret for RUN --mount=type=secret")
    p.add_argument("--platform", default="linux/amd64", help="target platform (only linux/amd64 runs)")
    p.add_argument("context", metavar="CONTEXT", help="the build context directory")
    p.set_defaults(func=cmd_build)

    b = subparsers.add_parser("builder", help="manage the build cache")
    bsub = b.add_subparsers(dest="builder_command", metavar="COMMAND")
    prune = bsub.add_parser("prune", help="remove the layer cache records and RUN cache mounts")
    prune.set_defaults(func=cmd_prune)
