"""The pure parts of the registry client: endpoints, auth challenges, manifest choice, progress, credentials."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from vessel.errors import InvalidArgument, NotFound
from vessel.image import distribution as D
from vessel.image.credentials import CredentialStore, Credentials, decode_auth, decode_registry_auth, encode_auth
from vessel.image.reference import parse_reference
from vessel.oci.image import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, parse_index

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("domain,expected", [
    ("docker.io", D.Endpoint("registry-1.docker.io", "https")),
    ("localhost:5000", D.Endpoint("localhost:5000", "http")),
    ("127.0.0.1:5000", D.Endpoint("127.0.0.1:5000", "http")),
    ("127.9.9.9", D.Endpoint("127.9.9.9", "http")),
    ("[::1]:5000", D.Endpoint("[::1]:5000", "http")),
    ("quay.io", D.Endpoint("quay.io", "https")),
    ("10.0.0.1:5000", D.Endpoint("10.0.0.1:5000", "https")),
])
def test_endpoint_scheme_follows_loopback(domain, expected):
    assert D.endpoint_for(domain) == expected


def test_insecure_registry_gets_http():
    assert D.endpoint_for("reg.lan:5000", insecure=["reg.lan:5000"]).base == "http://reg.lan:5000"
    assert D.endpoint_for("reg.lan:5000").base == "https://reg.lan:5000"


def test_reference_to_endpoint_and_repository():
    ref = parse_reference("busybox")
    assert (D.endpoint_for(ref.domain).url(f"/v2/{ref.path}/manifests/{ref.tag}")
            == "https://registry-1.docker.io/v2/library/busybox/manifests/latest")
    ref = parse_reference("localhost:5000/team/app:1")
    assert D.endpoint_for(ref.domain).url(f"/v2/{ref.path}/") == "http://localhost:5000/v2/team/app/"


@pytest.mark.parametrize("server,domain,key", [
    (None, "docker.io", "https://index.docker.io/v1/"),
    ("https://index.docker.io/v1/", "docker.io", "https://index.docker.io/v1/"),
    ("127.0.0.1:5000", "127.0.0.1:5000", "127.0.0.1:5000"),
    ("http://127.0.0.1:5000/", "127.0.0.1:5000", "127.0.0.1:5000"),
])
def test_login_server_names(server, domain, key):
    assert D.normalize_server(server) == domain
    assert D.auth_key(domain) == key


def test_parse_bearer_challenge():
    c = D.parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                          'scope="repository:library/busybox:pull"')
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.docker.io/token"
    assert c.params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                        "scope": "repository:library/busybox:pull"}


def test_parse_basic_and_escaped_challenge():
    assert D.parse_challenge('Basic realm="Registry Realm"') == D.Challenge("basic", {"realm": "Registry Realm"})
    c = D.parse_challenge(r'Bearer realm="http://a/t?x=1", error="insufficient_scope", note="say \"hi\""')
    assert c.params["note"] == 'say "hi"'
    assert c.params["error"] == "insufficient_scope"


@pytest.mark.parametrize("bad", ["", "   ", "Bearer realm", 'Bearer realm="x" junk'])
def test_malformed_challenge_refused(bad):
    with pytest.raises(InvalidArgument, match="WWW-Authenticate"):
        D.parse_challenge(bad)


def test_token_url_has_service_and_scopes():
    c = D.parse_challenge('Bearer realm="http://127.0.0.1:9/token",service="reg"')
    url = D.token_url(c, [D.repo_scope("team/app", push=True)])
    assert url == "http://127.0.0.1:9/token?service=reg&scope=repository%3Ateam%2Fapp%3Apull%2Cpush"
    assert D.token_url(D.parse_challenge('Bearer realm="http://h/t?a=b"'), []) == "http://h/t?a=b"
    with pytest.raises(InvalidArgument, match="realm"):
        D.token_url(D.parse_challenge('Bearer realm="file:///etc/passwd"'), [])


@pytest.mark.parametrize("media_type,body,kind", [
    (MEDIA_TYPE_MANIFEST, {}, "manifest"),
    (DOCKER_MANIFEST + "; charset=utf-8", {}, "manifest"),
    (MEDIA_TYPE_INDEX, {}, "index"),
    (DOCKER_MANIFEST_LIST, {}, "index"),
    ("", {"mediaType": DOCKER_MANIFEST_LIST}, "index"),
    ("", {"schemaVersion": 2, "config": {}, "layers": []}, "manifest"),
    ("", {"schemaVersion": 2, "manifests": []}, "index"),
])
def test_manifest_kind(media_type, body, kind):
    assert D.manifest_kind(media_type, body) == kind


def test_schema1_and_unknown_types_refused():
    with pytest.raises(InvalidArgument, match="schema 1"):
        D.manifest_kind("application/vnd.docker.distribution.manifest.v1+json", {"schemaVersion": 1})
    with pytest.raises(InvalidArgument, match="unknown manifest media type"):
        D.manifest_kind("text/html", {})


def _index(*platforms):
    entries = [{"mediaType": DOCKER_MANIFEST, "digest": "sha256:" + f"{n:x}" * 64, "size": 1,
                **({"platform": {"os": o, "architecture": a}} if o else {})} for n, (o, a) in enumerate(platforms, 1)]
    return parse_index(json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": entries})
                       .encode())


def test_select_linux_amd64_from_index():
    index = _index(("linux", "arm64"), ("linux", "amd64"), ("windows", "amd64"))
    assert D.select_platform(index, "x") == "sha256:" + "2" * 64


def test_select_without_matching_platform_names_what_exists():
    with pytest.raises(NotFound, match="no matching manifest for linux/amd64") as err:
        D.select_platform(_index(("linux", "arm64"), ("linux", "s390x")), "x")
    assert "linux/arm64, linux/s390x" in err.value.hint


def test_progress_messages_and_rendering():
    ref = parse_reference("127.0.0.1:5000/busybox")
    assert D.pull_header(ref) == {"status": "Pulling from busybox", "id": "latest"}
    assert D.pull_header(parse_reference("busybox")) == {"status": "Pulling from library/busybox", "id": "latest"}
    assert D.push_header(ref) == {"status": "The push refers to repository [127.0.0.1:5000/busybox]"}
    digest = "sha256:" + "ab" * 32
    assert D.render(D.layer_msg(digest, "Pull complete")) == "abababababab: Pull complete"
    assert D.render(D.layer_msg(digest, "Downloading", 10, 100)) is None  # ticks are not printed
    footer = D.pull_footer(ref, digest, updated=True)
    assert [D.render(m) for m in footer] == [f"Digest: {digest}",
                                            "Status: Downloaded newer image for 127.0.0.1:5000/busybox:latest"]
    assert D.render(D.pull_footer(ref, digest, updated=False)[1]).startswith("Status: Image is up to date for")
    line, aux = D.push_footer("latest", digest, 527)
    assert D.render(line) == f"latest: digest: {digest} size: 527"
    assert aux["aux"] == {"Tag": "latest", "Digest": digest, "Size": 527} and D.render(aux) is None
    assert D.error_msg("boom") == {"error": "boom", "errorDetail": {"message": "boom"}}


def test_auth_encoding_round_trip():
    assert encode_auth("user", "p:ss") == base64.b64encode(b"user:p:ss").decode()
    assert decode_auth(encode_auth("user", "p:ss"), "x") == Credentials("user", "p:ss")
    with pytest.raises(InvalidArgument, match="base64"):
        decode_auth("!!!", "x")
    assert "p:ss" not in repr(Credentials("user", "p:ss"))


def test_x_registry_auth_header():
    header = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p", "serveraddress": "h"})
                                      .encode()).decode().rstrip("=")
    assert decode_registry_auth(header) == Credentials("u", "p")
    assert not decode_registry_auth(None)
    assert not decode_registry_auth(base64.b64encode(b"{}").decode())
    with pytest.raises(InvalidArgument, match="X-Registry-Auth"):
        decode_registry_auth("not base64 at all!")


def test_credential_store_is_private_and_docker_shaped(tmp_path):
    store = CredentialStore.under(tmp_path)
    assert not store.get("127.0.0.1:5000")
    store.set("127.0.0.1:5000", Credentials("alice", "secret"))
    store.set("docker.io", Credentials("bob", "pw"))
    path = tmp_path / "auth.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["auths"]["127.0.0.1:5000"] == {"auth": encode_auth("alice", "secret")}
    assert "https://index.docker.io/v1/" in data["auths"]
    assert store.get("127.0.0.1:5000") == Credentials("alice", "secret")
    assert store.remove("127.0.0.1:5000") and not store.remove("127.0.0.1:5000")
    assert not store.get("127.0.0.1:5000") and store.get("docker.io").username == "bob"


def test_credential_store_reports_a_corrupt_file(tmp_path):
    (tmp_path / "auth.json").write_text("{nope")
    with pytest.raises(InvalidArgument, match="auth.json is not valid JSON"):
        CredentialStore.under(tmp_path).get("x")
