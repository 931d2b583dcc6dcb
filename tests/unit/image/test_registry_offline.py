"""VESSEL_OFFLINE: only loopback registries are contacted (redirects and token servers included)."""

from __future__ import annotations

import httpx
import pytest

from vessel.errors import Unsupported
from vessel.image import distribution as D
from vessel.image.registry import RegistryClient

pytestmark = pytest.mark.unit


def client(seen: list[str], host: str) -> RegistryClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "127.0.0.1":
            return httpx.Response(307, headers={"Location": "https://blobs.example.com/x"})
        return httpx.Response(200)
    return RegistryClient(D.Endpoint(host, "http"), "r", transport=httpx.MockTransport(answer))


def test_offline_refuses_remote_hosts_and_redirects_to_them(monkeypatch):
    monkeypatch.setenv("VESSEL_OFFLINE", "1")
    seen: list[str] = []
    with client(seen, "registry-1.docker.io") as c, pytest.raises(Unsupported, match="vessel is offline"):
        c.http.get("http://registry-1.docker.io/v2/")
    assert seen == []                                   # never reached the transport
    with client(seen, "127.0.0.1:5000") as c, pytest.raises(Unsupported, match="blobs.example.com"):
        c.http.get("http://127.0.0.1:5000/v2/r/blobs/sha256:0")
    assert seen == ["http://127.0.0.1:5000/v2/r/blobs/sha256:0"]


def test_online_remote_hosts_are_allowed(monkeypatch):
    monkeypatch.setenv("VESSEL_OFFLINE", "0")
    seen: list[str] = []
    with client(seen, "registry.example.com") as c:
        assert c.http.get("http://registry.example.com/v2/").status_code == 200
    assert seen == ["http://registry.example.com/v2/"]
