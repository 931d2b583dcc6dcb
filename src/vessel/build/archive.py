"""ADD of a local archive: detect a (compressed) tar and unpack it safely.

Docker's ADD extracts a local source that is a tar, plain or compressed with
gzip, bzip2, xz or zstd, whatever its name; anything else is copied as a
file.  Unpacking reuses the image store's extractor (``image.extract``): no
entry can leave the target, hard links stay inside the archive, ownership and
set-id bits are kept (as root).  Whiteout names have no meaning in an ADDed
archive and are dropped.
"""

from __future__ import annotations

import bz2
import lzma
import os
import tarfile
from pathlib import Path
from typing import BinaryIO

from vessel.errors import InvalidArgument
from vessel.image.extract import extract_layer
from vessel.image.layers import decompress_errors, open_uncompressed

MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


def compression_of(head: bytes) -> str:
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    return "tar"


def _open(path: Path) -> tuple[str, BinaryIO]:
    with open(path, "rb") as f:
        kind = compression_of(f.read(8))
    if kind == "bzip2":
        return kind, bz2.open(path, "rb")  # type: ignore[return-value]
    if kind == "xz":
        return kind, lzma.open(path, "rb")  # type: ignore[return-value]
    return kind, open(path, "rb")


def is_archive(path: Path) -> bool:
    """Whether ``path`` holds a tar (maybe compressed): its first header block must be a valid tar header."""
    try:
        kind, raw = _open(path)
        with raw:
            if kind in ("gzip", "zstd"):
                _, stream = open_uncompressed(raw)
            else:
                stream = raw
            block = _read_block(stream)
    except (*decompress_errors(), lzma.LZMAError, ValueError):
        return False
    if len(block) < tarfile.BLOCKSIZE or block.count(0) == len(block):
        return False
    try:
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _read_block(stream: BinaryIO) -> bytes:
    block = b""
    while len(block) < tarfile.BLOCKSIZE:
        chunk = stream.read(tarfile.BLOCKSIZE - len(block))
        if not chunk:
            break
        block += chunk
    return block


class _DropWhiteouts:
    """Whiteouts of an ADDed archive are plain names Docker does not treat specially: dropped."""

    def whiteout(self, dirfd: int, name: str) -> None:
        return None

    def opaque(self, dirfd: int) -> None:
        return None

    def is_whiteout(self, st: os.stat_result) -> bool:
        return False


def extract_archive(path: Path, target: Path, name: str) -> None:
    """Unpack the archive ``path`` into the empty directory ``target``."""
    kind, raw = _open(path)
    try:
        with raw:
            extract_layer(raw, target, layer=f"ADD {name}", is_root=os.geteuid() == 0, whiteouts=_DropWhiteouts())
    except (EOFError, lzma.LZMAError, OSError) as err:
        raise InvalidArgument(f"ADD {name}: cannot read the {kind} archive: {err}", source=name) from err
