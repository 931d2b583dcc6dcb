"""The registry client against an in-memory registry (httpx.MockTransport): pull, push, auth, errors."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import uuid

import httpx
import pytest

from vessel.errors import InvalidArgument, NotFound, SystemFailure
from vessel.image.credentials import Credentials
from vessel.image.ingest import create_image
from vessel.image.registry import Session, Unauthorized, drive, login, pull, push
from vessel.image.store import Store
from vessel.oci.image import DOCKER_MANIFEST_LIST, canonical_json

pytestmark = pytest.mark.unit

REG = "127.0.0.1:5000"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """Enough of the distribution API for the client; ``auth`` = ("basic"|"bearer", user, password)."""

    def __init__(self, auth: tuple[str, str, str] | None = None) -> None:
        self.auth = auth
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.uploads: set[str] = set()
        self.requests: list[str] = []
        self.corrupt: set[str] = set()

    def _authorized(self, request: httpx.Request) -> httpx.Response | None:
        if self.auth is None:
            return None
        kind, user, password = self.auth
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        want = basic if kind == "basic" else "Bearer good-token"
        if request.headers.get("authorization") == want:
            return None
        challenge = ('Basic realm="fake"' if kind == "basic" else
                     f'Bearer realm="http://{REG}/token",service="fake"')
        return httpx.Response(401, headers={"WWW-Authenticate": challenge},
                              json={"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        self.requests.append(f"{method} {path}")
        if path == "/token":
            basic = "Basic " + base64.b64encode(f"{self.auth[1]}:{self.auth[2]}".encode()).decode()
            if request.headers.get("authorization") != basic:
                return httpx.Response(401)
            assert request.url.params.get("service") == "fake"
            return httpx.Response(200, json={"token": "good-token"})
        denied = self._authorized(request)
        if denied is not None:
            return denied
        if path == "/v2/":
            return httpx.Response(200, json={})
        m = re.fullmatch(r"/v2/(.+)/blobs/uploads/(.*)", path)
        if m:
            return self._upload(request, m.group(1), m.group(2))
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", path)
        if not m:
            return httpx.Response(404)
        repo, kind, ref = m.groups()
        if kind == "blobs":
            if ref not in self.blobs:
                return httpx.Response(404, json={"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]})
            data = self.blobs[ref]
            return httpx.Response(200, content=b"X" + data[1:] if ref in self.corrupt else data)
        if method == "PUT":
            body = request.read()
            self.manifests[(repo, ref)] = self.manifests[(repo, sha(body))] = (body, request.headers["content-type"])
            return httpx.Response(201, headers={"Docker-Content-Digest": sha(body)})
        if (repo, ref) not in self.manifests:
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})
        body, media_type = self.manifests[(repo, ref)]
        return httpx.Response(200, content=body, headers={"Content-Type": media_type})

    def _upload(self, request: httpx.Request, repo: str, session: str) -> httpx.Response:
        if request.method == "POST":
            new = uuid.uuid4().hex
            self.uploads.add(new)
            return httpx.Response(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{new}?_state=abc"})
        assert request.method == "PUT" and session in self.uploads
        assert request.url.params["_state"] == "abc"
        data, digest = request.read(), request.url.params["digest"]
        if sha(data) != digest:
            return httpx.Response(400, json={"errors": [{"code": "DIGEST_INVALID", "message": "digest invalid"}]})
        self.blobs[digest] = data
        return httpx.Response(201)


@pytest.fixture
def other_store(tmp_path, whiteouts):
    return Store(tmp_path / "other", is_root=False, whiteouts=whiteouts, overlay_xattr_prefix="user.overlay.")


def image_with_two_layers(store, tars, ref=f"{REG}/app:1"):
    base = create_image(store, None, [io.BytesIO(tars.make(tars.D("etc"), tars.F("etc/a", b"a" * 5000)))],
                        created="2024-01-01T00:00:00Z")
    return create_image(store, base, [io.BytesIO(tars.make(tars.F("etc/b", b"b", compression="gzip")))],
                        created="2024-01-01T00:00:00Z", reference=ref)


def run(steps):
    messages = []
    return drive(steps, messages.append), messages


def test_push_then_pull_round_trip(store, other_store, tars):
    registry = FakeRegistry()
    session = Session(transport=httpx.MockTransport(registry))
    image = image_with_two_layers(store, tars)
    result, messages = run(push(store, f"{REG}/app:1", session))
    assert result.digest == image.manifest_digest
    assert messages[0] == {"status": f"The push refers to repository [{REG}/app]"}
    assert [m.get("status") for m in messages].count("Pushed") == 2
    assert messages[-2]["status"] == f"1: digest: {image.manifest_digest} size: {image.manifest_size}"

    pulled, messages = run(pull(other_store, f"{REG}/app:1", session))
    assert (pulled.id, pulled.manifest_digest) == (image.id, image.manifest_digest)
    assert [str(t) for t in pulled.tags] == [f"{REG}/app:1"]
    statuses = [m.get("status") for m in messages]
    assert statuses[0] == "Pulling from app" and statuses.count("Pull complete") == 2
    assert statuses[-1] == f"Status: Downloaded newer image for {REG}/app:1"
    assert other_store.rootfs_layers(pulled)[0].joinpath("etc/b").read_bytes() == b"b"

    registry.requests.clear()
    again, messages = run(pull(other_store, f"{REG}/app:1", session))
    assert again.manifest_digest == image.manifest_digest
    assert messages[-1]["status"] == f"Status: Image is up to date for {REG}/app:1"
    assert not any("/blobs/" in r for r in registry.requests)  # nothing downloaded again


def test_second_push_skips_existing_blobs(store, tars):
    registry = FakeRegistry()
    session = Session(transport=httpx.MockTransport(registry))
    image_with_two_layers(store, tars)
    run(push(store, f"{REG}/app:1", session))
    registry.requests.clear()
    _, messages = run(push(store, f"{REG}/app:1", session))
    assert [m.get("status") for m in messages].count("Layer already exists") == 2
    assert not any(r.startswith(("POST", "PUT /v2/app/blobs")) for r in registry.requests)


def test_pull_only_fetches_missing_layers(store, other_store, tars):
    registry = FakeRegistry()
    session = Session(transport=httpx.MockTransport(registry))
    image = image_with_two_layers(store, tars)
    run(push(store, f"{REG}/app:1", session))
    store.tag(f"{REG}/app:1", f"{REG}/app:2")
    run(push(store, f"{REG}/app:2", session))
    registry.requests.clear()
    pulled, messages = run(pull(store, f"{REG}/app:1", session))  # everything is here already
    assert pulled.manifest_digest == image.manifest_digest
    assert not any("/blobs/" in r for r in registry.requests)


def test_pull_picks_linux_amd64_of_an_index(store, other_store, tars):
    registry = FakeRegistry()
    session = Session(transport=httpx.MockTransport(registry))
    image = image_with_two_layers(store, tars)
    run(push(store, f"{REG}/app:1", session))
    index = canonical_json({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": [
        {"mediaType": image.descriptor.media_type, "digest": "sha256:" + "0" * 64, "size": 5,
         "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": image.descriptor.media_type, "digest": image.manifest_digest, "size": image.manifest_size,
         "platform": {"os": "linux", "architecture": "amd64"}}]})
    registry.manifests[("app", "multi")] = (index, DOCKER_MANIFEST_LIST)
    pulled, messages = run(pull(other_store, f"{REG}/app:multi", session))
    assert pulled.manifest_digest == image.manifest_digest
    assert messages[-2]["status"] == f"Digest: {image.manifest_digest}"


def test_corrupt_layer_refused_and_nothing_named(store, other_store, tars):
    registry = FakeRegistry()
    session = Session(transport=httpx.MockTransport(registry))
    image = image_with_two_layers(store, tars)
    run(push(store, f"{REG}/app:1", session))
    registry.corrupt.add(image.manifest.layers[1].digest)
    with pytest.raises(InvalidArgument, match="does not match"):
        run(pull(other_store, f"{REG}/app:1", session))
    assert other_store.images() == []
    assert not other_store.blobs.has(image.manifest.layers[1].digest)


def test_pull_by_digest_checks_the_manifest(store, other_store, tars):
    registry = FakeRegistry()
    session = Session(transport=httpx.MockTransport(registry))
    image = image_with_two_layers(store, tars)
    run(push(store, f"{REG}/app:1", session))
    pulled, _ = run(pull(other_store, f"{REG}/app@{image.manifest_digest}", session))
    assert pulled.tags == () and pulled.id == image.id
    wrong = "sha256:" + "1" * 64
    registry.manifests[("app", wrong)] = registry.manifests[("app", "1")]
    with pytest.raises(InvalidArgument, match="does not match"):
        run(pull(other_store, f"{REG}/app@{wrong}", session))


def test_unknown_manifest_is_one_line_not_found(store):
    session = Session(transport=httpx.MockTransport(FakeRegistry()))
    with pytest.raises(NotFound) as err:
        run(pull(store, f"{REG}/nope", session))
    assert err.value.message == f"manifest for {REG}/nope:latest not found: manifest unknown"
    assert err.value.hint


def test_unreachable_registry(store):
    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(SystemFailure, match=f"cannot reach registry http://{REG}: .*Connection refused") as err:
        run(pull(store, f"{REG}/x", Session(transport=httpx.MockTransport(refuse))))
    assert "\n" not in err.value.message and err.value.hint


@pytest.mark.parametrize("kind", ["basic", "bearer"])
def test_auth_flows(store, other_store, tars, kind):
    registry = FakeRegistry(auth=(kind, "alice", "s3cret"))
    transport = httpx.MockTransport(registry)
    image_with_two_layers(store, tars)
    good = Session(credentials=lambda d: Credentials("alice", "s3cret"), transport=transport)
    run(push(store, f"{REG}/app:1", good))
    assert run(pull(other_store, f"{REG}/app:1", good))[0].tags
    with pytest.raises(Unauthorized) as err:
        run(pull(other_store, f"{REG}/app:1", Session(transport=transport)))
    assert err.value.hint == f"vessel login {REG}"
    bad = Session(credentials=lambda d: Credentials("alice", "wrong"), transport=transport)
    with pytest.raises(Unauthorized):
        run(pull(other_store, f"{REG}/app:1", bad))
    assert login(REG, Credentials("alice", "s3cret"), Session(transport=transport)) == REG
    with pytest.raises(Unauthorized, match="incorrect username or password"):
        login(REG, Credentials("alice", "wrong"), Session(transport=transport))


def test_push_needs_the_local_tag(store):
    with pytest.raises(NotFound, match="An image does not exist locally with the tag"):
        run(push(store, f"{REG}/absent:1", Session(transport=httpx.MockTransport(FakeRegistry()))))
