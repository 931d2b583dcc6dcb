from __future__ import annotations

import pytest

from vessel.errors import InvalidArgument
from vessel.image.reference import (Reference, id_hex, looks_like_id_prefix, parse_reference, short_id,
                                    try_parse)

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox:x", "docker.io/library/busybox:x", "busybox:x"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("user/app/sub:v2", "docker.io/user/app/sub:v2", "user/app/sub:v2"),
    ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
    ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest"),
    ("quay.io/a/b:1.0", "quay.io/a/b:1.0", "quay.io/a/b:1.0"),
    ("Registry/app", "Registry/app:latest", "Registry/app:latest"),
    ("my-reg.example.com:443/team/app_x:v1.2-rc", "my-reg.example.com:443/team/app_x:v1.2-rc",
     "my-reg.example.com:443/team/app_x:v1.2-rc"),
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
    (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}", f"busybox:1@{DIGEST}"),
])
def test_normalisation(text: str, full: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar == familiar


def test_parts_of_a_reference() -> None:
    ref = parse_reference("localhost:5000/team/app:v1")
    assert ref == Reference("localhost:5000", "team/app", "v1", None)
    assert ref.name == "localhost:5000/team/app"
    assert ref.familiar_name == "localhost:5000/team/app"
    assert parse_reference("busybox").familiar_name == "busybox"
    assert parse_reference("a/b").familiar_name == "a/b"


def test_digest_only_reference_has_no_tag() -> None:
    assert parse_reference(f"busybox@{DIGEST}").tag is None
    assert parse_reference("busybox", default_tag=None).tag is None


def test_with_tag_replaces_tag_and_digest() -> None:
    ref = parse_reference(f"busybox@{DIGEST}").with_tag("v2")
    assert str(ref) == "docker.io/library/busybox:v2"
    with pytest.raises(InvalidArgument, match="invalid tag"):
        ref.with_tag("-bad")


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("Busybox", "must be lowercase"),
    ("busybox:", "bad tag"),
    ("busybox:bad tag", "bad tag"),
    ("busybox@sha256:123", "bad digest"),
    ("busybox@md5:" + "a" * 32, "bad digest"),
    ("a//b", "invalid reference format"),
    ("-lead/x", "invalid reference format"),
    ("bad_/x", "invalid reference format"),
    ("ab" * 32, "64-byte hexadecimal"),
    ("x" * 300, "longer than 255"),
    ("reg:abc/x", "bad registry"),
])
def test_bad_references(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_reference(text)
    assert try_parse(text) is None


def test_tag_length_limit() -> None:
    assert parse_reference("a:" + "t" * 128).tag == "t" * 128
    with pytest.raises(InvalidArgument):
        parse_reference("a:" + "t" * 129)


def test_id_helpers() -> None:
    full = "sha256:" + "0123456789abcdef" * 4
    assert short_id(full) == "0123456789ab"
    assert id_hex(full) == "0123456789abcdef" * 4
    assert id_hex("abc") == "abc"
    assert looks_like_id_prefix("3f57")
    assert looks_like_id_prefix("sha256:3f57")
    assert not looks_like_id_prefix("busybox")
    assert not looks_like_id_prefix("3F57")
