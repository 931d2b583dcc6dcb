"""docker-archive and OCI-archive tars: ``load`` into the store, ``save`` out of it.

docker-archive (``docker save``): ``manifest.json`` = ``[{"Config": "<hex>.json",
"RepoTags": [...], "Layers": ["<dir>/layer.tar", ...]}]``; docker 25+ puts an
OCI layout in the same tar and points manifest.json at ``blobs/sha256/...``,
which the same reader handles.  OCI archive: ``oci-layout``, ``index.json``,
``blobs/``.  Every blob read is verified against its digest (configs and
layers by what the manifest or rootfs.diff_ids say), and nothing is named
before all of an image's layers unpacked safely.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from vessel.errors import InvalidArgument, NotFound
from vessel.image.layers import open_uncompressed
from vessel.image.reference import Reference, id_hex, parse_reference, try_parse
from vessel.image.store import Image, Store, check_layers
from vessel.oci.image import (ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, INDEX_TYPES, LAYOUT_VERSION,
                              Descriptor, Index, canonical_json, parse_config, parse_index, parse_json,
                              parse_manifest)

FORMATS = ("docker-archive", "oci-archive")
HOST_PLATFORM = ("linux", "amd64")


@dataclass(frozen=True)
class Loaded:
    image: Image
    tags: list[Reference]


class _Archive:
    """Random access to the members of a tar by normalised name."""

    def __init__(self, tf: tarfile.TarFile, source: str) -> None:
        self.tf = tf
        self.source = source
        self.members = {posixpath.normpath(m.name.lstrip("/")): m for m in tf.getmembers()}

    def has(self, name: str) -> bool:
        return posixpath.normpath(name) in self.members

    def open(self, name: str, why: str) -> BinaryIO:
        member = self.members.get(posixpath.normpath(name.lstrip("/")))
        f = self.tf.extractfile(member) if member is not None else None
        if f is None:
            raise InvalidArgument(f"{self.source}: {why} names {name!r}, which the archive does not contain",
                                  source=self.source, member=name)
        return f  # type: ignore[return-value]

    def read(self, name: str, why: str, limit: int = 16 << 20) -> bytes:
        data = self.open(name, why).read(limit + 1)
        if len(data) > limit:
            raise InvalidArgument(f"{self.source}: {name} is larger than {limit} bytes", source=self.source)
        return data


@contextlib.contextmanager
def _open_archive(store: Store, source: Path | BinaryIO | str) -> Iterator[_Archive]:
    """A seekable tar of ``source``; a stream (stdin) is spooled to the store's tmp dir first."""
    name = str(source) if isinstance(source, (str, Path)) else "stdin"
    with contextlib.ExitStack() as stack:
        if isinstance(source, (str, Path)) and str(source) != "-":
            if not Path(source).is_file():
                raise NotFound(f"no such file: {source}", path=str(source))
            path = Path(source)
        else:
            stream = sys.stdin.buffer if str(source) == "-" else source
            fd, tmp = tempfile.mkstemp(dir=store.tmp, prefix="load-", suffix=".tar")
            stack.callback(_unlink_quietly, tmp)
            with open(fd, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)  # type: ignore[arg-type]
            path = Path(tmp)
        try:
            tf = stack.enter_context(tarfile.open(path, "r:*"))
            archive = _Archive(tf, name)
        except (tarfile.TarError, EOFError, OSError) as err:
            raise InvalidArgument(f"{name} is not a valid image archive: {err}", source=name,
                                  hint="vessel loads docker-archive and OCI-archive tars") from err
        yield archive


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def load(store: Store, source: Path | BinaryIO | str) -> list[Loaded]:
    """docker load: every image of the archive, verified and unpacked, then named."""
    with store.using_blobs(), _open_archive(store, source) as archive:
        try:
            if archive.has("manifest.json"):
                return _load_docker(store, archive)
            if archive.has("index.json"):
                return _load_oci(store, archive)
        except (tarfile.TarError, EOFError) as err:
            raise InvalidArgument(f"{archive.source}: corrupt archive: {err}", source=archive.source) from err
    raise InvalidArgument(f"{archive.source} is neither a docker-archive (manifest.json) nor an OCI archive "
                          "(index.json)", source=archive.source,
                          hint="to make an image of a root filesystem tar, use `vessel image import`")


def _load_docker(store: Store, archive: _Archive) -> list[Loaded]:
    entries = parse_json(archive.read("manifest.json", "the archive"), f"{archive.source}: manifest.json")
    if not isinstance(entries, list) or not entries:
        raise InvalidArgument(f"{archive.source}: manifest.json is not a non-empty list", source=archive.source)
    out = []
    for n, entry in enumerate(entries):
        where = f"{archive.source}: manifest.json[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers"), list):
            raise InvalidArgument(f"{where} lacks Config or Layers", source=archive.source)
        config_bytes = archive.read(entry["Config"], "manifest.json")
        expected = _digest_from_name(entry["Config"])
        config = parse_config(config_bytes, f"{where}: config {entry['Config']}")
        if len(entry["Layers"]) != len(config.rootfs.diff_ids):
            raise InvalidArgument(f"{where}: {len(entry['Layers'])} layers but the config lists "
                                  f"{len(config.rootfs.diff_ids)} diff_ids", source=archive.source)
        layers = [(archive.open(path, "manifest.json"), _blob_digest_from_path(path), f"layer {path}")
                  for path in entry["Layers"]]
        tags = [parse_reference(t) for t in entry.get("RepoTags") or []]
        image = _ingest(store, config_bytes, expected, layers, tags, where)
        out.append(Loaded(image, tags))
    return out


def _digest_from_name(name: str) -> str | None:
    base = posixpath.basename(name)
    stem = base[:-5] if base.endswith(".json") else base
    return "sha256:" + stem if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem) else None


def _blob_digest_from_path(path: str) -> str | None:
    """docker 25+ archives name layers blobs/sha256/<hex>: that name is a digest to verify."""
    parts = posixpath.normpath(path).split("/")
    if len(parts) == 3 and parts[:2] == ["blobs", "sha256"]:
        return _digest_from_name(parts[2])
    return None


def _ingest(store: Store, config_bytes: bytes, expected_config: str | None,
            layers: list[tuple[BinaryIO, str | None, str]], tags: list[Reference], where: str) -> Image:
    config = parse_config(config_bytes, f"{where}: config")
    descs: list[Descriptor] = []
    chain: str | None = None
    lowers: list[Path] = []
    with store.using_blobs():
        if expected_config is not None:
            store.blobs.put_bytes(config_bytes, expected_config, f"{where}: config")
        for (stream, digest, what), diff_id in zip(layers, config.rootfs.diff_ids):
            desc, meta = store.ingest_layer(stream, chain, lowers, diff_id, digest, f"{where}: {what}")
            descs.append(desc)
            chain = meta.chain_id
            lowers.insert(0, store.snapshots.fs(chain))
        return store.commit_image(config_bytes, descs, tags)


def _load_oci(store: Store, archive: _Archive) -> list[Loaded]:
    layout = parse_json(archive.read("oci-layout", "an OCI archive"), f"{archive.source}: oci-layout") \
        if archive.has("oci-layout") else {}
    if not isinstance(layout, dict):
        raise InvalidArgument(f"{archive.source}: oci-layout is not an object", source=archive.source)
    index = parse_index(archive.read("index.json", "the archive"), f"{archive.source}: index.json")
    out = []
    for desc in index.manifests:
        manifest_desc = _pick_manifest(archive, desc)
        where = f"{archive.source}: manifest {manifest_desc.digest}"
        manifest = parse_manifest(_read_blob(archive, manifest_desc), where)
        config_bytes = _read_blob(archive, manifest.config)
        config = parse_config(config_bytes, f"{where}: config")
        check_layers(manifest, config, where)
        layers = [(_open_blob(archive, layer), layer.digest, f"layer {layer.digest}") for layer in manifest.layers]
        tags = _oci_tags(desc)
        image = _ingest(store, config_bytes, manifest.config.digest, layers, tags, where)
        out.append(Loaded(image, tags))
    return out


def _oci_tags(desc: Descriptor) -> list[Reference]:
    """The name a manifest entry carries: containerd's full name, else ref.name when it is a full reference."""
    for key in (ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME):
        value = desc.annotations.get(key)
        if value and ("/" in value or ":" in value or key == ANNOTATION_CONTAINERD_NAME):
            ref = try_parse(value)
            if ref is not None and not ref.digest:
                return [ref]
    return []


def _pick_manifest(archive: _Archive, desc: Descriptor, depth: int = 0) -> Descriptor:
    if desc.media_type not in INDEX_TYPES:
        return desc
    if depth > 4:
        raise InvalidArgument(f"{archive.source}: image indexes nested too deep", source=archive.source)
    nested = parse_index(_read_blob(archive, desc), f"{archive.source}: index {desc.digest}")
    for child in nested.manifests:
        if child.platform is None or (child.platform.os, child.platform.architecture) == HOST_PLATFORM:
            return _pick_manifest(archive, child, depth + 1)
    raise InvalidArgument(f"{archive.source}: index {desc.digest} has no image for linux/amd64",
                          source=archive.source)


def _blob_name(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"blobs/{algo}/{hexpart}"


def _open_blob(archive: _Archive, desc: Descriptor) -> BinaryIO:
    return archive.open(_blob_name(desc.digest), f"descriptor {desc.digest}")


def _read_blob(archive: _Archive, desc: Descriptor) -> bytes:
    data = archive.read(_blob_name(desc.digest), f"descriptor {desc.digest}")
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != desc.digest:
        raise InvalidArgument(f"{archive.source}: blob {desc.digest} is corrupt (its digest is {actual})",
                              source=archive.source)
    return data


# -- save ------------------------------------------------------------------------------------------


def save(store: Store, names: list[str], out: BinaryIO, fmt: str = "docker-archive") -> list[Image]:
    """docker save: write the images ``names`` as a docker-archive or OCI-archive tar to ``out``."""
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown archive format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}", value=fmt)
    if not names:
        raise InvalidArgument("save needs at least one image")
    picked: list[tuple[Image, list[Reference]]] = []
    for name in names:
        image = store.get(name)
        ref = try_parse(name)
        tags = [ref] if ref is not None and not ref.digest and any(str(t) == str(ref) for t in image.tags) else []
        picked.append((image, tags))
    with store.using_blobs(), tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        writer = _Writer(store, tf)
        if fmt == "docker-archive":
            writer.docker(picked)
        else:
            writer.oci(picked)
    return [image for image, _ in picked]


class _Writer:
    def __init__(self, store: Store, tf: tarfile.TarFile) -> None:
        self.store = store
        self.tf = tf
        self.written: set[str] = set()

    def _add(self, name: str, data: BinaryIO, size: int) -> None:
        if name in self.written:
            return
        self.written.add(name)
        for parent in _parents(name):
            if parent not in self.written:
                self.written.add(parent)
                info = tarfile.TarInfo(parent)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                self.tf.addfile(info)
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, 0o644
        self.tf.addfile(info, data)

    def _add_bytes(self, name: str, data: bytes) -> None:
        self._add(name, io.BytesIO(data), len(data))

    def _add_blob(self, digest: str) -> None:
        path = self.store.blobs.path(digest)
        with self.store.blobs.open(digest) as f:
            self._add(_blob_name(digest), f, path.stat().st_size)

    def docker(self, picked: list[tuple[Image, list[Reference]]]) -> None:
        manifest = []
        for image, tags in picked:
            config_name = id_hex(image.id) + ".json"
            self._add_bytes(config_name, self.store.blobs.read(image.id, "image config"))
            layer_names = []
            for layer, diff_id in zip(image.manifest.layers, image.diff_ids):
                name = f"{id_hex(diff_id)}/layer.tar"
                if name not in self.written:
                    self._add_uncompressed(name, layer.digest)
                layer_names.append(name)
            manifest.append({"Config": config_name, "RepoTags": [str(t) for t in tags], "Layers": layer_names})
        self._add_bytes("manifest.json", canonical_json(manifest))

    def _add_uncompressed(self, name: str, digest: str) -> None:
        with self.store.blobs.open(digest) as blob:
            kind, reader = open_uncompressed(blob)
            if kind == "tar":
                blob.seek(0)
                self._add(name, blob, self.store.blobs.path(digest).stat().st_size)
                return
            with tempfile.TemporaryFile(dir=self.store.tmp) as plain:
                shutil.copyfileobj(reader, plain, 1 << 20)
                size = plain.tell()
                plain.seek(0)
                self._add(name, plain, size)  # type: ignore[arg-type]

    def oci(self, picked: list[tuple[Image, list[Reference]]]) -> None:
        entries = []
        for image, tags in picked:
            for digest in [image.manifest_digest, image.id, *(layer.digest for layer in image.manifest.layers)]:
                self._add_blob(digest)
            for ref in tags or [None]:
                annotations = {ANNOTATION_REF_NAME: str(ref), ANNOTATION_CONTAINERD_NAME: str(ref)} if ref else {}
                entries.append(Descriptor(image.descriptor.media_type, image.manifest_digest, image.manifest_size,
                                          annotations=annotations))
        self._add_bytes("oci-layout", canonical_json({"imageLayoutVersion": LAYOUT_VERSION}))
        self._add_bytes("index.json", Index(manifests=entries).to_json())


def _parents(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]
