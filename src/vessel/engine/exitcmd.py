"""conmon's exit command, `vessel --root R container cleanup ID`, kept cheap.

It runs after every container exits, usually while a foreground `vessel run` is still
attached and about to record the exit code and (with --rm) remove the container itself.
So it first waits for that client's attach lock without loading the engine (no parser,
no SQLite, no image store: its CPU would compete with the client on a small machine),
and loads the engine only if the container is still there afterwards (restart policies,
--rm of a detached or abandoned container, recording the exit of a detached one).
"""

from __future__ import annotations

import fcntl
import os


def parse(argv: list[str]) -> tuple[str, str] | None:
    """(root, container id) if argv is exactly the exit command, else None."""
    root = os.environ.get("VESSEL_ROOT", "/var/lib/vessel")
    rest = list(argv)
    if len(rest) >= 2 and rest[0] == "--root":
        root, rest = rest[1], rest[2:]
    if len(rest) == 3 and rest[:2] == ["container", "cleanup"] and not rest[2].startswith("-"):
        return root, rest[2]
    return None


def run(root: str, cid: str) -> int:
    cdir = os.path.join(root, "containers", cid)
    try:
        fd = os.open(os.path.join(cdir, "attach.lock"), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None       # never attached (or already removed): the engine decides below
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)       # until an attached client is done with the container
        finally:
            os.close(fd)
    if not os.path.isdir(cdir):
        return 0        # the client removed it (run --rm): nothing left to do
    from vessel.engine.engine import Engine

    Engine(root).cleanup(cid)
    return 0
