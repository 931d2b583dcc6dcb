"""Snapshot directories: each layer unpacked once, alone, in overlayfs form.

``<image>/snapshots/<chain id hex>/fs`` is the layer's content (a lowerdir);
``meta.json`` beside it records the diff ID, the parent chain and the size.
A snapshot is unpacked into ``<image>/tmp/`` and renamed into place only once
complete and verified, so a crash leaves at most a temp dir that gc removes.
Zero-layer images (scratch) get the empty snapshot ``snapshots/empty/fs``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from vessel.errors import InvalidArgument
from vessel.image.extract import Whiteouts, extract_layer
from vessel.image.layers import next_chain_id
from vessel.image.reference import id_hex

EMPTY = "empty"


@dataclass(frozen=True)
class SnapshotMeta:
    chain_id: str
    diff_id: str
    parent: str | None
    size: int
    entries: int


class Snapshots:
    """The snapshot directories of one store."""

    def __init__(self, root: Path, tmp: Path, *, is_root: bool, whiteouts: Whiteouts, opaque_xattr: str) -> None:
        self.root = root
        self.tmp = tmp
        self.is_root = is_root
        self.whiteouts = whiteouts
        self.opaque_xattr = opaque_xattr

    def dir(self, chain_id: str) -> Path:
        return self.root / id_hex(chain_id)

    def fs(self, chain_id: str) -> Path:
        return self.dir(chain_id) / "fs"

    def meta(self, chain_id: str) -> SnapshotMeta | None:
        try:
            data = json.loads((self.dir(chain_id) / "meta.json").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable: treated as absent and re-made by the next unpack
        return SnapshotMeta(**data)

    def empty(self) -> Path:
        path = self.root / EMPTY / "fs"
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
        return path

    def names(self) -> list[str]:
        try:
            return sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []

    def create(self, parent: str | None, layer: str, open_blob: Callable[[], BinaryIO], lowers: list[Path],
               expected_diff_id: str | None = None) -> SnapshotMeta:
        """Unpack layer ``layer`` (blob digest) on top of chain ``parent``; reuse it if already there.

        ``lowers`` are the parent's snapshot dirs (top first), read for implicit directories'
        attributes.  With ``expected_diff_id`` the unpacked content must have that digest.
        """
        if expected_diff_id is not None:
            existing = self.meta(next_chain_id(parent, expected_diff_id))
            if existing is not None:
                return existing
        work = Path(tempfile.mkdtemp(prefix="snap-", dir=self.tmp))
        try:
            (work / "fs").mkdir()
            with open_blob() as blob:
                stats = extract_layer(blob, work / "fs", layer=layer, is_root=self.is_root, whiteouts=self.whiteouts,
                                      lowers=lowers, opaque_xattr=self.opaque_xattr)
            if expected_diff_id is not None and stats.diff_id != expected_diff_id:
                raise InvalidArgument(
                    f"layer {layer}: its content digest {stats.diff_id} does not match {expected_diff_id} in the "
                    "image's rootfs.diff_ids", layer=layer, expected=expected_diff_id, actual=stats.diff_id)
            chain = next_chain_id(parent, stats.diff_id)
            meta = SnapshotMeta(chain, stats.diff_id, parent, stats.size, stats.entries)
            (work / "meta.json").write_text(json.dumps(asdict(meta)))
            self._publish(work, self.dir(chain))
        finally:
            if work.exists():
                remove_tree(work)
        return self.meta(chain) or meta

    def _publish(self, work: Path, final: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(work, final)
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise  # another process published it first otherwise

    def remove(self, name: str) -> None:
        path = self.root / name
        if path.exists():
            remove_tree(path)


def remove_tree(path: Path) -> None:
    """rmtree that also copes with read-only directories an unpacked layer made (non-root case)."""
    try:
        shutil.rmtree(path)
        return
    except PermissionError:
        pass
    os.chmod(path, 0o700)
    for dirpath, dirnames, _files in os.walk(path):
        for name in dirnames:
            child = os.path.join(dirpath, name)
            if not os.path.islink(child):
                os.chmod(child, 0o700)
    shutil.rmtree(path)
