"""Copy files into a root filesystem the way COPY and ADD do (the thin, acting half).

``Writer(root)`` writes into a mounted root (the overlay of the step): every
destination is resolved inside ``root`` (symlinks of the image are followed as
in a chroot, never out of it), parents are created 0755 and owned like the
copied files, an existing non-directory is replaced, directories merge.

Ownership: ``owner=(uid, gid)`` for everything (``--chown``, or 0:0 for the
build context); ``owner=None`` keeps the source's (``COPY --from``, the
contents of an ADDed tar).  Modes are the source's, then ``--chmod``.
Modification times are the source's.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from vessel.build.context import Entry
from vessel.build.modes import apply_chmod
from vessel.errors import InvalidArgument, SystemFailure
from vessel.runtime.paths import secure_join

SKIPPED_XATTRS = ("trusted.", "system.", "security.selinux")


@dataclass(frozen=True, slots=True)
class CopyAttrs:
    owner: tuple[int, int] | None = (0, 0)
    chmod: str = ""


def target_path(dest: str, dest_is_dir: bool, source_rel: str, source_is_dir: bool, *, several: bool,
                dest_is_existing_dir: bool, parents: bool) -> tuple[str, bool]:
    """Where one COPY source goes (pure): (path in the root, copy the directory's contents there).

    A directory's contents go to ``dest`` (or ``dest/<its path>`` with ``--parents``); a file goes
    to ``dest/<name>`` when ``dest`` is a directory (trailing ``/``, several sources, or an existing
    directory), else to ``dest`` itself.
    """
    base = dest.rstrip("/") or "/"
    if parents and source_rel not in ("", "."):
        return posixpath.join(base, source_rel), source_is_dir
    if source_is_dir:
        return base, True
    if dest_is_dir or several or dest_is_existing_dir:
        return posixpath.join(base, posixpath.basename(source_rel)), False
    return base, False


class Writer:
    """Writes entries into ``root``; see the module doc for the rules."""

    def __init__(self, root: Path | str, is_root: bool | None = None) -> None:
        self.root = str(root)
        self.is_root = os.geteuid() == 0 if is_root is None else is_root
        self._dirs: list[tuple[str, int, int]] = []

    # -- paths --------------------------------------------------------------------------------

    def real(self, path: str) -> str:
        """Host path of ``path`` in the root: parents resolved inside it, the last name kept."""
        parent, name = posixpath.split(posixpath.normpath("/" + path))
        if not name:
            return self.root
        return os.path.join(secure_join(self.root, parent), name)

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` (symlinks followed inside the root) is a directory."""
        try:
            return stat.S_ISDIR(os.lstat(secure_join(self.root, path)).st_mode)
        except OSError:
            return False

    def makedirs(self, path: str, owner: tuple[int, int] | None, mode: int = 0o755) -> str:
        """``mkdir -p`` inside the root; created directories get ``owner`` (root if None) and ``mode``."""
        current = "/"
        for comp in [c for c in path.split("/") if c]:
            current = posixpath.join(current, comp)
            real = secure_join(self.root, current)
            try:
                st = os.lstat(real)
            except FileNotFoundError:
                try:
                    os.mkdir(real, mode)
                except OSError as err:
                    raise SystemFailure.from_os_error(f"cannot create directory {current}", err, path=current) from None
                os.chmod(real, mode)
                uid, gid = owner or (0, 0)
                self._chown(real, uid, gid)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"cannot copy to {path}: {current} is not a directory", path=path)
        return secure_join(self.root, path)

    # -- copying --------------------------------------------------------------------------------

    def copy_tree(self, entries: list[Entry], top: Entry, target: str, contents: bool, attrs: CopyAttrs) -> int:
        """Copy ``entries`` (``top`` and what is below it, as ``SourceTree.walk`` gives them) to ``target``.

        With ``contents``, ``top`` is a directory whose children go into ``target``.  Returns the count.
        """
        count = 0
        for entry in entries:
            sub = _relative(entry.rel, top.rel)
            if sub == "":
                if contents:  # the directory's contents go into target, made like mkdir -p
                    self.makedirs(target, attrs.owner)
                    continue
                dest = target
            else:
                dest = posixpath.join(target, sub)
            self.makedirs(posixpath.dirname(dest), attrs.owner)
            self.write_entry(entry, dest, attrs)
            count += 1
        self.finish()
        return count

    def write_entry(self, entry: Entry, dest: str, attrs: CopyAttrs) -> None:
        real = self.real(dest)
        st = entry.st
        mode = apply_chmod(attrs.chmod, st.st_mode, stat.S_ISDIR(st.st_mode))
        uid, gid = attrs.owner if attrs.owner is not None else (st.st_uid, st.st_gid)
        try:
            if stat.S_ISDIR(st.st_mode):
                self._dir(real, dest, mode, uid, gid, st)
            elif stat.S_ISREG(st.st_mode):
                self._file(entry.path, real, dest, mode, uid, gid, st)
            elif stat.S_ISLNK(st.st_mode):
                self._clear(real, dest)
                os.symlink(os.readlink(entry.path), real)
                self._chown(real, uid, gid)
                os.utime(real, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
            elif stat.S_ISSOCK(st.st_mode):
                return  # not content
            elif self.is_root:
                self._clear(real, dest)
                os.mknod(real, stat.S_IFMT(st.st_mode) | mode, st.st_rdev)
                self._chown(real, uid, gid)
        except OSError as err:
            raise SystemFailure.from_os_error(f"cannot copy {entry.rel or '/'} to {dest}", err, path=dest) from None

    def write_bytes(self, dest: str, data: bytes, mode: int, owner: tuple[int, int], mtime_ns: int) -> None:
        real = self.real(dest)
        self._clear(real, dest)
        fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as out:
            out.write(data)
            self._chown_fd(fd, *owner)
            os.fchmod(fd, mode)
        os.utime(real, ns=(mtime_ns, mtime_ns), follow_symlinks=False)

    def _dir(self, real: str, dest: str, mode: int, uid: int, gid: int, st: os.stat_result) -> None:
        try:
            existing = os.lstat(real)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            return  # directories merge; an existing one keeps its attributes
        self._clear(real, dest)
        os.mkdir(real, 0o700)  # its mode is set once its children are written (finish)
        self._chown(real, uid, gid)
        self._dirs.append((real, mode, st.st_mtime_ns))

    def _file(self, src: Path, real: str, dest: str, mode: int, uid: int, gid: int, st: os.stat_result) -> None:
        self._clear(real, dest)
        src_fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                _copy_data(src_fd, fd, st.st_size)
                _copy_xattrs(src_fd, fd)
                self._chown_fd(fd, uid, gid)
                os.fchmod(fd, mode)  # after chown, which clears set-id bits
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(fd)
        finally:
            os.close(src_fd)

    def _clear(self, real: str, dest: str) -> None:
        """Remove a non-directory at ``real``; a directory there is an error (a file cannot replace it)."""
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"cannot replace directory {dest} with a non-directory", path=dest)
        os.unlink(real)

    def _chown(self, real: str, uid: int, gid: int) -> None:
        if self.is_root:
            os.lchown(real, uid, gid)

    def _chown_fd(self, fd: int, uid: int, gid: int) -> None:
        if self.is_root:
            os.fchown(fd, uid, gid)

    def finish(self) -> None:
        """Give copied directories their mode, then their source mtime back (writing children changed it)."""
        for real, mode, mtime in reversed(self._dirs):
            os.chmod(real, mode)
            os.utime(real, ns=(mtime, mtime), follow_symlinks=False)
        self._dirs.clear()


def _relative(rel: str, top: str) -> str:
    if rel == top:
        return ""
    if top in ("", "."):
        return rel
    return rel[len(top) + 1:]


def _copy_data(src: int, dst: int, size: int) -> None:
    remaining = size
    try:
        while remaining > 0:
            done = os.copy_file_range(src, dst, remaining)
            if done == 0:
                break
            remaining -= done
        return
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    os.lseek(src, 0, os.SEEK_SET)
    os.lseek(dst, 0, os.SEEK_SET)
    os.ftruncate(dst, 0)
    with open(src, "rb", closefd=False) as fin, open(dst, "wb", closefd=False) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


def _copy_xattrs(src: int, dst: int) -> None:
    try:
        names = os.listxattr(src)
    except OSError:
        return
    for name in names:
        if name.startswith(SKIPPED_XATTRS):
            continue
        try:
            os.setxattr(dst, name, os.getxattr(src, name))
        except OSError:
            continue  # the destination filesystem refuses it: the content matters, not the xattr
