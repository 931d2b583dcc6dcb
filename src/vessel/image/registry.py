"""An OCI Distribution client on httpx: pull into the store, push out of it, log in.

```
pull(store, "127.0.0.1:5000/busybox")          push(store, "127.0.0.1:5000/busybox:latest")
  GET  /v2/<repo>/manifests/<tag>               HEAD /v2/<repo>/blobs/<digest>     (skip existing)
   (index/list -> linux/amd64 -> by digest)     POST /v2/<repo>/blobs/uploads/     -> Location
  GET  /v2/<repo>/blobs/<config>                PUT  <Location>&digest=<digest>    (monolithic)
  GET  /v2/<repo>/blobs/<layer>  (missing only) PUT  /v2/<repo>/manifests/<tag>
  -> verify digests, unpack, Store.name_manifest (the registry's manifest, byte for byte)
```
A 401 answer is met once per client: ``Bearer`` challenges fetch a token from
the realm (with basic credentials when there are some), ``Basic`` ones resend
with the credentials.  ``pull`` and ``push`` are generators of docker's JSON
progress messages that return the result (``drive`` runs one).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator, Iterable, Iterator, TypeVar

import httpx

from vessel.errors import InvalidArgument, NotFound, SystemFailure, Unsupported, VesselError
from vessel.image import distribution as D
from vessel.image.credentials import Credentials, encode_auth
from vessel.image.layers import chain_ids
from vessel.image.reference import Reference, parse_reference
from vessel.image.store import Image, Store, check_layers
from vessel.oci.image import MANIFEST_TYPES, parse_config, parse_index, parse_json, parse_manifest

CHUNK = 1 << 20
PROGRESS_EVERY = 4 << 20
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
T = TypeVar("T")
Steps = Generator[D.Message, None, T]


class Unauthorized(VesselError):
    """The registry refused the credentials (or wants some)."""

    http_status = 401


@dataclass(frozen=True)
class PushResult:
    reference: Reference
    digest: str
    size: int


def drive(steps: "Steps[T]", emit: Callable[[D.Message], None]) -> T:
    """Run a pull/push generator, handing each progress message to ``emit``; its result."""
    while True:
        try:
            emit(next(steps))
        except StopIteration as stop:
            return stop.value


# -- the HTTP client ------------------------------------------------------------------------------


def offline() -> bool:
    """$VESSEL_OFFLINE set (the test suite sets it): only loopback registries may be contacted."""
    return os.environ.get("VESSEL_OFFLINE", "").lower() not in ("", "0", "false", "no")


def _only_loopback_when_offline(request: httpx.Request) -> None:
    """httpx request hook: every request (redirects and token servers too) passes here."""
    if offline() and not D.is_loopback_host(request.url.host):
        raise Unsupported(f"not contacting {request.url.host}: vessel is offline (VESSEL_OFFLINE is set)",
                          host=request.url.host,
                          hint="unset VESSEL_OFFLINE to use remote registries, or load/import/build the image")


class RegistryClient:
    """One repository of one registry, with the auth state of a session."""

    def __init__(self, endpoint: D.Endpoint, repo: str, creds: Credentials = Credentials(), *, push: bool = False,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.endpoint = endpoint
        self.repo = repo
        self.creds = creds
        self.scopes = [D.repo_scope(repo, push)] if repo else []
        self.http = httpx.Client(transport=transport, timeout=TIMEOUT, follow_redirects=True,
                                 event_hooks={"request": [_only_loopback_when_offline]})
        self.authorization: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests with auth and error translation --------------------------------------------

    def _send(self, method: str, url: str, headers: dict[str, str], content: Callable[[], object] | None) -> httpx.Response:
        hdrs = dict(headers)
        if self.authorization:
            hdrs["Authorization"] = self.authorization
        try:
            req = self.http.build_request(method, url, headers=hdrs, content=content() if content else None)
            return self.http.send(req, stream=True)
        except httpx.TransportError as err:
            raise unreachable(self.endpoint, err) from err

    @contextlib.contextmanager
    def call(self, method: str, path: str, *, headers: dict[str, str] | None = None,
             content: Callable[[], object] | None = None) -> Iterator[httpx.Response]:
        """A streamed response (auth handled once); the caller checks its status."""
        url = path if path.startswith(("http://", "https://")) else self.endpoint.url(path)
        resp = self._send(method, url, headers or {}, content)
        try:
            if resp.status_code == 401 and self.authorization is None:
                challenge = resp.headers.get("www-authenticate", "")
                resp.read()
                resp.close()
                self.authenticate(challenge)
                resp = self._send(method, url, headers or {}, content)
            yield resp
        finally:
            resp.close()

    def authenticate(self, header: str) -> None:
        """Answer a 401's challenge: a bearer token from the realm, or basic credentials."""
        host = self.endpoint.host
        if not header:
            raise Unauthorized(f"{host}: unauthorized (401) without a WWW-Authenticate challenge",
                               hint=f"vessel login {host}")
        challenge = D.parse_challenge(header)
        if challenge.scheme == "basic":
            if not self.creds:
                raise Unauthorized(f"{host}: unauthorized: authentication required", hint=f"vessel login {host}")
            self.authorization = "Basic " + encode_auth(self.creds.username, self.creds.password)
            return
        if challenge.scheme != "bearer":
            raise Unauthorized(f"{host}: unsupported auth scheme {challenge.scheme!r}")
        self.authorization = "Bearer " + self._token(challenge)

    def _token(self, challenge: D.Challenge) -> str:
        url = D.token_url(challenge, self.scopes)
        auth = (self.creds.username, self.creds.password or self.creds.identity_token) if self.creds else None
        try:
            resp = self.http.get(url, auth=auth)
        except httpx.TransportError as err:
            raise unreachable(D.Endpoint(httpx.URL(url).host), err) from err
        if resp.status_code in (401, 403):
            raise Unauthorized(f"{self.endpoint.host}: unauthorized: incorrect username or password",
                               hint=f"vessel login {self.endpoint.host}")
        if resp.status_code != 200:
            raise SystemFailure(f"token server {challenge.realm} answered {resp.status_code}",
                                status=resp.status_code)
        data = parse_json(resp.content, f"token from {challenge.realm}")
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise SystemFailure(f"token server {challenge.realm} sent no token")
        return token

    def fail(self, resp: httpx.Response, what: str) -> VesselError:
        """The error an unexpected answer stands for (one line, with a hint)."""
        resp.read()
        code, message = registry_error_text(resp)
        host = self.endpoint.host
        if resp.status_code in (401, 403):
            return Unauthorized(f"{what}: {message or 'unauthorized: authentication required'}",
                                hint=f"vessel login {host}", code=code, registry=host)
        if resp.status_code == 404:
            return NotFound(f"{what} not found: {message or 'unknown to the registry'}", code=code, registry=host,
                            hint="check the repository name and tag")
        return SystemFailure(f"{what}: registry {host} answered {resp.status_code} {message}".rstrip(),
                             status=resp.status_code, code=code, registry=host)

    # -- the protocol -----------------------------------------------------------------------

    def ping(self) -> None:
        with self.call("GET", "/v2/") as resp:
            if resp.status_code != 200:
                raise self.fail(resp, f"login to {self.endpoint.host}")

    def get_manifest(self, ref: str) -> tuple[bytes, str, str]:
        """(body, content type, digest of the body) of the manifest ``ref`` (tag or digest)."""
        with self.call("GET", f"/v2/{self.repo}/manifests/{ref}", headers={"Accept": D.ACCEPT_MANIFESTS}) as resp:
            if resp.status_code != 200:
                sep = "@" if ref.startswith("sha256:") else ":"
                raise self.fail(resp, f"manifest for {self.endpoint.host}/{self.repo}{sep}{ref}")
            body = read_limited(resp, D.MAX_MANIFEST, f"manifest {ref}")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise InvalidArgument(f"manifest {ref} from {self.endpoint.host}/{self.repo}: content digest {digest} "
                                  "does not match", hint="the registry or a proxy altered the data", actual=digest)
        return body, resp.headers.get("content-type", ""), digest

    def get_blob_bytes(self, digest: str, what: str) -> bytes:
        with self.call("GET", f"/v2/{self.repo}/blobs/{digest}") as resp:
            if resp.status_code != 200:
                raise self.fail(resp, f"{what} {digest} of {self.endpoint.host}/{self.repo}")
            data = read_limited(resp, D.MAX_MANIFEST * 4, f"{what} {digest}")
        check_digest(hashlib.sha256(data).hexdigest(), digest, f"{what} from {self.endpoint.host}/{self.repo}")
        return data

    def fetch_blob(self, digest: str, size: int, out: Path) -> Iterator[D.Message]:
        """Download a blob into ``out`` (verified), yielding docker's Downloading ticks."""
        h = hashlib.sha256()
        done, last = 0, 0
        with self.call("GET", f"/v2/{self.repo}/blobs/{digest}") as resp, open(out, "wb") as f:
            if resp.status_code != 200:
                raise self.fail(resp, f"layer {digest} of {self.endpoint.host}/{self.repo}")
            try:
                for chunk in resp.iter_bytes(CHUNK):
                    h.update(chunk)
                    f.write(chunk)
                    done += len(chunk)
                    if done - last >= PROGRESS_EVERY:
                        last = done
                        yield D.layer_msg(digest, "Downloading", done, size)
            except httpx.TransportError as err:
                raise unreachable(self.endpoint, err) from err
        yield D.layer_msg(digest, "Verifying Checksum")
        check_digest(h.hexdigest(), digest, f"layer from {self.endpoint.host}/{self.repo}")
        yield D.layer_msg(digest, "Download complete")

    def blob_exists(self, digest: str) -> bool:
        with self.call("HEAD", f"/v2/{self.repo}/blobs/{digest}") as resp:
            if resp.status_code == 200:
                return True
            if resp.status_code == 404:
                return False
            raise self.fail(resp, f"blob {digest} of {self.endpoint.host}/{self.repo}")

    def upload_blob(self, digest: str, size: int, opener: Callable[[], object]) -> None:
        """POST an upload session, then PUT the whole blob in one request (monolithic upload)."""
        with self.call("POST", f"/v2/{self.repo}/blobs/uploads/", headers={"Content-Length": "0"}) as resp:
            if resp.status_code != 202 or not resp.headers.get("location"):
                raise self.fail(resp, f"upload of {digest} to {self.endpoint.host}/{self.repo}")
            location = str(resp.url.join(resp.headers["location"]))
        sep = "&" if "?" in location else "?"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        with self.call("PUT", f"{location}{sep}digest={digest}", headers=headers, content=opener) as resp:
            if resp.status_code not in (201, 204):
                raise self.fail(resp, f"upload of {digest} to {self.endpoint.host}/{self.repo}")

    def put_manifest(self, tag: str, body: bytes, media_type: str) -> str:
        with self.call("PUT", f"/v2/{self.repo}/manifests/{tag}", headers={"Content-Type": media_type},
                       content=lambda: body) as resp:
            if resp.status_code not in (200, 201):
                raise self.fail(resp, f"manifest {self.endpoint.host}/{self.repo}:{tag}")
            return resp.headers.get("docker-content-digest") or "sha256:" + hashlib.sha256(body).hexdigest()


def read_limited(resp: httpx.Response, limit: int, what: str) -> bytes:
    data = bytearray()
    for chunk in resp.iter_bytes(CHUNK):
        data += chunk
        if len(data) > limit:
            raise InvalidArgument(f"{what} is larger than {limit} bytes")
    return bytes(data)


def check_digest(actual_hex: str, expected: str, what: str) -> None:
    actual = "sha256:" + actual_hex
    if actual != expected:
        raise InvalidArgument(f"{what}: content digest {actual} does not match {expected}",
                              hint="the registry or a proxy altered the data; nothing was stored",
                              expected=expected, actual=actual)


def registry_error_text(resp: httpx.Response) -> tuple[str, str]:
    """(code, message) of a registry's ``{"errors": [{"code", "message"}]}`` body (empty if none)."""
    try:
        data = parse_json(resp.content, "registry error")
        first = data["errors"][0]
        return str(first.get("code", "")), str(first.get("message", "")).strip()
    except (VesselError, KeyError, IndexError, TypeError, AttributeError):
        return "", ""


def unreachable(endpoint: D.Endpoint, err: Exception) -> SystemFailure:
    reason = str(err) or type(err).__name__
    return SystemFailure(f"cannot reach registry {endpoint.base}: {reason}", registry=endpoint.host,
                         hint="check the registry's name and port and that it runs; vessel speaks plain http only "
                              "to loopback hosts and --insecure-registry ones")


@dataclass(frozen=True)
class Session:
    """What every registry operation needs besides the store: credentials, insecure hosts, the transport."""

    credentials: Callable[[str], Credentials] = lambda domain: Credentials()
    insecure: tuple[str, ...] = ()
    transport: httpx.BaseTransport | None = None

    def client(self, ref: Reference, push: bool = False) -> RegistryClient:
        return RegistryClient(D.endpoint_for(ref.domain, self.insecure), ref.path, self.credentials(ref.domain),
                              push=push, transport=self.transport)


# -- pull -----------------------------------------------------------------------------------------


def pull(store: Store, text: str, session: Session = Session()) -> "Steps[Image]":
    """docker pull: the manifest (linux/amd64 of an index), config and missing layers, verified and named."""
    ref = parse_reference(text)
    with session.client(ref) as client:
        body, media_type, digest = client.get_manifest(ref.digest or ref.tag or "latest")
        yield D.pull_header(ref)
        if D.manifest_kind(media_type, _json_object(body, digest)) == "index":
            chosen = D.select_platform(parse_index(body, f"index {digest}"), f"{ref.familiar}")
            body, media_type, digest = client.get_manifest(chosen)
            if D.manifest_kind(media_type, _json_object(body, digest)) != "manifest":
                raise InvalidArgument(f"{ref.familiar}: index entry {chosen} is not an image manifest")
        tags = [] if ref.digest else [ref]
        have = next((i for i in store.images() if i.manifest_digest == digest), None)
        if have is not None and (not tags or any(str(t) == str(ref) for t in have.tags)):
            yield from D.pull_footer(ref, digest, updated=False)
            return have
        manifest = parse_manifest(body, f"manifest {digest}")
        config_bytes = (store.blobs.read(manifest.config.digest, "image config")
                        if store.blobs.has(manifest.config.digest)
                        else client.get_blob_bytes(manifest.config.digest, "image config"))
        config = parse_config(config_bytes, f"image config {manifest.config.digest}")
        check_layers(manifest, config, f"{ref.familiar}: manifest {digest}")
        with store.using_blobs():
            yield from _pull_layers(store, client, manifest.layers, config.rootfs.diff_ids)
            store.blobs.put_bytes(config_bytes, manifest.config.digest, "image config")
            image = store.name_manifest(body, tags)
        yield from D.pull_footer(ref, digest, updated=True)
        return image


def _json_object(body: bytes, digest: str) -> dict:
    data = parse_json(body, f"manifest {digest}")
    if not isinstance(data, dict):
        raise InvalidArgument(f"manifest {digest} is not a JSON object")
    return data


def _pull_layers(store: Store, client: RegistryClient, layers: list, diff_ids: list[str]) -> Iterator[D.Message]:
    chains = chain_ids(diff_ids)
    missing = [i for i, layer in enumerate(layers)
               if not (store.blobs.has(layer.digest) and store.snapshots.meta(chains[i]))]
    for i, layer in enumerate(layers):
        yield D.layer_msg(layer.digest, "Pulling fs layer" if i in missing else "Already exists")
    lowers: list[Path] = []
    for i, layer in enumerate(layers):
        if i in missing:
            if store.blobs.has(layer.digest):
                with store.blobs.open(layer.digest) as f:
                    yield D.layer_msg(layer.digest, "Extracting")
                    store.ingest_layer(f, chains[i - 1] if i else None, lowers, diff_ids[i], layer.digest)
            else:
                yield from _download_layer(store, client, layer, chains[i - 1] if i else None, lowers, diff_ids[i])
            yield D.layer_msg(layer.digest, "Pull complete")
        lowers.insert(0, store.snapshots.fs(chains[i]))


def _download_layer(store: Store, client: RegistryClient, layer, parent: str | None, lowers: list[Path],
                    diff_id: str) -> Iterator[D.Message]:
    fd, tmp = tempfile.mkstemp(dir=store.tmp, prefix="pull-")
    os.close(fd)
    try:
        yield from client.fetch_blob(layer.digest, layer.size, Path(tmp))
        yield D.layer_msg(layer.digest, "Extracting")
        with open(tmp, "rb") as f:
            store.ingest_layer(f, parent, lowers, diff_id, layer.digest, f"layer {layer.digest}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# -- push -----------------------------------------------------------------------------------------


def push(store: Store, text: str, session: Session = Session()) -> "Steps[PushResult]":
    """docker push: every blob the registry lacks (HEAD first), then the manifest by tag."""
    ref = parse_reference(text)
    if ref.digest:
        raise InvalidArgument(f"cannot push a digest reference: {text}", hint="push a tag", value=text)
    image = store.find(text)
    if image is None or not any(str(t) == str(ref) for t in image.tags):
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}",
                       hint=f"tag it first: vessel tag IMAGE {ref.familiar}", image=text)
    yield D.push_header(ref)
    with session.client(ref, push=True) as client:
        pairs = list(zip(image.manifest.layers, image.diff_ids))[::-1]
        for _, diff_id in pairs:
            yield D.msg("Preparing", diff_id.split(":")[-1][:12], progressDetail={})
        for layer, diff_id in pairs:
            short = diff_id.split(":")[-1][:12]
            if client.blob_exists(layer.digest):
                yield D.msg("Layer already exists", short, progressDetail={})
                continue
            yield D.msg("Pushing", short, progressDetail={})
            client.upload_blob(layer.digest, layer.size, _chunks_of(store, layer.digest))
            yield D.msg("Pushed", short, progressDetail={})
        config = image.manifest.config
        if not client.blob_exists(config.digest):
            client.upload_blob(config.digest, config.size, _chunks_of(store, config.digest))
        body = store.blobs.read(image.manifest_digest, "manifest")
        digest = client.put_manifest(ref.tag or "latest", body, image.descriptor.media_type or MANIFEST_TYPES[0])
        yield from D.push_footer(ref.tag or "latest", digest, len(body))
        return PushResult(ref, digest, len(body))


def _chunks_of(store: Store, digest: str) -> Callable[[], Iterable[bytes]]:
    def opener() -> Iterable[bytes]:
        with store.blobs.open(digest) as f:
            while chunk := f.read(CHUNK):
                yield chunk
    return opener


# -- login ----------------------------------------------------------------------------------------


def login(server: str | None, creds: Credentials, session: Session = Session()) -> str:
    """Check ``creds`` against the registry (GET /v2/ through its challenge); the normalised server name."""
    domain = D.normalize_server(server)
    client = RegistryClient(D.endpoint_for(domain, session.insecure), "", creds, transport=session.transport)
    with client:
        with client.call("GET", "/v2/") as resp:
            status = resp.status_code
            if status == 401:
                raise Unauthorized(f"login to {domain} failed: unauthorized: incorrect username or password",
                                   hint="check the user name and password")
            if status != 200:
                raise client.fail(resp, f"login to {domain}")
    return domain
