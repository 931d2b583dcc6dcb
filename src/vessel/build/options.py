"""What a build is asked for and what it gives back (light: no parser, planner or runtime imports).

``BuildOptions`` holds docker build's flags, ``BuildResult`` the image and what
was cached, ``parse_tags`` and ``check_network`` check ``-t`` and ``--network``
values before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from vessel.errors import InvalidArgument
from vessel.image.reference import Reference, parse_reference

if TYPE_CHECKING:
    from vessel.image.store import Image


NETWORKS = ("default", "bridge", "host", "none")  # --network: default and bridge are the default bridge


def check_network(network: str) -> str:
    """The build's ``--network``, checked before any work starts."""
    if network not in NETWORKS:
        raise InvalidArgument(f"unsupported network mode {network!r}", value=network,
                              hint="use default (the bridge), bridge, host or none")
    return network


@dataclass(frozen=True, slots=True)
class Secret:
    """``--secret id=ID,src=FILE`` or ``env=VAR``, read when the build starts: given to
    ``RUN --mount=type=secret,id=ID`` as a file and/or an environment variable; never cached."""

    id: str
    data: bytes

    def __repr__(self) -> str:
        return f"Secret(id={self.id!r}, data=<{len(self.data)} bytes>)"


@dataclass(frozen=True)
class BuildOptions:
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = "default"
    secrets: Mapping[str, Secret] = field(default_factory=dict)
    platform: str = "linux/amd64"


@dataclass(frozen=True)
class BuildResult:
    image: "Image"
    tags: tuple[str, ...]
    cached: int
    executed: int
    warnings: tuple[str, ...]
    from_memo: bool = False  # answered by the build memo (nothing parsed, planned or run)


def parse_tags(tags: tuple[str, ...] | list[str]) -> list[Reference]:
    out = []
    for tag in tags:
        try:
            ref = parse_reference(tag)
        except InvalidArgument as err:
            raise InvalidArgument(f"invalid tag {tag!r}: {err.message}", value=tag) from None
        if ref.digest:
            raise InvalidArgument(f"invalid tag {tag!r}: a tag cannot have a digest", value=tag)
        out.append(ref)
    return out
