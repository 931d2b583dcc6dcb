"""Resolve paths inside a root without letting symlinks escape it (pure + lstat).

`secure_join(root, unsafe)` walks `unsafe` component by component, resolving
symlinks as if `root` were `/`: `..` never climbs above the root and an
absolute symlink target restarts at the root.  Modelled on
filepath-securejoin, used by runc for every mount destination.
"""

from __future__ import annotations

import errno
import os

MAX_SYMLINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st_is_link = os.path.islink(candidate)
        except OSError:
            st_is_link = False
        if not st_is_link:
            resolved.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, "too many levels of symbolic links", os.path.join(root, unsafe.lstrip("/")))
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return os.path.join(root, *resolved)
