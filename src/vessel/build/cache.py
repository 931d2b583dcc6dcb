"""The layer cache: which layer (or none) a step produced last time, by key.

A step's key chains everything its result depends on:

    key(stage base) = H("base", image ID | "scratch" | key of the stage it builds on)
    key(step)       = H(key(previous step), step.cache_key_material(), content digest)

where the content digest is, for COPY/ADD, the hash of the files read (see
``context.SourceTree.digest``) or the chain ID of the stage/image copied
from; empty for other steps.  A record keeps the layer (descriptor and diff
ID, or none for a config-only or empty step) and the history time, so a fully
cached rebuild makes a byte-identical image config, hence the same image ID.

Records live in ``<root>/build/steps/<key hex>.json``, written atomically; a
record whose layer the store has lost (``vessel image prune`` and gc) is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

VERSION = b"vessel-build-cache-v1"


def _h(*parts: bytes) -> str:
    h = hashlib.sha256(VERSION)
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return "sha256:" + h.hexdigest()


def base_key(kind: str, value: str) -> str:
    """Key of a stage's starting point: ``kind`` is image, scratch or stage."""
    return _h(b"base", kind.encode(), value.encode())


def step_key(parent: str, material: bytes, content: str = "") -> str:
    return _h(b"step", parent.encode(), material, content.encode())


@dataclass(frozen=True, slots=True)
class LayerRef:
    media_type: str
    digest: str
    size: int
    diff_id: str


@dataclass(frozen=True, slots=True)
class CacheRecord:
    created: str
    layer: LayerRef | None = None

    def to_json(self) -> bytes:
        layer = None
        if self.layer is not None:
            layer = {"mediaType": self.layer.media_type, "digest": self.layer.digest, "size": self.layer.size,
                     "diffID": self.layer.diff_id}
        return json.dumps({"created": self.created, "layer": layer}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "CacheRecord | None":
        try:
            raw = json.loads(data)
            layer = raw.get("layer")
            ref = None if layer is None else LayerRef(str(layer["mediaType"]), str(layer["digest"]),
                                                      int(layer["size"]), str(layer["diffID"]))
            return cls(str(raw["created"]), ref)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # a damaged record is a miss, and is overwritten


class LayerCache:
    """Records by key under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def _path(self, key: str) -> Path:
        return self.dir / (key.removeprefix("sha256:") + ".json")

    def get(self, key: str) -> CacheRecord | None:
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        return CacheRecord.from_json(data)

    def put(self, key: str, record: CacheRecord) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".rec-")
        try:
            with open(fd, "wb") as out:
                out.write(record.to_json())
            os.replace(tmp, self._path(key))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def clear(self) -> int:
        """Forget every record (``vessel builder prune``); returns how many."""
        count = 0
        for path in self.dir.glob("*.json"):
            path.unlink()
            count += 1
        return count
