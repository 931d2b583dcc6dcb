"""Path handling for extraction: lexical normalisation and scoped, fd-based walking.

Every path of a layer is resolved *inside* a root, the way a chroot would:
`..` never climbs above the root (a lexical `..` that would is an error), an
absolute symlink target restarts at the root, and no symlink is ever followed
by the kernel (each component is opened with O_NOFOLLOW relative to its
parent's fd).  So no entry can reach anything outside the root, whatever the
archive holds.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from vessel.errors import InvalidArgument

MAX_SYMLINKS = 40
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


def normalize_entry(name: str, layer: str) -> tuple[str, ...]:
    """Components of a tar entry name relative to the root; a leading '/' is dropped.

    A '..' that would climb above the root is refused: the archive is hostile or broken.
    """
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise InvalidArgument(f"layer {layer} entry {name!r} escapes the root", layer=layer, entry=name)
            parts.pop()
        else:
            parts.append(comp)
    if "\x00" in name:
        raise InvalidArgument(f"layer {layer} entry {name!r} contains a NUL byte", layer=layer, entry=name)
    return tuple(parts)


def is_whiteout_device(st: os.stat_result) -> bool:
    """overlayfs marks a deleted name with a character device 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


@dataclass(frozen=True)
class LowerEntry:
    st: os.stat_result
    link_target: str | None


class LowerView:
    """What the merged view of the lower snapshots (top first) shows at a path.

    Used to give implicitly created directories their lower attributes and to
    follow a symlink that lives in a lower layer.  Never follows a symlink.
    """

    def __init__(self, lowers: Sequence[Path], opaque_xattr: str) -> None:
        self._lowers = list(lowers)
        self._opaque_xattr = opaque_xattr

    def lookup(self, parts: Sequence[str]) -> LowerEntry | None:
        for lower in self._lowers:
            found, stop = self._lookup_one(lower, parts)
            if found is not None or stop:
                return found
        return None

    def _lookup_one(self, lower: Path, parts: Sequence[str]) -> tuple[LowerEntry | None, bool]:
        try:
            fd = os.open(lower, DIR_FLAGS)
        except FileNotFoundError:
            return None, False
        opaque = False
        try:
            for comp in parts[:-1]:
                try:
                    child = os.open(comp, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    return None, opaque
                except OSError as err:
                    if err.errno in (errno.ELOOP, errno.ENOTDIR):
                        return None, True  # a non-directory here hides every layer below
                    raise
                os.close(fd)
                fd = child
                opaque = opaque or self._is_opaque(fd)
            try:
                st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None, opaque
            if is_whiteout_device(st):
                return None, True
            target = os.readlink(parts[-1], dir_fd=fd) if stat.S_ISLNK(st.st_mode) else None
            return LowerEntry(st, target), True
        finally:
            os.close(fd)

    def _is_opaque(self, fd: int) -> bool:
        try:
            return os.getxattr(fd, self._opaque_xattr) == b"y"
        except OSError:
            return False


class ScopedWalker:
    """Opens directories under ``root_fd`` by components, resolving symlinks inside the root.

    ``on_missing(parent_fd, name, logical_path)`` creates a missing directory
    (or returns False to report it missing); ``on_not_dir(parent_fd, name, st,
    logical_path)`` may replace a non-directory by a directory and return True.
    """

    def __init__(self, root_fd: int, lower: LowerView | None, layer: str,
                 on_missing: Callable[[int, str, tuple[str, ...]], bool],
                 on_not_dir: Callable[[int, str, os.stat_result, tuple[str, ...]], bool]) -> None:
        self.root_fd = root_fd
        self.lower = lower
        self.layer = layer
        self.on_missing = on_missing
        self.on_not_dir = on_not_dir

    def open_dir(self, parts: Sequence[str], entry: str, *, create: bool = True) -> tuple[int, tuple[str, ...]] | None:
        """(fd, resolved components) of the directory at ``parts``; None if missing and not created."""
        fds = [os.dup(self.root_fd)]
        names: list[str] = []
        todo = list(parts)
        links = 0
        try:
            while todo:
                comp = todo.pop(0)
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if names:
                        os.close(fds.pop())
                        names.pop()
                    continue
                outcome = self._step(fds[-1], comp, tuple(names), entry, create)
                if outcome is None:
                    return None
                if isinstance(outcome, str):
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise InvalidArgument(f"layer {self.layer} entry {entry!r}: too many levels of symbolic links",
                                              layer=self.layer, entry=entry)
                    if outcome.startswith("/"):
                        for fd in fds[1:]:
                            os.close(fd)
                        del fds[1:]
                        names.clear()
                    todo[:0] = outcome.split("/")
                    continue
                fds.append(outcome)
                names.append(comp)
            result = fds.pop()
            return result, tuple(names)
        finally:
            for fd in fds:
                os.close(fd)

    def _step(self, dirfd: int, comp: str, names: tuple[str, ...], entry: str, create: bool) -> int | str | None:
        """An fd for directory ``comp``, a symlink target to follow, or None when missing."""
        for _attempt in range(2):
            try:
                return os.open(comp, DIR_FLAGS, dir_fd=dirfd)
            except FileNotFoundError:
                if self.lower is not None:
                    below = self.lower.lookup(names + (comp,))
                    if below is not None and below.link_target is not None:
                        return below.link_target
                if not create or not self.on_missing(dirfd, comp, names + (comp,)):
                    return None
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                st = os.stat(comp, dir_fd=dirfd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    return os.readlink(comp, dir_fd=dirfd)
                if not create:
                    return None
                if not self.on_not_dir(dirfd, comp, st, names + (comp,)):
                    shown = "/".join(names + (comp,))
                    raise InvalidArgument(f"layer {self.layer} entry {entry!r}: {shown!r} is not a directory",
                                          layer=self.layer, entry=entry) from err
        raise InvalidArgument(f"layer {self.layer} entry {entry!r}: cannot create directory {comp!r}",
                              layer=self.layer, entry=entry)
