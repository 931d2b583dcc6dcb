"""Write layer tars: from explicit entries (bootstrap) or from a directory (commit, import of a dir).

``tar_directory`` walks a directory in sorted order without following
symlinks.  For an overlay upper dir (``overlay_whiteouts=True``) it turns
overlayfs' deletions back into OCI form: a character device 0/0 becomes a
``.wh.NAME`` entry, a directory marked ``trusted.overlay.opaque=y`` gets a
``DIR/.wh..wh..opq`` entry.  Files with several links become tar hardlinks.
Owner names are left empty so equal trees give equal bytes.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vessel.image.resolve import OPAQUE_MARKER, WHITEOUT_PREFIX, is_whiteout_device

SKIPPED_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.", "system.")


@dataclass
class TarBuilder:
    """A PAX tar written to ``out`` as a stream, entries in the order given."""

    out: BinaryIO
    mtime: int | None = None

    def __post_init__(self) -> None:
        self.tf = tarfile.open(fileobj=self.out, mode="w|", format=tarfile.PAX_FORMAT)  # type: ignore[call-overload]
        self.count = 0

    def _info(self, name: str, kind: bytes, mode: int, uid: int, gid: int, mtime: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode & 0o7777
        info.uid, info.gid = uid, gid
        info.uname = info.gname = ""
        info.mtime = self.mtime if self.mtime is not None else mtime
        return info

    def add(self, info: tarfile.TarInfo, data: BinaryIO | None = None) -> None:
        self.tf.addfile(info, data)
        self.count += 1

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0, mtime: int = 0) -> None:
        self.add(self._info(name, tarfile.DIRTYPE, mode, uid, gid, mtime))

    def file(self, name: str, data: BinaryIO, size: int, mode: int = 0o644, uid: int = 0, gid: int = 0,
             mtime: int = 0, xattrs: dict[str, bytes] | None = None) -> None:
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid, mtime)
        info.size = size
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()}
        self.add(info, data)

    def symlink(self, name: str, target: str, uid: int = 0, gid: int = 0, mtime: int = 0) -> None:
        info = self._info(name, tarfile.SYMTYPE, 0o777, uid, gid, mtime)
        info.linkname = target
        self.add(info)

    def hardlink(self, name: str, target: str, mode: int = 0o644, uid: int = 0, gid: int = 0, mtime: int = 0) -> None:
        info = self._info(name, tarfile.LNKTYPE, mode, uid, gid, mtime)
        info.linkname = target
        self.add(info)

    def device(self, name: str, st: os.stat_result) -> None:
        kind = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info = self._info(name, kind, st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime))
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        self.add(info)

    def fifo(self, name: str, st: os.stat_result) -> None:
        self.add(self._info(name, tarfile.FIFOTYPE, st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime)))

    def close(self) -> None:
        self.tf.close()


def tar_directory(src: Path, out: BinaryIO, *, overlay_whiteouts: bool = False,
                  opaque_xattr: str = "trusted.overlay.opaque", mtime: int | None = None) -> int:
    """Write the tree under ``src`` (not ``src`` itself) as a layer tar; returns the entry count."""
    builder = TarBuilder(out, mtime)
    links: dict[tuple[int, int], str] = {}
    stack: list[tuple[Path, str]] = [(src, "")]
    while stack:
        directory, prefix = stack.pop()
        children = []
        for name in sorted(os.listdir(directory)):
            path, rel = directory / name, prefix + name
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                builder.dir(rel, st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime))
                if overlay_whiteouts and _xattr(path, opaque_xattr) == b"y":
                    builder.file(f"{rel}/{OPAQUE_MARKER}", _Empty(), 0, 0o644, mtime=int(st.st_mtime))
                children.append((path, rel + "/"))
            else:
                _add_leaf(builder, path, rel, st, links, overlay_whiteouts)
        stack.extend(reversed(children))
    builder.close()
    return builder.count


def _add_leaf(builder: TarBuilder, path: Path, rel: str, st: os.stat_result, links: dict[tuple[int, int], str],
              overlay_whiteouts: bool) -> None:
    mtime = int(st.st_mtime)
    if overlay_whiteouts and is_whiteout_device(st):
        parent, _, name = rel.rpartition("/")
        builder.file(f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else WHITEOUT_PREFIX + name, _Empty(), 0, 0o644,
                     mtime=mtime)
    elif stat.S_ISREG(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            builder.hardlink(rel, links[key], st.st_mode, st.st_uid, st.st_gid, mtime)
            return
        links[key] = rel
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with open(fd, "rb") as data:
            builder.file(rel, data, st.st_size, st.st_mode, st.st_uid, st.st_gid, mtime, _xattrs(path))
    elif stat.S_ISLNK(st.st_mode):
        builder.symlink(rel, os.readlink(path), st.st_uid, st.st_gid, mtime)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        builder.device(rel, st)
    elif stat.S_ISFIFO(st.st_mode):
        builder.fifo(rel, st)
    # sockets are not content: skipped, as docker does


def _xattr(path: Path, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _xattrs(path: Path) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in sorted(names):
        if not name.startswith(SKIPPED_XATTR_PREFIXES):
            value = _xattr(path, name)
            if value is not None:
                out[name] = value
    return out


class _Empty:
    def read(self, size: int = -1) -> bytes:
        return b""
