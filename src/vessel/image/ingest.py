"""Making images: import of a rootfs tar, new layers on a parent (builder, commit).

Every function here writes blobs and snapshots first and names the image last
(``Store.commit_image``), all under ``store.using_blobs()`` so gc waits.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

from vessel.errors import InvalidArgument, NotFound, SystemFailure
from vessel.image.changes import apply_changes, derive_config, format_time
from vessel.image.difftar import tar_directory
from vessel.image.reference import Reference, parse_reference
from vessel.image.store import Image, Store
from vessel.oci.image import ContainerConfig, Descriptor

LayerSource = Path | BinaryIO


@contextlib.contextmanager
def _open_source(source: LayerSource | str) -> Iterator[BinaryIO]:
    if isinstance(source, (str, Path)):
        if str(source) == "-":
            yield sys.stdin.buffer
            return
        try:
            f = open(source, "rb")
        except FileNotFoundError as err:
            raise NotFound(f"no such file: {source}", path=str(source)) from err
        except IsADirectoryError as err:
            raise InvalidArgument(f"{source} is a directory, not a tar file", path=str(source)) from err
        with f:
            yield f
    else:
        yield source


def _tags(reference: str | Reference | None) -> list[Reference]:
    if reference is None:
        return []
    ref = reference if isinstance(reference, Reference) else parse_reference(reference)
    if ref.digest:
        raise InvalidArgument(f"cannot name an image with a digest reference: {reference}", value=str(reference))
    return [ref]


def create_image(store: Store, parent: Image | None, layers: Sequence[LayerSource], *,
                 config: ContainerConfig | None = None, changes: Sequence[str] = (), created_by: str = "",
                 comment: str | None = None, author: str | None = None, created: str | None = None,
                 reference: str | Reference | None = None) -> Image:
    """A new image: ``parent`` (None: from scratch) plus ``layers`` (tar, tar+gzip, tar+zstd).

    ``config`` replaces the parent's container config; ``changes`` (Dockerfile-style) then apply.
    With no layer the image gets an empty-layer history entry (a metadata-only step).
    """
    tags = _tags(reference)  # a bad name fails before any work
    created = created or format_time(time.time())
    cfg = parent.config if parent is not None else None
    descs: list[Descriptor] = list(parent.manifest.layers) if parent is not None else []
    with store.using_blobs():
        lowers = [p for p in store.rootfs_layers(parent)] if parent is not None and parent.diff_ids else []
        chain = parent.chain_ids[-1] if parent is not None and parent.diff_ids else None
        diff_ids: list[str] = []
        for source in layers:
            with _open_source(source) as stream:
                desc, meta = store.ingest_layer(stream, chain, lowers)
            descs.append(desc)
            diff_ids.append(meta.diff_id)
            chain = meta.chain_id
            lowers.insert(0, store.snapshots.fs(chain))
        container = config if config is not None else (cfg.config if cfg is not None else None)
        if changes:
            container = apply_changes(container, changes)
        for i, diff_id in enumerate(diff_ids or [None]):
            last = i == max(len(diff_ids), 1) - 1
            cfg = derive_config(cfg, created=created, created_by=created_by, diff_id=diff_id,
                                container_config=container if last else None, comment=comment, author=author)
        return store.commit_image(cfg, descs, tags)


def import_rootfs(store: Store, source: LayerSource | str, *, reference: str | Reference | None = None,
                  changes: Sequence[str] = (), message: str | None = None) -> Image:
    """docker import: an image of one layer made from a root filesystem tar (``-``: stdin)."""
    name = "-" if str(source) == "-" else (str(source) if isinstance(source, (str, Path)) else "stream")
    _tags(reference)
    with _open_source(source) as stream:
        return create_image(store, None, [stream], config=ContainerConfig(), changes=changes, created_by="",
                            comment=message or f"Imported from {name}", reference=reference)


def commit_upperdir(store: Store, upperdir: Path, parent: Image | None, *, config: ContainerConfig | None = None,
                    changes: Sequence[str] = (), created_by: str = "", comment: str | None = None,
                    author: str | None = None, reference: str | Reference | None = None,
                    opaque_xattr: str = "trusted.overlay.opaque") -> Image:
    """docker commit: a container's overlay upper dir becomes a new layer on ``parent``.

    overlayfs deletions (char 0/0, opaque xattr) become OCI whiteouts in the layer.
    """
    if not upperdir.is_dir():
        raise NotFound(f"no such directory: {upperdir}", path=str(upperdir))
    _tags(reference)  # a bad name fails before the upper dir is read
    with store.using_blobs():  # gc leaves our temp file alone
        return _commit_upperdir(store, upperdir, parent, config=config, changes=changes, created_by=created_by,
                                comment=comment, author=author, reference=reference, opaque_xattr=opaque_xattr)


def _commit_upperdir(store: Store, upperdir: Path, parent: Image | None, *, opaque_xattr: str,
                     **kwargs: object) -> Image:
    fd, tmp = tempfile.mkstemp(dir=store.tmp, prefix="commit-", suffix=".tar")
    try:
        with open(fd, "wb") as out:
            try:
                tar_directory(upperdir, out, overlay_whiteouts=True, opaque_xattr=opaque_xattr)
            except OSError as err:
                raise SystemFailure.from_os_error(f"reading {upperdir} for a new layer", err) from err
        return create_image(store, parent, [Path(tmp)], **kwargs)  # type: ignore[arg-type]
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def import_directory(store: Store, rootfs: Path, *, reference: str | Reference | None, config: ContainerConfig,
                     created_by: str, comment: str | None = None, created: str | None = None) -> Image:
    """An image of one layer holding the tree under ``rootfs`` (used by bootstrap)."""
    with store.using_blobs():
        fd, tmp = tempfile.mkstemp(dir=store.tmp, prefix="rootfs-", suffix=".tar")
        try:
            with open(fd, "wb") as out:
                tar_directory(rootfs, out)
            return create_image(store, None, [Path(tmp)], config=config, created_by=created_by, comment=comment,
                                created=created, reference=reference)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
