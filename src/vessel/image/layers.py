"""Layer streams: compression detection, digests, chain IDs (pure or stream-only).

A layer blob is a tar, optionally compressed with gzip or zstd.  The kind is
told from the first bytes, not trusted from a media type.  Its *diff ID* is
the sha256 of the uncompressed tar; the *chain ID* of layer n names the
filesystem made of layers 0..n (OCI image spec, "ChainID").
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from typing import BinaryIO, Iterator

from vessel.errors import InvalidArgument

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_OTHER_MAGICS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
CHUNK = 1 << 20


def detect_compression(head: bytes) -> str:
    """``tar``, ``gzip`` or ``zstd`` from a blob's first bytes; others are refused."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    for magic, name in _OTHER_MAGICS.items():
        if head.startswith(magic):
            raise InvalidArgument(f"layer compressed with {name}, which is not supported",
                                  hint="use an uncompressed tar, gzip or zstd")
    return "tar"


class HashingReader(io.RawIOBase):
    """Reads through ``source`` while hashing what passes (sha256) and counting bytes."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._source = source
        self._hash = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._hash.update(data)
        self.count += n
        return n

    def drain(self) -> None:
        """Read (and hash) whatever is left, e.g. the zero blocks after a tar's last member."""
        for chunk in iter_chunks(self._source):
            self._hash.update(chunk)
            self.count += len(chunk)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class _Peekable(io.RawIOBase):
    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def open_uncompressed(blob: BinaryIO) -> tuple[str, BinaryIO]:
    """(compression, reader of the uncompressed tar) for a layer blob stream."""
    head = blob.read(8)
    kind = detect_compression(head)
    raw = io.BufferedReader(_Peekable(head, blob), CHUNK)
    if kind == "gzip":
        return kind, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "zstd":
        import zstandard

        return kind, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[return-value]
    return kind, raw  # type: ignore[return-value]


DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)


def decompress_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a corrupt compressed stream raises while being read."""
    import zstandard

    return DECOMPRESS_ERRORS + (zstandard.ZstdError,)


def diff_id_of(blob: BinaryIO) -> tuple[str, str, int]:
    """(compression, diff ID, uncompressed size) of a layer blob, reading it to the end."""
    kind, reader = open_uncompressed(blob)
    hashing = HashingReader(reader)
    try:
        hashing.drain()
    except decompress_errors() as err:
        raise InvalidArgument(f"corrupt {kind} layer stream: {err}") from err
    return kind, hashing.digest, hashing.count


def next_chain_id(parent: str | None, diff_id: str) -> str:
    """ChainID of a layer on top of chain ``parent``: sha256(parent + " " + diff_id); the first is its diff ID."""
    if parent is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID of each prefix of ``diff_ids``."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(next_chain_id(out[-1] if out else None, diff_id))
    return out


def sha256_file(stream: BinaryIO) -> tuple[str, int]:
    """(digest, size) of everything left in ``stream``."""
    h = hashlib.sha256()
    size = 0
    for chunk in iter_chunks(stream):
        h.update(chunk)
        size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def iter_chunks(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk
