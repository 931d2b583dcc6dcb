"""The image store: an OCI image layout under ``<root>/image/`` plus unpacked snapshots.

```
<root>/image/
  oci-layout                 {"imageLayoutVersion": "1.0.0"}
  index.json                 one entry per tag (ref.name = full reference), or one unnamed entry
  blobs/sha256/<hex>         manifests, configs, layers (written to tmp/, verified, renamed)
  snapshots/<chain hex>/fs   each layer unpacked alone, overlayfs whiteouts (lowerdirs)
  snapshots/<chain hex>/meta.json
  tmp/                       work in progress (removed by gc)
  lock                       flock: index.json read-modify-write
  gc.lock                    flock: shared by writers and readers of blobs, exclusive for gc
```
An image becomes visible only when index.json names it, which is the last
step of every import/load/commit: a crash before leaves unreferenced blobs and
temp dirs, which ``gc()`` removes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator

from vessel.errors import Conflict, InvalidArgument, NotFound, SystemFailure
from vessel.image import index as idx
from vessel.image.blobs import Blobs
from vessel.image.collect import GcResult, sweep
from vessel.image.extract import OverlayWhiteouts, Whiteouts
from vessel.image.layers import chain_ids, detect_compression
from vessel.image.reference import Reference, id_hex, looks_like_id_prefix, parse_reference, short_id, try_parse
from vessel.image.snapshots import SnapshotMeta, Snapshots
from vessel.oci.image import (INDEX_TYPES, LAYER_MEDIA_TYPES, LAYOUT_VERSION, MANIFEST_TYPES, MEDIA_TYPE_CONFIG,
                              Descriptor, ImageConfig, Index, Manifest, canonical_json, parse_config, parse_index,
                              parse_json, parse_manifest)

if TYPE_CHECKING:
    from vessel.image.bootstrap import BootstrapConfig

InUse = Callable[[str], list[str]]


@dataclass(frozen=True)
class Image:
    """One image of the store: its manifest, its config, and the names pointing at it."""

    id: str
    manifest_digest: str
    manifest_size: int
    manifest: Manifest
    config: ImageConfig
    tags: tuple[Reference, ...] = ()

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.rootfs.diff_ids)

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.manifest.media_type or MANIFEST_TYPES[0], digest=self.manifest_digest,
                          size=self.manifest_size)


@dataclass(frozen=True)
class RemoveResult:
    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class Store:
    """Content-addressed image store; the engine injects ``in_use(image_id) -> container ids``."""

    def __init__(self, root: Path, *, is_root: bool | None = None, in_use: InUse | None = None,
                 whiteouts: Whiteouts | None = None, overlay_xattr_prefix: str = "trusted.overlay.",
                 bootstrap: "BootstrapConfig | None" = None) -> None:
        self.dir = Path(root) / "image"
        self.tmp = self.dir / "tmp"
        self.blobs = Blobs(self.dir / "blobs" / "sha256", self.tmp)
        self.is_root = os.geteuid() == 0 if is_root is None else is_root
        self.in_use = in_use
        self.bootstrap_config = bootstrap
        self.snapshots = Snapshots(self.dir / "snapshots", self.tmp, is_root=self.is_root,
                                   whiteouts=whiteouts or OverlayWhiteouts(overlay_xattr_prefix),
                                   opaque_xattr=overlay_xattr_prefix + "opaque")
        self._cache: dict[str, tuple[Manifest, ImageConfig]] = {}
        self._init_layout()

    # -- layout, locks ------------------------------------------------------------------------

    def _init_layout(self) -> None:
        try:
            for path in (self.blobs.dir, self.tmp, self.snapshots.root):
                path.mkdir(parents=True, exist_ok=True)
            if not (self.dir / "oci-layout").exists():
                self._write_atomic(self.dir / "oci-layout", canonical_json({"imageLayoutVersion": LAYOUT_VERSION}))
            if not (self.dir / "index.json").exists():
                with self._locked("lock"):
                    if not (self.dir / "index.json").exists():
                        self._write_atomic(self.dir / "index.json", Index().to_json())
        except OSError as err:
            raise SystemFailure.from_os_error(f"cannot create the image store in {self.dir}", err,
                                              hint="is --root writable?") from err

    @contextlib.contextmanager
    def _locked(self, name: str, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
        fd = os.open(self.dir / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
            try:
                fcntl.flock(fd, mode)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def using_blobs(self) -> contextlib.AbstractContextManager[bool]:
        """Held (shared) while blobs or snapshots are written or read, so gc waits."""
        return self._locked("gc.lock", shared=True)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        try:
            with open(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    # -- index and images ---------------------------------------------------------------------

    def read_index(self) -> Index:
        try:
            data = (self.dir / "index.json").read_bytes()
        except FileNotFoundError:
            return Index()
        return parse_index(data, f"{self.dir / 'index.json'}")

    def _mutate_index(self, change: Callable[[Index], Index]) -> Index:
        with self._locked("lock"):
            new = change(self.read_index())
            self._write_atomic(self.dir / "index.json", new.to_json())
            return new

    def manifest_and_config(self, digest: str) -> tuple[Manifest, ImageConfig]:
        cached = self._cache.get(digest)
        if cached is None:
            manifest = parse_manifest(self.blobs.read(digest, "manifest"), f"manifest {digest}")
            config = parse_config(self.blobs.read(manifest.config.digest, "image config"),
                                  f"image config {manifest.config.digest}")
            check_layers(manifest, config, f"image {manifest.config.digest}")
            cached = self._cache[digest] = (manifest, config)
        return cached

    def _image(self, index: Index, desc: Descriptor) -> Image:
        manifest, config = self.manifest_and_config(desc.digest)
        tags = tuple(r for r in (try_parse(t) for t in idx.tags_of(index, desc.digest)) if r is not None)
        return Image(manifest.config.digest, desc.digest, desc.size, manifest, config, tags)

    def images(self) -> list[Image]:
        """Every image (manifest) the index names, dangling ones included."""
        index = self.read_index()
        out = []
        for digest in idx.manifest_digests(index):
            desc = next(d for d in index.manifests if d.digest == digest)
            if desc.media_type in INDEX_TYPES:
                continue  # a multi-platform index copied in by another tool: not an image of ours
            try:
                out.append(self._image(index, desc))
            except NotFound:
                if digest in idx.manifest_digests(self.read_index()):
                    raise  # really missing: the store is damaged
                # removed (and collected) by another command since we read the index
        return out

    def find(self, text: str) -> Image | None:
        """The image ``text`` names (reference, name@digest, ID or unique ID prefix), or None."""
        images = self.images()
        ref = try_parse(text)
        if ref is not None and ref.digest:
            hits = [i for i in images if ref.digest in (i.manifest_digest, i.id)]
            same_repo = [i for i in hits if any(t.name == ref.name for t in i.tags)]
            if hits:
                return (same_repo or hits)[0]
        elif ref is not None:
            for image in images:
                if any(str(t) == str(ref) for t in image.tags):
                    return image
        if looks_like_id_prefix(text):
            prefix = id_hex(text)
            hits = {i.id: i for i in images if id_hex(i.id).startswith(prefix)}
            if len(hits) > 1:
                raise InvalidArgument(f"image ID prefix {text!r} is ambiguous: it matches {len(hits)} images",
                                      hint="give more digits", value=text)
            if hits:
                return next(iter(hits.values()))
        if ref is None and not looks_like_id_prefix(text):
            parse_reference(text)  # raises the precise format error
        return None

    def get(self, text: str, *, bootstrap: bool = False) -> Image:
        """The image ``text`` names; NotFound("No such image: ...") otherwise.

        With ``bootstrap``, a missing ``busybox`` (a base vessel can build) is built first.
        """
        image = self.find(text)
        if image is not None:
            return image
        if bootstrap:
            from vessel.image.bootstrap import auto_bootstrap_name

            base = auto_bootstrap_name(text)
            if base is not None:
                return self.ensure_base(base)
        raise not_found(text)

    # -- naming and removal -------------------------------------------------------------------

    def tag(self, source: str, target: str) -> Reference:
        image = self.get(source)
        ref = parse_reference(target)
        if ref.digest:
            raise InvalidArgument(f"refusing to create a tag with a digest reference: {target}", value=target)

        def change(index: Index) -> Index:
            if image.manifest_digest not in idx.manifest_digests(index):
                raise not_found(source)
            return idx.set_tag(index, str(ref), image.descriptor)

        self._mutate_index(change)
        return ref

    def untag(self, text: str) -> Reference:
        """Remove the name ``text`` only; its image stays (dangling if that was its last name)."""
        ref = parse_reference(text)
        image = self.get(text)
        if not any(str(t) == str(ref) for t in image.tags):
            raise InvalidArgument(f"{text} is not a tag of an image", hint="untag takes a name, not an ID", value=text)
        self._mutate_index(lambda index: idx.untag(index, str(ref)))
        return ref

    def remove(self, text: str, *, force: bool = False) -> RemoveResult:
        """docker rmi: untag ``text``; delete the image when no name and no container is left on it."""
        image = self.get(text)
        ref = try_parse(text)
        by_tag = ref is not None and not ref.digest and any(str(t) == str(ref) for t in image.tags)
        users = list(self.in_use(image.id)) if self.in_use else []
        untagged: list[str] = []
        deleted: list[str] = []

        def change(index: Index) -> Index:
            untagged.clear()
            deleted.clear()
            tags = idx.tags_of(index, image.manifest_digest)
            if by_tag and len(tags) > 1:
                untagged.append(str(ref))
                return idx.untag(index, str(ref))
            check_removable(text, image, tags, users, force, by_tag)
            for tag in tags if not by_tag else [str(ref)]:
                index = idx.untag(index, tag)
                untagged.append(tag)
            if users:
                return index  # forced: the image stays, dangling, until its containers are gone
            deleted.append(image.id)
            return idx.remove_image(index, image.manifest_digest)

        self._mutate_index(change)
        if deleted:
            self.gc(blocking=False)
        return RemoveResult([familiar(t) for t in untagged], deleted)

    def prune(self, *, all: bool = False) -> tuple[list[str], int]:
        """Remove dangling images (every unused image with ``all``); (deleted IDs, bytes freed)."""
        removed: list[str] = []
        for image in self.images():
            if image.tags and not all:
                continue
            if self.in_use and list(self.in_use(image.id)):
                continue
            digest = image.manifest_digest
            self._mutate_index(lambda index, d=digest: idx.remove_image(index, d))
            removed.append(image.id)
        freed = self.gc(blocking=False).bytes_freed if removed else 0
        return removed, freed

    def gc(self, *, blocking: bool = True) -> GcResult:
        """Remove blobs and snapshots no image references, and leftover temp files."""
        with self._locked("gc.lock", blocking=blocking) as got:
            if not got:
                return GcResult()
            return sweep(self)

    # -- snapshots ----------------------------------------------------------------------------

    def rootfs_layers(self, image: Image) -> list[Path]:
        """The image's snapshot dirs, top layer first (overlay lowerdir order); unpacks what is missing."""
        lowers: list[Path] = []
        chains = image.chain_ids
        with self.using_blobs():
            for i, (layer, diff_id) in enumerate(zip(image.manifest.layers, image.diff_ids)):
                if self.snapshots.meta(chains[i]) is None:
                    self.snapshots.create(chains[i - 1] if i else None, layer.digest,
                                          lambda d=layer.digest: self.blobs.open(d), lowers, diff_id)
                lowers.insert(0, self.snapshots.fs(chains[i]))
        return lowers or [self.snapshots.empty()]

    def ingest_layer(self, source: BinaryIO, parent_chain: str | None, lowers: list[Path],
                     expected_diff_id: str | None = None, expected_digest: str | None = None,
                     what: str = "layer") -> tuple[Descriptor, SnapshotMeta]:
        """Store a layer blob once it unpacked safely; caller holds ``using_blobs()``.

        A hostile or corrupt layer raises InvalidArgument and leaves neither blob nor snapshot.
        """
        with self.blobs.staged(source, expected_digest, what) as (tmp, digest, size):
            with open(tmp, "rb") as f:
                kind = detect_compression(f.read(8))
            meta = self.snapshots.create(parent_chain, digest, lambda: open(tmp, "rb"), lowers, expected_diff_id)
            self.blobs.publish(tmp, digest)
        return Descriptor(media_type=LAYER_MEDIA_TYPES[kind], digest=digest, size=size), meta

    def image_size(self, image: Image) -> int:
        """Bytes of file content in the image's layers (docker's SIZE)."""
        return sum(self.layer_sizes(image))

    # -- making images --------------------------------------------------------------------------

    def commit_image(self, config: ImageConfig | bytes, layers: list[Descriptor], tags: list[Reference] = (),
                     annotations: dict[str, str] | None = None) -> Image:
        """Store the config, a manifest for it, and name the image: the step that makes it visible.

        Layers must be stored and unpacked already (``ingest_layer``).  An image with the same
        config (same ID) already present keeps its manifest and gains the tags.
        """
        config_bytes = config if isinstance(config, bytes) else config.to_json()
        parsed = parse_config(config_bytes)
        config_digest, config_size = self.blobs.put_bytes(config_bytes, what="image config")
        existing = next((i for i in self.images() if i.id == config_digest), None)
        if existing is not None:
            desc = existing.descriptor
        else:
            manifest = Manifest(config=Descriptor(MEDIA_TYPE_CONFIG, config_digest, config_size),
                                layers=list(layers), annotations=dict(annotations or {}))
            check_layers(manifest, parsed, f"image {config_digest}")
            data = manifest.to_json()
            digest, size = self.blobs.put_bytes(data, what="manifest")
            desc = Descriptor(manifest.media_type or MANIFEST_TYPES[0], digest, size)
        return self._add_and_tag(desc, tags)

    def _add_and_tag(self, desc: Descriptor, tags) -> Image:
        """Put a stored manifest into the index under ``tags`` (one index transaction)."""
        def change(index: Index) -> Index:
            index = idx.add_image(index, desc)
            for ref in tags:
                index = idx.set_tag(index, str(ref), desc)
            return index

        return self._image(self._mutate_index(change), desc)

    def name_manifest(self, manifest_bytes: bytes, tags: list[Reference] = ()) -> Image:
        """Store a manifest byte for byte (a registry's: its digest stays the one the registry serves)
        and name its image.  Its config blob and layers must be stored and unpacked already."""
        manifest = parse_manifest(manifest_bytes, "manifest")
        config = parse_config(self.blobs.read(manifest.config.digest, "image config"),
                              f"image config {manifest.config.digest}")
        check_layers(manifest, config, f"image {manifest.config.digest}")
        for layer in manifest.layers:
            if not self.blobs.has(layer.digest):
                raise NotFound(f"layer {layer.digest} of image {manifest.config.digest} is not stored",
                               digest=layer.digest)
        digest, size = self.blobs.put_bytes(manifest_bytes, what="manifest")
        desc = Descriptor(manifest.media_type or MANIFEST_TYPES[0], digest, size)
        return self._add_and_tag(desc, tags)

    # -- the rest of the API, one line each over the modules that implement it ------------------

    def ensure_base(self, name: str) -> Image:
        """The base image ``name`` (busybox, debian:bookworm, scratch), built if missing."""
        from vessel.image.bootstrap import ensure_base

        return ensure_base(self, name)

    def load(self, source: "Path | BinaryIO | str") -> list:
        """docker load of a docker-archive or OCI-archive tar (``-``: stdin); list of ``archive.Loaded``."""
        from vessel.image.archive import load

        return load(self, source)

    def save(self, names: list[str], out: BinaryIO, fmt: str = "docker-archive") -> list[Image]:
        from vessel.image.archive import save

        return save(self, names, out, fmt)

    def import_rootfs(self, source: "Path | BinaryIO | str", reference: str | None = None,
                      changes: tuple[str, ...] | list[str] = (), message: str | None = None) -> Image:
        from vessel.image.ingest import import_rootfs

        return import_rootfs(self, source, reference=reference, changes=changes, message=message)

    def create_image(self, parent: Image | None, layers: list, **kwargs: object) -> Image:
        """``ingest.create_image``: parent + layer tars (+ config, changes, history) -> new image."""
        from vessel.image.ingest import create_image

        return create_image(self, parent, layers, **kwargs)  # type: ignore[arg-type]

    def commit(self, upperdir: Path, parent: Image | None, **kwargs: object) -> Image:
        """``ingest.commit_upperdir``: a container's overlay upper dir as a new layer on ``parent``."""
        from vessel.image.ingest import commit_upperdir

        kwargs.setdefault("opaque_xattr", self.snapshots.opaque_xattr)
        return commit_upperdir(self, upperdir, parent, **kwargs)  # type: ignore[arg-type]

    def layer_sizes(self, image: Image) -> list[int]:
        sizes = []
        for chain, layer in zip(image.chain_ids, image.manifest.layers):
            meta = self.snapshots.meta(chain)
            sizes.append(meta.size if meta else layer.size)
        return sizes

    def inspect(self, text: str) -> dict:
        """docker's ImageInspect of the image ``text`` names."""
        from vessel.image.inspect import inspect_image

        image = self.get(text)
        dirs = [str(self.snapshots.fs(c)) for c in reversed(image.chain_ids) if self.snapshots.meta(c)]
        return inspect_image(image, self.image_size(image), dirs)

    def config_dict(self, text: str) -> dict:
        """The image config JSON exactly as stored (every field, e.g. for the builder's base lookup)."""
        image = self.get(text)
        return parse_json(self.blobs.read(image.id, "image config"), f"image config {image.id}")

    def history(self, text: str) -> list[dict]:
        from vessel.image.inspect import history_rows

        image = self.get(text)
        return history_rows(image, self.layer_sizes(image))


def check_layers(manifest: Manifest, config: ImageConfig, what: str) -> None:
    if len(manifest.layers) != len(config.rootfs.diff_ids):
        raise InvalidArgument(f"{what}: manifest lists {len(manifest.layers)} layers but rootfs.diff_ids "
                              f"has {len(config.rootfs.diff_ids)}", what=what)


def check_removable(text: str, image: Image, tags: list[str], users: list[str], force: bool, by_tag: bool) -> None:
    """docker rmi's refusals, as Conflict errors."""
    if force:
        return
    if by_tag and users:
        raise Conflict(f'conflict: unable to remove repository reference "{text}" (must force) - container '
                       f"{users[0][:12]} is using its referenced image {image.short_id}",
                       hint="use -f to untag it anyway (the image stays until the container is removed)")
    if not by_tag and len(tags) > 1:
        raise Conflict(f"conflict: unable to delete {image.short_id} (must be forced) - image is referenced in "
                       "multiple repositories", hint="remove the tags one by one, or use -f")
    if not by_tag and users:
        raise Conflict(f"conflict: unable to delete {image.short_id} (must be forced) - image is being used by "
                       f"container {users[0][:12]}", hint="remove the container first, or use -f")


def familiar(ref: str) -> str:
    parsed = try_parse(ref)
    return parsed.familiar if parsed else ref


def not_found(text: str) -> NotFound:
    ref = try_parse(text)
    shown = ref.familiar if ref is not None and not looks_like_id_prefix(text) else text
    from vessel.image.bootstrap import base_hint

    hint = base_hint(ref) if ref is not None else None
    return NotFound(f"No such image: {shown}", hint=hint, image=text)

