"""The OCI image spec (index, manifest, descriptor, image config) as frozen dataclasses (pure).

JSON keys are the spec's (``mediaType``, ``diff_ids``, ``config.Env``...).
Parsing ignores unknown keys (docker's configs carry ``container_config``,
``docker_version``...), as the image spec asks.  Blobs read from elsewhere are
kept byte for byte in the store: an image ID is the digest of its config's
bytes, so a config is never re-encoded once it has an ID.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from vessel.errors import InvalidArgument
from vessel.oci._codec import decode, encode, key

_F = dict(frozen=True)

MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (MEDIA_TYPE_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (MEDIA_TYPE_INDEX, DOCKER_MANIFEST_LIST)
LAYER_MEDIA_TYPES = {"tar": MEDIA_TYPE_LAYER, "gzip": MEDIA_TYPE_LAYER_GZIP, "zstd": MEDIA_TYPE_LAYER_ZSTD}

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
LAYOUT_VERSION = "1.0.0"


@dataclass(**_F)
class Platform:
    architecture: str
    os: str
    os_version: str | None = field(default=None, metadata=key("os.version"))
    os_features: list[str] = field(default_factory=list, metadata=key("os.features"))
    variant: str | None = None


@dataclass(**_F)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str | None = None

    @property
    def ref_name(self) -> str | None:
        return self.annotations.get(ANNOTATION_REF_NAME)


@dataclass(**_F)
class Index:
    schema_version: int = 2
    media_type: str | None = MEDIA_TYPE_INDEX
    manifests: list[Descriptor] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        out = encode(self)
        out["manifests"] = encode(self.manifests)
        return canonical_json(out)


@dataclass(**_F)
class Manifest:
    config: Descriptor
    schema_version: int = 2
    media_type: str | None = MEDIA_TYPE_MANIFEST
    layers: list[Descriptor] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        out = encode(self)
        out["layers"] = encode(self.layers)
        return canonical_json(out)


@dataclass(**_F)
class Healthcheck:
    test: list[str] | None = field(default=None, metadata=key("Test"))
    interval: int | None = field(default=None, metadata=key("Interval"))
    timeout: int | None = field(default=None, metadata=key("Timeout"))
    start_period: int | None = field(default=None, metadata=key("StartPeriod"))
    start_interval: int | None = field(default=None, metadata=key("StartInterval"))
    retries: int | None = field(default=None, metadata=key("Retries"))


@dataclass(**_F)
class ContainerConfig:
    """``config`` of an image config: the defaults a container starts with."""

    user: str | None = field(default=None, metadata=key("User"))
    exposed_ports: dict[str, Any] | None = field(default=None, metadata=key("ExposedPorts"))
    env: list[str] | None = field(default=None, metadata=key("Env"))
    entrypoint: list[str] | None = field(default=None, metadata=key("Entrypoint"))
    cmd: list[str] | None = field(default=None, metadata=key("Cmd"))
    volumes: dict[str, Any] | None = field(default=None, metadata=key("Volumes"))
    working_dir: str | None = field(default=None, metadata=key("WorkingDir"))
    labels: dict[str, str] | None = field(default=None, metadata=key("Labels"))
    stop_signal: str | None = field(default=None, metadata=key("StopSignal"))
    healthcheck: Healthcheck | None = field(default=None, metadata=key("Healthcheck"))
    on_build: list[str] | None = field(default=None, metadata=key("OnBuild"))
    shell: list[str] | None = field(default=None, metadata=key("Shell"))
    args_escaped: bool | None = field(default=None, metadata=key("ArgsEscaped"))

    @classmethod
    def from_dict(cls, data: dict | None, where: str = "config") -> "ContainerConfig":
        """From docker's shape (``{"Cmd": [...], "Env": [...]}``, as the builder's configs give it)."""
        return decode(cls, data or {}, where)

    def to_dict(self) -> dict:
        return encode(self)


@dataclass(**_F)
class RootFS:
    type: str = "layers"
    diff_ids: list[str] = field(default_factory=list, metadata=key("diff_ids"))


@dataclass(**_F)
class History:
    created: str | None = None
    created_by: str | None = field(default=None, metadata=key("created_by"))
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = field(default=None, metadata=key("empty_layer"))


@dataclass(**_F)
class ImageConfig:
    architecture: str = "amd64"
    os: str = "linux"
    rootfs: RootFS = field(default_factory=RootFS)
    created: str | None = None
    author: str | None = None
    os_version: str | None = field(default=None, metadata=key("os.version"))
    variant: str | None = None
    config: ContainerConfig | None = None
    history: list[History] = field(default_factory=list)

    def to_json(self) -> bytes:
        out = encode(self)
        out["rootfs"] = {"type": self.rootfs.type, "diff_ids": list(self.rootfs.diff_ids)}
        return canonical_json(out)


def canonical_json(value: Any) -> bytes:
    """The bytes vessel writes for JSON it creates: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidArgument(f"{what} is not valid JSON: {err}", what=what) from err


def parse_index(data: bytes, what: str = "index.json") -> Index:
    return decode(Index, parse_json(data, what), what)


def parse_manifest(data: bytes, what: str = "manifest") -> Manifest:
    value = parse_json(data, what)
    if isinstance(value, dict) and value.get("mediaType") in INDEX_TYPES:
        raise InvalidArgument(f"{what} is an image index, not a manifest", what=what)
    return decode(Manifest, value, what)


def parse_config(data: bytes, what: str = "image config") -> ImageConfig:
    return decode(ImageConfig, parse_json(data, what), what)
