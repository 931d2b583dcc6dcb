"""The pure side of the OCI Distribution protocol: endpoints, auth challenges, manifest choice, progress.

Nothing here opens a socket; ``registry.py`` is the shell that does, with httpx.

- *Endpoint*: a reference's domain names the registry.  ``docker.io`` is served
  by ``registry-1.docker.io``; loopback hosts (``localhost``, ``127.x``,
  ``[::1]``) and hosts listed as insecure are spoken to over plain http, every
  other one over https.
- *Challenge*: a 401 carries ``WWW-Authenticate: Bearer realm="...",service="...",
  scope="..."`` (token flow: GET realm?service=&scope= with basic credentials,
  then ``Authorization: Bearer <token>``) or ``Basic realm="..."``.
- *Manifest choice*: an image index / manifest list is resolved to its
  linux/amd64 entry.
- *Progress*: docker's JSON messages (``{"status": ..., "id": ...}``), which the
  API streams as they are and the CLI prints as docker does (``id: status``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import urlencode

from vessel.errors import InvalidArgument, NotFound
from vessel.image.reference import DEFAULT_DOMAIN, Reference, short_id
from vessel.oci.image import DOCKER_CONFIG, INDEX_TYPES, MANIFEST_TYPES, MEDIA_TYPE_CONFIG, Index

DOCKER_HUB_HOST = "registry-1.docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
HOST_PLATFORM = ("linux", "amd64")
ACCEPT_MANIFESTS = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
CONFIG_TYPES = (MEDIA_TYPE_CONFIG, DOCKER_CONFIG)
MAX_MANIFEST = 4 << 20

Message = dict


@dataclass(frozen=True)
class Endpoint:
    """Where a registry answers: ``scheme://host`` (host may carry a port)."""

    host: str
    scheme: str = "https"

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"

    def url(self, path: str) -> str:
        return self.base + path


def is_loopback_host(host: str) -> bool:
    """``localhost[:port]``, ``127.x.y.z[:port]``, ``[::1][:port]``."""
    name = host
    if name.startswith("["):
        name = name[1:name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def endpoint_for(domain: str, insecure: Iterable[str] = ()) -> Endpoint:
    """The endpoint of the registry ``domain`` names (docker.io -> registry-1.docker.io)."""
    if domain == DEFAULT_DOMAIN:
        return Endpoint(DOCKER_HUB_HOST, "https")
    plain = is_loopback_host(domain) or domain in set(insecure)
    return Endpoint(domain, "http" if plain else "https")


def auth_key(domain: str) -> str:
    """The key of a registry in the ``auths`` of docker's config.json (docker.io's is its v1 URL)."""
    return DOCKER_HUB_AUTH_KEY if domain in (DEFAULT_DOMAIN, DOCKER_HUB_HOST, "index.docker.io") else domain


def normalize_server(server: str | None) -> str:
    """``vessel login [SERVER]``: a host[:port] from what the user typed (docker.io when empty)."""
    text = (server or "").strip()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.split("/", 1)[0]
    if text in ("", "index.docker.io", DOCKER_HUB_HOST, DEFAULT_DOMAIN):
        return DEFAULT_DOMAIN
    return text


# -- auth challenges ------------------------------------------------------------------------------

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


@dataclass(frozen=True)
class Challenge:
    scheme: str                      # "bearer" or "basic" (lowercase)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def parse_challenge(header: str) -> Challenge:
    """One ``WWW-Authenticate`` value: ``Bearer realm="https://a/token",service="reg",scope="x"``."""
    text = header.strip()
    scheme, _, rest = text.partition(" ")
    if not scheme or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", scheme):
        raise InvalidArgument(f"malformed WWW-Authenticate header {header!r}", value=header)
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None:
            raise InvalidArgument(f"malformed WWW-Authenticate header {header!r}", value=header)
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[m.group(1).lower()] = value
        pos = m.end()
    return Challenge(scheme.lower(), params)


def token_url(challenge: Challenge, scopes: Iterable[str]) -> str:
    """The URL a bearer token is asked for: realm?service=...&scope=... (one scope parameter each)."""
    realm = challenge.realm
    if not realm or not realm.startswith(("http://", "https://")):
        raise InvalidArgument(f"registry token realm {realm!r} is not an http(s) URL", value=realm)
    query = [("service", challenge.params["service"])] if challenge.params.get("service") else []
    query += [("scope", s) for s in scopes]
    sep = "&" if "?" in realm else "?"
    return realm + (sep + urlencode(query) if query else "")


def repo_scope(path: str, push: bool) -> str:
    return f"repository:{path}:{'pull,push' if push else 'pull'}"


# -- manifests ------------------------------------------------------------------------------------


def manifest_kind(media_type: str | None, body: dict) -> str:
    """``manifest`` or ``index`` from the Content-Type (or the body's mediaType / shape when absent)."""
    declared = (media_type or "").split(";", 1)[0].strip() or body.get("mediaType") or ""
    if declared in INDEX_TYPES:
        return "index"
    if declared in MANIFEST_TYPES:
        return "manifest"
    if not declared:
        if "manifests" in body:
            return "index"
        if "config" in body and "layers" in body:
            return "manifest"
    if declared == "application/vnd.docker.distribution.manifest.v1+json" or body.get("schemaVersion") == 1:
        raise InvalidArgument("the registry serves a Docker schema 1 manifest, which vessel does not read",
                              hint="push the image again with a current client (schema 2 or OCI)")
    raise InvalidArgument(f"unknown manifest media type {declared!r}", value=declared)


def select_platform(index: Index, where: str, platform: tuple[str, str] = HOST_PLATFORM) -> str:
    """The digest of the linux/amd64 manifest of an image index (the first entry without platform else)."""
    for desc in index.manifests:
        if desc.platform is not None and (desc.platform.os, desc.platform.architecture) == platform:
            return desc.digest
    for desc in index.manifests:
        if desc.platform is None and desc.media_type in MANIFEST_TYPES:
            return desc.digest
    found = sorted({f"{d.platform.os}/{d.platform.architecture}" for d in index.manifests if d.platform})
    raise NotFound(f"no matching manifest for {platform[0]}/{platform[1]} in the manifest list {where}",
                   hint=f"the image is published for {', '.join(found) or 'no platform'}", where=where)


# -- progress messages (docker's JSON messages) ---------------------------------------------------


def msg(status: str, id: str | None = None, **extra: object) -> Message:
    out: Message = {"status": status}
    if id is not None:
        out["id"] = id
    out.update(extra)
    return out


def layer_msg(digest: str, status: str, current: int | None = None, total: int | None = None) -> Message:
    detail = {} if current is None else {"current": current, **({"total": total} if total else {})}
    return msg(status, short_id(digest), progressDetail=detail)


def error_msg(message: str) -> Message:
    return {"errorDetail": {"message": message}, "error": message}


def render(message: Message) -> str | None:
    """The line docker prints for a message when not on a terminal (None: a progress tick, not printed)."""
    if "error" in message:
        return None
    if message.get("progressDetail", {}).get("current") is not None:
        return None
    status = message.get("status")
    if status is None:
        return None
    return f"{message['id']}: {status}" if message.get("id") else status


def pull_header(ref: Reference) -> Message:
    return msg(f"Pulling from {ref.path}", ref.tag or ref.digest or "latest")


def push_header(ref: Reference) -> Message:
    return msg(f"The push refers to repository [{ref.name}]")


def pull_footer(ref: Reference, digest: str, updated: bool) -> list[Message]:
    word = "Downloaded newer image for" if updated else "Image is up to date for"
    return [msg(f"Digest: {digest}"), msg(f"Status: {word} {ref.familiar}")]


def push_footer(tag: str, digest: str, size: int) -> list[Message]:
    return [msg(f"{tag}: digest: {digest} size: {size}"),
            {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}}]
