"""Garbage collection: remove blobs and snapshots no image references, and leftover temp files.

Runs under the exclusive ``gc.lock`` (``Store.gc``), so no import, load, commit
or unpack is in progress: everything in ``tmp/`` is a leftover of a crash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vessel.errors import InvalidArgument, NotFound
from vessel.image.layers import chain_ids
from vessel.image.snapshots import EMPTY, remove_tree
from vessel.oci.image import INDEX_TYPES, MANIFEST_TYPES, parse_index

if TYPE_CHECKING:
    from vessel.image.store import Store


@dataclass(frozen=True)
class GcResult:
    blobs: int = 0
    snapshots: int = 0
    temp: int = 0
    bytes_freed: int = 0


def sweep(store: "Store") -> GcResult:
    """Delete what nothing references; if an index entry cannot be read, keep every blob and snapshot."""
    blobs, chains, complete = reachable(store)
    counts = {"blobs": 0, "snapshots": 0, "temp": 0, "bytes": 0}
    if complete:
        for name in os.listdir(store.blobs.dir):
            if "sha256:" + name not in blobs:
                path = store.blobs.dir / name
                counts["bytes"] += path.stat().st_size
                path.unlink()
                counts["blobs"] += 1
        for name in store.snapshots.names():
            if name != EMPTY and "sha256:" + name not in chains:
                meta = store.snapshots.meta("sha256:" + name)
                counts["bytes"] += meta.size if meta else 0
                store.snapshots.remove(name)
                counts["snapshots"] += 1
    for name in os.listdir(store.tmp):
        path = store.tmp / name
        if path.is_dir() and not path.is_symlink():
            remove_tree(path)
        else:
            path.unlink()
        counts["temp"] += 1
    return GcResult(counts["blobs"], counts["snapshots"], counts["temp"], counts["bytes"])


def reachable(store: "Store") -> tuple[set[str], set[str], bool]:
    """(blob digests, snapshot chain IDs) the index reaches, and whether every entry could be read."""
    blobs: set[str] = set()
    chains: set[str] = set()
    complete = True
    todo = list(store.read_index().manifests)
    while todo:
        desc = todo.pop()
        if desc.digest in blobs:
            continue
        blobs.add(desc.digest)
        try:
            if desc.media_type in INDEX_TYPES:
                todo.extend(parse_index(store.blobs.read(desc.digest, "index")).manifests)
            elif desc.media_type in MANIFEST_TYPES:
                manifest, config = store.manifest_and_config(desc.digest)
                blobs.add(manifest.config.digest)
                blobs.update(layer.digest for layer in manifest.layers)
                chains.update(chain_ids(list(config.rootfs.diff_ids)))
        except (NotFound, InvalidArgument):
            complete = False  # a damaged entry: its blobs cannot be told apart, so none is collected
    return blobs, chains, complete
