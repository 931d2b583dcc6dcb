"""Making the container's directories: mkdir with parents, cpuset inheritance (v1),
controller delegation through cgroup.subtree_control (v2)."""

from __future__ import annotations

import errno
import os

from vessel.errors import SystemFailure
from vessel.runtime.cgroups import fs


def hierarchy_top(directory: str, marker: str) -> str:
    """The highest ancestor of `directory` (itself included) still inside the cgroup mount.

    A directory is inside when it holds `marker` (cgroup.procs for v1, cgroup.controllers for v2);
    missing directories on the way up are skipped.
    """
    top = None
    d = directory.rstrip("/") or "/"
    while True:
        if os.path.exists(os.path.join(d, marker)):
            top = d
        elif top is not None:
            break
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    if top is None:
        raise SystemFailure(f"{directory} is not inside a cgroup file system (no {marker} above it)",
                            path=directory, hint="is the cgroup hierarchy mounted?")
    return top


def chain(top: str, directory: str) -> list[str]:
    """top, then each directory down to `directory` (both included)."""
    rel = os.path.relpath(directory, top)
    out = [top]
    if rel != ".":
        for part in rel.split("/"):
            out.append(os.path.join(out[-1], part))
    return out


def make_dirs(dirs: list[str], attempts: int = 5) -> list[str]:
    """mkdir each of `dirs` (top-down); returns those this call created.

    A concurrent `destroy` may remove a shared parent between two mkdirs, so a
    vanished parent is recreated a few times before giving up.
    """
    created: list[str] = []
    for _ in range(attempts):
        try:
            for d in dirs:
                try:
                    os.mkdir(d, 0o755)
                    created.append(d)
                except FileExistsError:
                    pass
            return created
        except FileNotFoundError:
            continue
        except OSError as err:
            raise SystemFailure.from_os_error(f"cannot create cgroup {err.filename}", err, path=err.filename,
                                              hint=fs.hint_for(err)) from err
    raise SystemFailure(f"cannot create cgroup {dirs[-1]}: its parents keep disappearing", path=dirs[-1])


def init_cpuset(levels: list[str]) -> None:
    """v1: a new cpuset has empty cpus and mems, and no task may join it; copy them down from the parent."""
    for parent, child in zip(levels, levels[1:]):
        for name in ("cpuset.cpus", "cpuset.mems"):
            current = (fs.read_or(os.path.join(child, name)) or "").strip()
            if current:
                continue
            inherited = (fs.read_or(os.path.join(parent, name)) or "").strip()
            if inherited:
                fs.write(os.path.join(child, name), inherited)


def enable_controllers(levels: list[str], wanted: frozenset[str] | None) -> list[str]:
    """v2: enable controllers in cgroup.subtree_control of every level above the leaf.

    `wanted` None means every controller each level offers (cgroup.controllers).
    Returns warnings for controllers that could not be enabled somewhere.
    """
    warnings: list[str] = []
    for level in levels[:-1]:
        offered = set((fs.read_or(os.path.join(level, "cgroup.controllers")) or "").split())
        enabled = set((fs.read_or(os.path.join(level, "cgroup.subtree_control")) or "").split())
        want = offered if wanted is None else offered & wanted
        todo = sorted(want - enabled)
        if not todo:
            continue
        path = os.path.join(level, "cgroup.subtree_control")
        try:
            fs.write_raw(path, " ".join("+" + c for c in todo))
            continue
        except OSError:
            pass
        for ctrl in todo:  # one at a time, to enable what can be and name what cannot
            try:
                fs.write_raw(path, "+" + ctrl)
            except OSError as err:
                reason = ("it has processes of its own (cgroup v2 allows controllers only in cgroups without "
                          "processes)" if err.errno == errno.EBUSY else err.strerror)
                warnings.append(f"cgroup controller {ctrl!r} could not be enabled in {level}: {reason}")
    return warnings
