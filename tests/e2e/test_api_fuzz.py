"""The API surface under hostile input: hypothesis-generated bodies and queries against each endpoint, raw
protocol garbage, oversized and cut-off bodies, slow and many concurrent clients.

The rule: a 4xx with a `{"message": ...}` body (or a clean close for a request that is not HTTP), never
an unexpected 500, a hang, or a dead daemon.  501 is allowed (a field vessel does not implement); a 500
whose message is an expected failure of the system is allowed, an "internal error" (an exception the
code did not expect) is not.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

pytestmark = [pytest.mark.e2e]

from support import Daemon

if os.geteuid() != 0:
    pytest.skip("the engine needs root", allow_module_level=True)

FUZZ = settings(max_examples=int(os.environ.get("VESSEL_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("vessel", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Api:
    def __init__(self, sock: str) -> None:
        self.sock = sock

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict | None = None) -> tuple[int, bytes]:
        conn = UnixHTTP(self.sock)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, obj=None):
        status, data = self.call(method, path, None if obj is None else json.dumps(obj).encode())
        assert status < 300, (status, data)
        return json.loads(data) if data.strip() else None

    def alive(self) -> bool:
        return self.call("GET", "/_ping") == (200, b"OK")


def check(status: int, data: bytes, what: str) -> None:
    event(f"status {status}")
    assert status < 500 or status == 501 or (status == 500 and b"internal error" not in data), (what, status, data)
    if status >= 400:
        assert "message" in json.loads(data), (what, data)


@pytest.fixture(scope="module")
def api(request):
    d = Daemon("vdf-")
    failed_before = request.session.testsfailed
    d.start()
    a = Api(d.sock)
    clean = False
    try:
        a.json("POST", "/containers/create?name=fuzz-target", {"Image": "busybox", "Cmd": ["sleep", "600"]})
        a.json("POST", "/containers/fuzz-target/start")
        a.json("POST", "/networks/create", {"Name": "fuzz-net"})
        a.json("POST", "/volumes/create", {"Name": "fuzz-vol"})
        yield a
        assert d.alive(), "the daemon died during the fuzzing: " + d.log.read_text()[-3000:]
        errors = [l for l in d.log.read_text().splitlines() if " ERROR " in l]
        assert errors == [], "unexpected exceptions were logged (see the daemon log):\n" + "\n".join(errors[:20])
        clean = True
    finally:
        d.finish(not clean or request.session.testsfailed > failed_before)


# -- strategies ------------------------------------------------------------------------------------

CREATE_KEYS = ["Image", "Cmd", "Entrypoint", "Env", "HostConfig", "NetworkingConfig", "Labels", "ExposedPorts",
               "Volumes", "Tty", "OpenStdin", "User", "WorkingDir", "StopSignal", "StopTimeout", "Hostname",
               "AttachStdin", "MacAddress", "Healthcheck", "Shell"]
HOST_KEYS = ["Binds", "Mounts", "PortBindings", "Memory", "MemorySwap", "NanoCpus", "CpuShares", "Privileged",
             "CapAdd", "CapDrop", "RestartPolicy", "AutoRemove", "NetworkMode", "Dns", "ExtraHosts", "Ulimits",
             "Tmpfs", "Sysctls", "LogConfig", "PidsLimit", "ShmSize", "ReadonlyRootfs", "SecurityOpt", "Devices",
             "IpcMode", "Init", "CgroupnsMode", "OomScoreAdj", "Runtime", "PublishAllPorts"]
OTHER_KEYS = ["Name", "Driver", "Labels", "Options", "IPAM", "Internal", "EnableIPv6", "Container",
              "EndpointConfig", "Force", "DriverOpts", "Cmd", "Env", "User", "WorkingDir", "Tty", "AttachStdin",
              "AttachStdout", "AttachStderr", "Privileged", "Detach", "ConsoleSize", "Memory", "CpuShares",
              "RestartPolicy", "PidsLimit", "username", "password", "serveraddress", "CpusetCpus"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**64)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=16)
           | st.sampled_from(["busybox", "", "/", "/tmp:/x", "80/tcp", "0.0.0.0", "always", "none", "host",
                              "volume", "bind", "tmpfs", "sh", "-1", "1g", "fuzz-net", "fuzz-vol", "fuzz-target"]))


def json_like(keys: list[str]):
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), inner, max_size=5),
                        max_leaves=16)


create_bodies = st.fixed_dictionaries(
    {"Image": st.sampled_from(["busybox", "busybox:latest"]) | scalars},
    optional={**{k: json_like(CREATE_KEYS) for k in CREATE_KEYS if k not in ("Image", "HostConfig")},
              "HostConfig": st.dictionaries(st.sampled_from(HOST_KEYS), json_like(HOST_KEYS), max_size=5)
              | json_like(HOST_KEYS)})
# bodies that are mostly well-typed, so the fuzzing reaches past the type checks into the engine
ports = st.dictionaries(st.sampled_from(["80/tcp", "53/udp", "8080", "x/tcp", "70000/tcp"]),
                        st.lists(st.fixed_dictionaries({}, optional={"HostIp": st.sampled_from(["", "127.0.0.1", "::1",
                                                                                                 "nope"]),
                                                                     "HostPort": st.sampled_from(["", "0", "1-2", "x",
                                                                                                  "65536"])}),
                                 max_size=2) | st.none(), max_size=2)
plausible_host = st.fixed_dictionaries({}, optional={
    "Memory": st.integers(min_value=-1, max_value=1 << 34), "NanoCpus": st.integers(min_value=-1, max_value=10**10),
    "CpuShares": st.integers(min_value=-1, max_value=300000), "PidsLimit": st.integers(min_value=-1, max_value=1000),
    "Binds": st.lists(st.sampled_from(["fuzz-vol:/data", "/tmp:/hosttmp:ro", "x", "/nonexistent:/a", ":/b",
                                       "vol:/c:z", "/tmp:/d:rw,shared", "a:b:c:d"]), max_size=3),
    "Tmpfs": st.dictionaries(st.sampled_from(["/run", "/tmp", "rel", ""]), st.sampled_from(["", "size=1m", "bad"]),
                             max_size=2),
    "PortBindings": ports, "PublishAllPorts": st.booleans(), "Privileged": st.booleans(), "Init": st.booleans(),
    "CapAdd": st.lists(st.sampled_from(["NET_ADMIN", "CAP_SYS_TIME", "ALL", "BOGUS"]), max_size=2),
    "RestartPolicy": st.fixed_dictionaries({"Name": st.sampled_from(["", "no", "always", "on-failure", "x"])},
                                           optional={"MaximumRetryCount": st.integers(-1, 5)}),
    "NetworkMode": st.sampled_from(["", "default", "bridge", "none", "host", "fuzz-net", "container:fuzz-target",
                                    "container:ghost", "ghost-net"]),
    "Ulimits": st.lists(st.fixed_dictionaries({"Name": st.sampled_from(["nofile", "nproc", "bogus"]),
                                               "Soft": st.integers(-1, 5000), "Hard": st.integers(-1, 5000)}),
                        max_size=2),
    "ShmSize": st.integers(min_value=-1, max_value=1 << 30), "ReadonlyRootfs": st.booleans(),
    "Mounts": st.lists(st.fixed_dictionaries({"Type": st.sampled_from(["volume", "bind", "tmpfs", "npipe"]),
                                              "Target": st.sampled_from(["/m", "rel", "/", ""])},
                                             optional={"Source": st.sampled_from(["", "fuzz-vol", "/tmp", "a b"]),
                                                       "ReadOnly": st.booleans()}), max_size=2),
    "ExtraHosts": st.lists(st.sampled_from(["a:1.2.3.4", "b:nope", "host-gateway"]), max_size=2),
    "Dns": st.lists(st.sampled_from(["1.1.1.1", "::1", "x"]), max_size=2),
    "Sysctls": st.dictionaries(st.sampled_from(["net.ipv4.ip_forward", "kernel.shmmax", "x"]), st.just("1"),
                               max_size=1),
    "SecurityOpt": st.lists(st.sampled_from(["no-new-privileges", "seccomp=unconfined", "apparmor=x", "label=y"]),
                            max_size=2),
    "AutoRemove": st.booleans(), "OomScoreAdj": st.integers(-1001, 1001),
})
plausible_create = st.fixed_dictionaries({"Image": st.sampled_from(["busybox", "busybox:latest", "ghost", "BAD//x"])},
                                         optional={
    "Cmd": st.lists(st.text(max_size=8), max_size=3) | st.text(max_size=8),
    "Entrypoint": st.lists(st.text(max_size=8), max_size=2) | st.just([""]),
    "Env": st.lists(st.sampled_from(["A=1", "B", "=x", "PATH=/bin", "C=" + "y" * 100]), max_size=3),
    "User": st.sampled_from(["", "root", "1000:1000", "nobody", "ghost", "0:ghost"]),
    "WorkingDir": st.sampled_from(["", "/tmp", "relative", "/new/dir"]),
    "Labels": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
    "ExposedPorts": st.dictionaries(st.sampled_from(["80/tcp", "x", "53/udp"]), st.just({}), max_size=2),
    "Volumes": st.dictionaries(st.sampled_from(["/vol", "rel", "/"]), st.just({}), max_size=2),
    "Tty": st.booleans(), "OpenStdin": st.booleans(), "StopSignal": st.sampled_from(["TERM", "SIGKILL", "99", "X"]),
    "StopTimeout": st.integers(-5, 100), "Hostname": st.sampled_from(["h", "-bad", "a" * 80]),
    "HostConfig": plausible_host,
    "NetworkingConfig": st.fixed_dictionaries({"EndpointsConfig": st.dictionaries(
        st.sampled_from(["fuzz-net", "bridge", "ghost"]), st.fixed_dictionaries({}, optional={
            "Aliases": st.lists(st.sampled_from(["a", "b c"]), max_size=2),
            "IPAMConfig": st.fixed_dictionaries({"IPv4Address": st.sampled_from(["10.89.0.50", "x", "1.2.3.4"])})}),
        max_size=2)})})
other_bodies = st.dictionaries(st.sampled_from(OTHER_KEYS), json_like(OTHER_KEYS), max_size=6) | json_like(OTHER_KEYS)
raw_bodies = st.binary(max_size=200) | st.sampled_from([b"{", b"[]", b"null", b"NaN", b"{\"a\":" * 5000,
                                                        b"\xff\xfe{}", b"1e999999", b'"' + b"x" * 1000])


def _cleanup_after_create(api: Api, data: bytes, volumes_before: set[str]) -> None:
    cid = json.loads(data)["Id"]
    status, body = api.call("DELETE", f"/containers/{cid}?force=1&v=1")
    assert status == 204, body
    for vol in api.json("GET", "/volumes")["Volumes"]:
        if vol["Name"] not in volumes_before:
            api.call("DELETE", f"/volumes/{vol['Name']}?force=1")


@FUZZ
@given(body=create_bodies | plausible_create | plausible_create | other_bodies, raw=raw_bodies,
       use_raw=st.integers(0, 5).map(lambda n: n == 0))
def test_container_create_bodies(api, body, raw, use_raw):
    before = {v["Name"] for v in api.json("GET", "/volumes")["Volumes"]}
    payload = raw if use_raw else json.dumps(body).encode()
    status, data = api.call("POST", "/containers/create", payload)
    check(status, data, payload[:300])
    if status == 201:
        _cleanup_after_create(api, data, before)


ENDPOINTS = [
    ("POST", "/containers/fuzz-target/update"), ("POST", "/containers/fuzz-target/exec"),
    ("POST", "/networks/create"), ("POST", "/networks/fuzz-net/connect"), ("POST", "/networks/fuzz-net/disconnect"),
    ("POST", "/volumes/create"), ("POST", "/auth"), ("POST", "/containers/ghost/exec"),
    ("POST", "/exec/ghost/start"), ("POST", "/networks/ghost/connect"),
]


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), body=other_bodies, raw=raw_bodies, use_raw=st.booleans())
def test_endpoint_bodies(api, endpoint, body, raw, use_raw):
    method, path = endpoint
    payload = raw if use_raw else json.dumps(body).encode()
    nets = {n["Name"] for n in api.json("GET", "/networks")}
    vols = {v["Name"] for v in api.json("GET", "/volumes")["Volumes"]}
    status, data = api.call(method, path, payload)
    check(status, data, (path, payload[:300]))
    for n in api.json("GET", "/networks"):
        if n["Name"] not in nets:
            api.call("DELETE", f"/networks/{n['Id']}")
    for v in api.json("GET", "/volumes")["Volumes"]:
        if v["Name"] not in vols:
            api.call("DELETE", f"/volumes/{v['Name']}?force=1")
    if path == "/containers/fuzz-target/update":
        api.call("POST", "/containers/fuzz-target/update", json.dumps({"Memory": 0, "PidsLimit": 0}).encode())


QUERIES = ["/containers/json?all=1&filters={}", "/images/json?filters={}", "/networks?filters={}",
           "/volumes?filters={}", "/containers/json?limit={}", "/containers/fuzz-target/logs?stdout=1&tail={}",
           "/containers/fuzz-target/logs?stdout=1&since={}", "/events?until=1&since={}", "/events?until=1&filters={}",
           "/containers/fuzz-target/top?ps_args={}", "/containers/fuzz-target/archive?path={}",
           "/containers/fuzz-target/stats?stream=0&one-shot=1&x={}", "/images/{}/json", "/containers/{}/json",
           "/containers/fuzz-target/wait?condition={}&x=", "/images/search?term={}", "/system/df?type={}"]
query_values = st.text(max_size=40) | st.sampled_from(['{"status":["running"]}', '{"status":{"running":true}}',
                                                       '{"label":["a=b"]}', "[", "-1", "99999999999999999999", "..",
                                                       "/etc/../../..", "all", "-ef", "aux", "--sort=pid"])


@FUZZ
@given(template=st.sampled_from(QUERIES), value=query_values)
def test_queries(api, template, value):
    if "wait?" in template and value in ("", "not-running"):
        value = "next-exit-typo"  # a valid condition would wait for the sleeper
    path = template.format(quote(value, safe=""))
    method = "HEAD" if "archive" in template and len(value) % 2 else "GET"
    status, data = api.call(method, path)
    if method == "HEAD":
        assert status < 500 or status == 501, (path, status)
        return
    check(status, data, path)


@FUZZ
@given(garbage=st.binary(min_size=1, max_size=300) | st.text(max_size=300).map(str.encode))
def test_raw_protocol_garbage(api, garbage):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(api.sock)
    try:
        s.sendall(garbage + b"\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            reply += data
        assert reply == b"" or reply.startswith(b"HTTP/1.1 "), reply[:200]
    finally:
        s.close()
    assert api.alive()


def test_oversized_and_cut_bodies(api):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(api.sock)
    body = b'{"Image": "' + b"x" * (9 << 20) + b'"}'
    try:
        s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    except BrokenPipeError:
        pass  # the daemon stopped reading at its limit and answered
    reply = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        reply += data
    s.close()
    assert reply.startswith(b"HTTP/1.1 413") and b'"message"' in reply
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(api.sock)
    s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"Image\":")
    s.shutdown(socket.SHUT_WR)
    reply = s.recv(65536)
    s.close()
    assert reply.startswith(b"HTTP/1.1 400")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(api.sock)
    s.sendall(b"POST /volumes/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\nabc")
    s.shutdown(socket.SHUT_WR)
    assert s.recv(65536).startswith(b"HTTP/1.1 400")
    s.close()
    assert api.alive()


def test_many_clients_and_slow_ones(api):
    slow = []
    for _ in range(30):  # slowloris: half a head, then nothing
        s = socket.socket(socket.AF_UNIX)
        s.connect(api.sock)
        s.sendall(b"GET /containers/json HTTP/1.1\r\nHost:")
        slow.append(s)
    failures: list[str] = []

    def client(n: int) -> None:
        paths = ["/_ping", "/containers/json", "/images/json", "/version", "/networks", "/volumes", "/info"]
        for i in range(15):
            try:
                status, _ = api.call("GET", paths[(n + i) % len(paths)])
                if status != 200:
                    failures.append(f"{paths[(n + i) % len(paths)]}: {status}")
            except OSError as err:
                failures.append(str(err))
    threads = [threading.Thread(target=client, args=(n,)) for n in range(64)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads) and failures == []
    assert time.monotonic() - started < 120
    for s in slow:
        s.close()
    assert api.alive()


def test_a_client_leaving_a_follow_stream_frees_it(api):
    s = socket.socket(socket.AF_UNIX)
    s.connect(api.sock)
    s.sendall(b"GET /containers/fuzz-target/logs?stdout=1&follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    s.close()
    e = socket.socket(socket.AF_UNIX)
    e.connect(api.sock)
    e.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert e.recv(100).startswith(b"HTTP/1.1 200")
    e.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = api.json("GET", "/info")
        if info["NEventsListener"] == 0:
            break
        time.sleep(0.1)
    assert info["NEventsListener"] == 0
    assert api.alive()
