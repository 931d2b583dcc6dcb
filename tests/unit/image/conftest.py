"""Tar builders (hostile ones too) and a root-free whiteout writer for the image unit tests."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest


def _info(name: str, kind: bytes, mode: int, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = kw.get("mtime", 1_000_000)
    info.uid = kw.get("uid", 0)
    info.gid = kw.get("gid", 0)
    if "linkname" in kw:
        info.linkname = kw["linkname"]
    if "xattrs" in kw:
        info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in kw["xattrs"].items()}
    return info


def F(name: str, data: bytes = b"", mode: int = 0o644, **kw) -> tuple[tarfile.TarInfo, bytes]:
    info = _info(name, tarfile.REGTYPE, mode, **kw)
    info.size = len(data)
    return info, data


def D(name: str, mode: int = 0o755, **kw) -> tuple[tarfile.TarInfo, None]:
    return _info(name, tarfile.DIRTYPE, mode, **kw), None


def L(name: str, target: str, **kw) -> tuple[tarfile.TarInfo, None]:
    return _info(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw), None


def H(name: str, target: str, **kw) -> tuple[tarfile.TarInfo, None]:
    return _info(name, tarfile.LNKTYPE, 0o644, linkname=target, **kw), None


def C(name: str, major: int = 1, minor: int = 3, **kw) -> tuple[tarfile.TarInfo, None]:
    info = _info(name, tarfile.CHRTYPE, 0o666, **kw)
    info.devmajor, info.devminor = major, minor
    return info, None


def P(name: str, **kw) -> tuple[tarfile.TarInfo, None]:
    return _info(name, tarfile.FIFOTYPE, 0o644, **kw), None


def make_tar(*entries, compression: str = "tar") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    if compression == "gzip":
        return gzip.compress(raw, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(raw)
    return raw


@pytest.fixture
def tars() -> SimpleNamespace:
    return SimpleNamespace(F=F, D=D, L=L, H=H, C=C, P=P, make=make_tar)


@dataclass
class MarkerWhiteouts:
    """Whiteouts without root: an empty mode-000 file stands for the char device; opaque dirs are remembered."""

    deleted: set[tuple[int, int]] = field(default_factory=set)
    opaque_dirs: set[tuple[int, int]] = field(default_factory=set)

    def whiteout(self, dirfd: int, name: str) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o000, dir_fd=dirfd)
        st = os.fstat(fd)
        os.close(fd)
        self.deleted.add((st.st_dev, st.st_ino))

    def opaque(self, dirfd: int) -> None:
        st = os.fstat(dirfd)
        self.opaque_dirs.add((st.st_dev, st.st_ino))

    def is_whiteout(self, st: os.stat_result) -> bool:
        return stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) in self.deleted

    # what the tests ask
    def is_deleted(self, path: Path) -> bool:
        st = os.lstat(path)
        return (st.st_dev, st.st_ino) in self.deleted

    def is_opaque(self, path: Path) -> bool:
        st = os.lstat(path)
        return (st.st_dev, st.st_ino) in self.opaque_dirs


@pytest.fixture
def whiteouts() -> MarkerWhiteouts:
    return MarkerWhiteouts()


@pytest.fixture
def store(tmp_path, whiteouts):
    from vessel.image.store import Store

    return Store(tmp_path / "root", is_root=False, whiteouts=whiteouts, overlay_xattr_prefix="user.overlay.")
