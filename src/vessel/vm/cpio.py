"""Write cpio archives in the "newc" format the Linux initramfs loader reads.

The format is plain: for each entry a 110-byte ASCII header (magic ``070701``
then thirteen 8-digit hex fields), the NUL-terminated name padded to a multiple
of four bytes, then the data padded likewise; a ``TRAILER!!!`` entry ends the
archive.  Writing it here keeps the initramfs build free of root (device nodes
are just headers) and of the ``cpio`` tool.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import BinaryIO, Iterable

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


@dataclass(frozen=True, slots=True)
class Entry:
    """One archive member; ``path`` is relative ("bin/sh"), ``mode`` includes the file type bits."""

    path: str
    mode: int
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    rdev_major: int = 0
    rdev_minor: int = 0
    mtime: int = 0


def directory(path: str, perm: int = 0o755) -> Entry:
    return Entry(path, stat.S_IFDIR | perm)


def file(path: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(path, stat.S_IFREG | perm, data)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def char_device(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(path, stat.S_IFCHR | perm, rdev_major=major, rdev_minor=minor)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _header(entry: Entry, ino: int, name_size: int) -> bytes:
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (ino, entry.mode, entry.uid, entry.gid, nlink, entry.mtime, len(entry.data),
              0, 0, entry.rdev_major, entry.rdev_minor, name_size, 0)
    return MAGIC + b"".join(b"%08X" % value for value in fields)


def encode_entry(entry: Entry, ino: int) -> bytes:
    """The bytes of one member: header, padded name, padded data."""
    name = entry.path.lstrip("/").encode() + b"\0"
    head = _header(entry, ino, len(name)) + name
    return head + _pad(len(head)) + entry.data + _pad(len(entry.data))


def write(out: BinaryIO, entries: Iterable[Entry]) -> int:
    """Write the archive (with its trailer) to ``out``; returns the byte count."""
    written = 0
    ino = 0
    for ino, entry in enumerate(entries, start=1):
        written += out.write(encode_entry(entry, ino))
    written += out.write(encode_entry(Entry(TRAILER, 0), ino + 1))
    return written


def archive(entries: Iterable[Entry]) -> bytes:
    """The whole archive as bytes."""
    import io

    buf = io.BytesIO()
    write(buf, entries)
    return buf.getvalue()


def read_names(data: bytes) -> list[tuple[str, int, bytes]]:
    """Parse an archive back into (name, mode, data) triples; used by tests and diagnostics."""
    out = []
    pos = 0
    while pos + 110 <= len(data):
        if data[pos:pos + 6] != MAGIC:
            raise ValueError(f"bad cpio magic at offset {pos}: {data[pos:pos + 6]!r}")
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, name_size = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = data[name_start:name_start + name_size - 1].decode()
        data_start = name_start + name_size + (-(110 + name_size) % 4)
        body = data[data_start:data_start + size]
        pos = data_start + size + (-size % 4)
        if name == TRAILER:
            break
        out.append((name, mode, body))
    return out
