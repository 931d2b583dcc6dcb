"""Image references with docker's normalisation (pure).

``busybox`` is ``docker.io/library/busybox:latest``; ``user/app`` is
``docker.io/user/app:latest``; a first component with a dot or a colon, or
``localhost``, names a registry (``localhost:5000/x``, ``quay.io/a/b``).  A
reference may carry a tag, a digest (``name@sha256:...``) or both.  Image IDs
are config digests (``sha256:<64 hex>``), shortened to any unique prefix of the
hex like docker does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from vessel.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*\Z")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_ID_PREFIX = re.compile(r"(?:sha256:)?[0-9a-f]{1,64}\Z")


@dataclass(frozen=True)
class Reference:
    """A normalised image reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as docker prints it: ``busybox``, ``user/app``, ``localhost:5000/x``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_PREFIX) and "/" not in self.path[len(OFFICIAL_PREFIX):]:
            return self.path[len(OFFICIAL_PREFIX):]
        return self.path

    @property
    def familiar(self) -> str:
        """``busybox:latest``, ``busybox@sha256:...``: the reference as docker prints it."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")

    def with_tag(self, tag: str) -> "Reference":
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid tag {tag!r}: a tag is up to 128 of [A-Za-z0-9_.-], not starting with . or -",
                                  value=tag)
        return replace(self, tag=tag, digest=None)

    def __str__(self) -> str:
        return self.name + self._suffix()


def parse_reference(text: str, *, default_tag: str | None = DEFAULT_TAG) -> Reference:
    """Parse and normalise ``text``; a reference without tag nor digest gets ``default_tag``."""
    if not isinstance(text, str) or not text:
        raise InvalidArgument("invalid reference format: empty image name", value=text)
    remainder, digest = text, None
    if "@" in remainder:
        remainder, digest = remainder.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidArgument(f"invalid reference format: bad digest {digest!r} in {text!r}",
                                  hint="a digest is sha256: followed by 64 lowercase hex digits", value=text)
    tag = None
    colon, slash = remainder.rfind(":"), remainder.rfind("/")
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid reference format: bad tag {tag!r} in {text!r}", value=text)
    domain, path = split_domain(remainder, text)
    if _HEX64.match(remainder):
        raise InvalidArgument(f"invalid repository name ({remainder}), cannot specify 64-byte hexadecimal strings",
                              value=text)
    if len(domain) + 1 + len(path) > NAME_MAX:
        raise InvalidArgument(f"invalid reference format: repository name longer than {NAME_MAX} characters",
                              value=text)
    if tag is None and digest is None:
        tag = default_tag
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def split_domain(name: str, text: str) -> tuple[str, str]:
    """Docker's rule for telling a registry from the first path component."""
    first, sep, rest = name.partition("/")
    if sep and (("." in first or ":" in first) or first == "localhost" or first.lower() != first):
        domain, path = first, rest
        if not _DOMAIN.match(domain):
            raise InvalidArgument(f"invalid reference format: bad registry {domain!r} in {text!r}", value=text)
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    for component in path.split("/"):
        if not _PATH_COMPONENT.match(component):
            if component.lower() != component and _PATH_COMPONENT.match(component.lower()):
                raise InvalidArgument(f"invalid reference format: repository name ({name}) must be lowercase",
                                      value=text)
            raise InvalidArgument(f"invalid reference format: {text!r}",
                                  hint="a name is lowercase letters, digits and separators . _ __ -, joined by /",
                                  value=text)
    return domain, path


def is_digest(text: str) -> bool:
    return bool(_DIGEST.match(text))


def looks_like_id_prefix(text: str) -> bool:
    """True if ``text`` could be (a prefix of) an image ID: hex, optionally after ``sha256:``."""
    return bool(_ID_PREFIX.match(text))


def id_hex(text: str) -> str:
    """The hex part of an image ID or ID prefix."""
    return text[len("sha256:"):] if text.startswith("sha256:") else text


def short_id(image_id: str) -> str:
    """The 12-hex-digit ID docker prints."""
    return id_hex(image_id)[:12]


def try_parse(text: str) -> Reference | None:
    """``parse_reference`` that returns None for text that is not a valid reference."""
    try:
        return parse_reference(text)
    except InvalidArgument:
        return None
