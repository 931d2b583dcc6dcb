"""Content-addressed blobs: ``blobs/sha256/<hex>``, written to a temp file, verified, then renamed."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from vessel.errors import InvalidArgument, NotFound
from vessel.image.layers import iter_chunks
from vessel.image.reference import id_hex, is_digest

JSON_BLOB_LIMIT = 16 << 20


class Blobs:
    """The blob directory of a store; ``tmp`` must be on the same filesystem (renames)."""

    def __init__(self, directory: Path, tmp: Path) -> None:
        self.dir = directory
        self.tmp = tmp

    def path(self, digest: str) -> Path:
        if not is_digest(digest):
            raise InvalidArgument(f"invalid digest {digest!r}", value=digest)
        return self.dir / id_hex(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError as err:
            raise NotFound(f"blob {digest} is missing from the image store", digest=digest,
                           hint="the store is damaged; remove the image and import it again") from err

    def read(self, digest: str, what: str) -> bytes:
        with self.open(digest) as f:
            data = f.read(JSON_BLOB_LIMIT + 1)
        if len(data) > JSON_BLOB_LIMIT:
            raise InvalidArgument(f"{what} {digest} is larger than {JSON_BLOB_LIMIT} bytes", digest=digest)
        return data

    def put(self, source: BinaryIO, expected: str | None = None, what: str = "blob") -> tuple[str, int]:
        """Copy ``source`` into the store; (digest, size).  A digest mismatch leaves nothing behind."""
        with self.staged(source, expected, what) as (tmp, digest, size):
            self.publish(tmp, digest)
        return digest, size

    @contextlib.contextmanager
    def staged(self, source: BinaryIO, expected: str | None = None,
               what: str = "blob") -> Iterator[tuple[Path, str, int]]:
        """Write ``source`` to a temp file (hashing it); yields (path, digest, size); removes it after."""
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix="blob-")
        h = hashlib.sha256()
        size = 0
        try:
            with open(fd, "wb") as out:
                for chunk in iter_chunks(source):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = "sha256:" + h.hexdigest()
            if expected is not None and digest != expected:
                raise InvalidArgument(f"{what}: content digest {digest} does not match {expected}",
                                      expected=expected, actual=digest)
            yield Path(tmp), digest, size
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def publish(self, tmp: Path, digest: str) -> None:
        """Move a verified temp file into blobs/ under its digest (atomic; a same-digest blob is equal)."""
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path(digest))

    def put_bytes(self, data: bytes, expected: str | None = None, what: str = "blob") -> tuple[str, int]:
        return self.put(io.BytesIO(data), expected, what)
