"""Unpack one layer tar into a snapshot directory, in overlayfs form, safely.

Each layer is unpacked alone.  OCI whiteouts become what overlayfs reads: a
``.wh.NAME`` entry becomes a character device 0/0 named NAME, a
``.wh..wh..opq`` entry marks its directory opaque with an xattr.  Whiteouts
only hide what lower layers hold, never entries of the same layer (OCI image
spec, "Whiteouts").

Safety rules (hostile archives): every entry is resolved inside the target by
``ScopedWalker`` (no '..' above the root, no symlink followed by the kernel);
hardlinks must name an earlier file of the same layer; device nodes are made
only by root; setuid/setgid bits and ownership are kept only by root; the
``trusted.overlay.*`` xattrs of an archive are ignored.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, Sequence

from vessel.errors import InvalidArgument, ResourceExhausted, SystemFailure
from vessel.image.layers import HashingReader, decompress_errors, open_uncompressed
from vessel.image.resolve import (DIR_FLAGS, OPAQUE_MARKER, WHITEOUT_PREFIX, LowerView, ScopedWalker,
                                  is_whiteout_device, normalize_entry)

XATTR_PREFIX = "SCHILY.xattr."


class Whiteouts(Protocol):
    """How deletions are written into a snapshot (overlayfs form by default)."""

    def whiteout(self, dirfd: int, name: str) -> None: ...

    def opaque(self, dirfd: int) -> None: ...

    def is_whiteout(self, st: os.stat_result) -> bool: ...


@dataclass(frozen=True)
class OverlayWhiteouts:
    """Character device 0/0 for a deleted name; ``<prefix>opaque=y`` for an opaque directory."""

    xattr_prefix: str = "trusted.overlay."

    def whiteout(self, dirfd: int, name: str) -> None:
        os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=dirfd)

    def opaque(self, dirfd: int) -> None:
        os.setxattr(dirfd, self.xattr_prefix + "opaque", b"y")

    def is_whiteout(self, st: os.stat_result) -> bool:
        return is_whiteout_device(st)


@dataclass
class LayerStats:
    """What unpacking a layer found."""

    compression: str = "tar"
    diff_id: str = ""
    tar_size: int = 0
    size: int = 0
    entries: int = 0
    skipped_devices: int = 0
    skipped_xattrs: int = 0


@dataclass(frozen=True)
class _DirMeta:
    parts: tuple[str, ...]
    mode: int
    mtime_ns: int


@dataclass
class Extractor:
    """Applies one layer to ``root_fd`` (a fresh directory)."""

    root_fd: int
    layer: str
    is_root: bool
    whiteouts: Whiteouts
    lower: LowerView | None = None
    stats: LayerStats = field(default_factory=LayerStats)
    _dirs: dict[tuple[str, ...], _DirMeta] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.walker = ScopedWalker(self.root_fd, self.lower, self.layer, self._make_implicit_dir, self._replace_whiteout)

    # -- directories made on the way --------------------------------------------------------

    def _make_implicit_dir(self, dirfd: int, name: str, logical: tuple[str, ...]) -> bool:
        """Create a directory the archive implies but does not list, with the attributes lower layers give it."""
        mode, uid, gid, mtime_ns = 0o755, 0, 0, 0
        below = self.lower.lookup(logical) if self.lower else None
        if below is not None and stat.S_ISDIR(below.st.st_mode):
            st = below.st
            mode, uid, gid, mtime_ns = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns
        os.mkdir(name, 0o700, dir_fd=dirfd)
        if self.is_root:
            os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
        self._dirs.setdefault(logical, _DirMeta(logical, self._mode(mode), mtime_ns))
        return True

    def _replace_whiteout(self, dirfd: int, name: str, st: os.stat_result, logical: tuple[str, ...]) -> bool:
        if not self.whiteouts.is_whiteout(st):
            return False
        os.unlink(name, dir_fd=dirfd)
        self._make_implicit_dir(dirfd, name, logical)
        self._mark_opaque(dirfd, name)
        return True

    def _mark_opaque(self, dirfd: int, name: str) -> None:
        fd = os.open(name, DIR_FLAGS, dir_fd=dirfd)
        try:
            self.whiteouts.opaque(fd)
        finally:
            os.close(fd)

    def _parent(self, parts: tuple[str, ...], entry: str) -> tuple[int, tuple[str, ...]]:
        opened = self.walker.open_dir(parts[:-1], entry)
        assert opened is not None  # on_missing always creates
        return opened

    def _mode(self, mode: int) -> int:
        mode &= 0o7777
        return mode if self.is_root else mode & ~(stat.S_ISUID | stat.S_ISGID)

    # -- entries -----------------------------------------------------------------------------

    def apply(self, tf: tarfile.TarFile) -> None:
        for member in tf:
            self.stats.entries += 1
            try:
                self._member(tf, member)
            except OSError as err:
                if err.errno is None:
                    raise  # a corrupt compressed stream: reported by extract_layer
                raise _os_failure(err, self.layer, member.name) from err
        self._finish_dirs()

    def _member(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = normalize_entry(member.name, self.layer)
        if not parts:
            return  # the root itself: its attributes come from the container's upper dir
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout_entry(parts, member.name)
            return
        if member.issym() and not member.linkname:
            raise InvalidArgument(f"layer {self.layer} entry {member.name!r} is a symlink to nothing",
                                  layer=self.layer, entry=member.name)
        dirfd, resolved = self._parent(parts, member.name)
        try:
            self._entry(tf, member, dirfd, base, resolved + (base,))
        finally:
            os.close(dirfd)

    def _whiteout_entry(self, parts: tuple[str, ...], entry: str) -> None:
        base = parts[-1]
        if base == OPAQUE_MARKER:
            if len(parts) == 1:
                self.whiteouts.opaque(self.root_fd)
                return
            opened = self.walker.open_dir(parts[:-1], entry)
            assert opened is not None  # on_missing always creates
            try:
                self.whiteouts.opaque(opened[0])
            finally:
                os.close(opened[0])
            return
        if base.startswith(WHITEOUT_PREFIX * 2):
            return  # aufs bookkeeping (.wh..wh.plnk ...): not content
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", ".."):
            raise InvalidArgument(f"layer {self.layer} entry {entry!r} is not a valid whiteout", layer=self.layer)
        dirfd, _ = self._parent(parts, entry)
        try:
            if _lstat(dirfd, name) is None:  # a whiteout never hides an entry of its own layer
                self.whiteouts.whiteout(dirfd, name)
        finally:
            os.close(dirfd)

    def _entry(self, tf: tarfile.TarFile, member: tarfile.TarInfo, dirfd: int, name: str,
               logical: tuple[str, ...]) -> None:
        mode = self._mode(member.mode)
        if member.isdir():
            self._dir_entry(dirfd, name, logical, member, mode)
            return
        if not (member.isreg() or member.issym() or member.islnk() or member.isdev()):
            return  # GNU volume headers and the like: not content
        if (member.ischr() or member.isblk()) and not self.is_root:
            self.stats.skipped_devices += 1
            return
        self._clear(dirfd, name, logical)
        if member.isreg():
            self._file_entry(tf, member, dirfd, name, mode)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=dirfd)
            self._own(dirfd, name, member)
            os.utime(name, ns=_ns(member), dir_fd=dirfd, follow_symlinks=False)
        elif member.islnk():
            self._hardlink_entry(member, dirfd, name)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(name, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=dirfd)
            self._special_meta(dirfd, name, member, mode)
        elif member.isfifo():
            os.mkfifo(name, 0o600, dir_fd=dirfd)
            self._special_meta(dirfd, name, member, mode)

    def _special_meta(self, dirfd: int, name: str, member: tarfile.TarInfo, mode: int) -> None:
        """Owner, mode (mknod/mkfifo modes pass through the umask) and mtime of a node just made."""
        self._own(dirfd, name, member)
        os.chmod(name, mode, dir_fd=dirfd)
        os.utime(name, ns=_ns(member), dir_fd=dirfd, follow_symlinks=False)

    def _dir_entry(self, dirfd: int, name: str, logical: tuple[str, ...], member: tarfile.TarInfo, mode: int) -> None:
        st = _lstat(dirfd, name)
        replaced_whiteout = st is not None and self.whiteouts.is_whiteout(st)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            self._clear(dirfd, name, logical)
            st = None
        if st is None:
            os.mkdir(name, 0o700, dir_fd=dirfd)
        fd = os.open(name, DIR_FLAGS, dir_fd=dirfd)
        try:
            if self.is_root:
                os.fchown(fd, member.uid, member.gid)
            if replaced_whiteout:
                self.whiteouts.opaque(fd)
            self._xattrs(fd, member)
        finally:
            os.close(fd)
        self._dirs[logical] = _DirMeta(logical, mode, _ns(member)[1])

    def _file_entry(self, tf: tarfile.TarFile, member: tarfile.TarInfo, dirfd: int, name: str, mode: int) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
        with open(fd, "wb") as out:
            source = tf.extractfile(member)
            if source is not None:
                shutil.copyfileobj(source, out, 1 << 20)
            out.flush()
            if self.is_root:
                os.fchown(fd, member.uid, member.gid)
            os.fchmod(fd, mode)
            self._xattrs(fd, member)
            os.utime(fd, ns=_ns(member))
        self.stats.size += member.size

    def _hardlink_entry(self, member: tarfile.TarInfo, dirfd: int, name: str) -> None:
        target = normalize_entry(member.linkname, self.layer)
        if not target:
            raise InvalidArgument(f"layer {self.layer} entry {member.name!r} is a hardlink to the root",
                                  layer=self.layer)
        opened = self.walker.open_dir(target[:-1], member.name, create=False)
        st = None
        if opened is not None:
            st = _lstat(opened[0], target[-1])
        if opened is None or st is None or stat.S_ISDIR(st.st_mode) or self.whiteouts.is_whiteout(st):
            if opened is not None:
                os.close(opened[0])
            raise InvalidArgument(
                f"layer {self.layer} entry {member.name!r}: hardlink target {member.linkname!r} is not a file "
                "earlier in this layer", layer=self.layer, entry=member.name)
        try:
            os.link(target[-1], name, src_dir_fd=opened[0], dst_dir_fd=dirfd, follow_symlinks=False)
        finally:
            os.close(opened[0])

    def _clear(self, dirfd: int, name: str, logical: tuple[str, ...]) -> None:
        """Remove what this layer already holds at ``name`` (a later entry replaces an earlier one)."""
        st = _lstat(dirfd, name)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=dirfd)
            self._dirs = {k: v for k, v in self._dirs.items() if k[:len(logical)] != logical}
        else:
            os.unlink(name, dir_fd=dirfd)

    def _own(self, dirfd: int, name: str, member: tarfile.TarInfo) -> None:
        if self.is_root:
            os.chown(name, member.uid, member.gid, dir_fd=dirfd, follow_symlinks=False)

    def _xattrs(self, fd: int, member: tarfile.TarInfo) -> None:
        for keyword, value in member.pax_headers.items():
            if not keyword.startswith(XATTR_PREFIX):
                continue
            attr = keyword[len(XATTR_PREFIX):]
            if attr.startswith("trusted.overlay.") or (not self.is_root and not attr.startswith("user.")):
                self.stats.skipped_xattrs += 1
                continue
            try:
                os.setxattr(fd, attr, value.encode("utf-8", "surrogateescape"))
            except OSError as err:
                if err.errno not in (errno.ENOTSUP, errno.EPERM, errno.EINVAL):
                    raise
                self.stats.skipped_xattrs += 1

    def _finish_dirs(self) -> None:
        """Directory modes and mtimes last (deepest first): adding children changes them."""
        for meta in sorted(self._dirs.values(), key=lambda m: len(m.parts), reverse=True):
            opened = self.walker.open_dir(meta.parts[:-1], "/".join(meta.parts), create=False)
            if opened is None:
                continue
            try:
                fd = os.open(meta.parts[-1], DIR_FLAGS, dir_fd=opened[0])
            except OSError:
                continue  # replaced by a non-directory later in the layer
            finally:
                os.close(opened[0])
            try:
                os.fchmod(fd, meta.mode)
                os.utime(fd, ns=(meta.mtime_ns, meta.mtime_ns))
            finally:
                os.close(fd)


def _lstat(dirfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _ns(member: tarfile.TarInfo) -> tuple[int, int]:
    ns = int(member.mtime * 1_000_000_000)
    return ns, ns


def extract_layer(blob: BinaryIO, target: Path, *, layer: str, is_root: bool, whiteouts: Whiteouts,
                  lowers: Sequence[Path] = (), opaque_xattr: str = "trusted.overlay.opaque") -> LayerStats:
    """Unpack the layer blob (tar, tar+gzip or tar+zstd) into the empty directory ``target``.

    Raises InvalidArgument for a hostile or corrupt layer; the caller discards ``target`` then.
    """
    kind, reader = open_uncompressed(blob)
    hashing = HashingReader(reader)
    root_fd = os.open(target, DIR_FLAGS)
    ex = Extractor(root_fd, layer, is_root, whiteouts, LowerView(lowers, opaque_xattr) if lowers else None)
    try:
        with tarfile.open(fileobj=hashing, mode="r|") as tf:  # type: ignore[call-overload]
            ex.apply(tf)
        hashing.drain()
    except (tarfile.TarError, *decompress_errors()) as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise _os_failure(err, layer, None) from err
        raise InvalidArgument(f"layer {layer} is not a valid {_kind_name(kind)}: {err}", layer=layer) from err
    finally:
        os.close(root_fd)
    ex.stats.compression = kind
    ex.stats.diff_id = hashing.digest
    ex.stats.tar_size = hashing.count
    return ex.stats


def _kind_name(kind: str) -> str:
    return {"tar": "tar archive", "gzip": "gzip-compressed tar", "zstd": "zstd-compressed tar"}[kind]


def _os_failure(err: OSError, layer: str, entry: str | None) -> Exception:
    where = f"layer {layer}" + (f" entry {entry[:200]!r}" if entry is not None else "")
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceExhausted(f"no space left on the device while unpacking {where}", layer=layer)
    if err.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ):
        return InvalidArgument(f"{where}: this filesystem refuses the name ({err.strerror})", layer=layer)
    return SystemFailure.from_os_error(f"unpacking {where}", err, layer=layer)
