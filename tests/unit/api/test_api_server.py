"""The HTTP server on a socketpair with stub routes: framing, keep-alive, streams, hijacking, failures."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from vessel.api.messages import Hijack, Response, Stream, Writer, json_response
from vessel.api.router import Router
from vessel.api.server import Connection, Server
from vessel.errors import NotFound

pytestmark = pytest.mark.unit


class StubDaemon:
    """What a Context needs; the stub routes never ask for an engine."""


def echo(req):
    return json_response({"body": req.body.read().decode(), "q": req.query, "v": list(req.api_version)})


def stream(req):
    def chunks():
        yield None
        yield b"one\n"
        yield b"two\n"
    return Stream(chunks())


def failing_stream(req):
    def chunks():
        raise NotFound("No such container: ghost")
        yield b""  # pragma: no cover - makes this a generator
    return Stream(chunks())


def writer(req):
    return Writer(lambda out: out.write(b"x" * 10000), content_type="application/x-tar")


def hijack(req):
    def run(conn):
        data = conn.leftover
        while not data.endswith(b"\n"):
            data += conn.sock.recv(100)
        conn.sock.sendall(b"echo:" + data)
        conn.sock.close()
    return Hijack(run)


def boom(req):
    raise RuntimeError("unexpected")


ROUTES = [("POST", "/echo", echo), ("GET", "/echo", echo), ("GET", "/stream", stream),
          ("GET", "/failing", failing_stream), ("GET", "/writer", writer), ("POST", "/hijack", hijack),
          ("GET", "/boom", boom), ("GET", "/empty", lambda r: Response(204, b"", None))]


@pytest.fixture
def serve():
    server = Server(StubDaemon(), Router(ROUTES))
    opened = []

    def connect() -> socket.socket:
        client, ours = socket.socketpair()
        opened.append(client)
        threading.Thread(target=Connection(server, ours).serve, daemon=True).start()
        client.settimeout(10)
        return client
    yield connect
    for s in opened:
        s.close()


def read_response(sock: socket.socket, head_request: bool = False) -> tuple[int, dict, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(1)
        if not data:
            raise EOFError(buf)
        buf += data
    head, _, _ = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    body = b""
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size_line = b""
            while not size_line.endswith(b"\r\n"):
                size_line += sock.recv(1)
            size = int(size_line.strip(), 16)
            data = b""
            while len(data) < size + 2:
                data += sock.recv(size + 2 - len(data))
            if size == 0:
                break
            body += data[:-2]
    elif "content-length" in headers and not head_request:
        n = int(headers["content-length"])
        while len(body) < n:
            body += sock.recv(n - len(body))
    return status, headers, body


def test_keep_alive_serves_several_requests_with_docker_headers(serve):
    c = serve()
    c.sendall(b"POST /v1.41/echo?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
              b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = read_response(c)
    assert status == 200 and json.loads(body) == {"body": "hello", "q": {"a": ["1"]}, "v": [1, 41]}
    assert headers["api-version"] and headers["ostype"] == "linux" and headers["docker-experimental"] == "false"
    status, _, body = read_response(c)
    assert status == 200 and json.loads(body)["body"] == ""


def test_chunked_request_body_and_expect_continue(serve):
    c = serve()
    c.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
    assert c.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    c.sendall(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    status, _, body = read_response(c)
    assert status == 200 and json.loads(body)["body"] == "abcde"


def test_streams_are_chunked_and_errors_before_the_first_chunk_get_their_status(serve):
    c = serve()
    c.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /failing HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = read_response(c)
    assert status == 200 and headers["transfer-encoding"] == "chunked" and body == b"one\ntwo\n"
    status, _, body = read_response(c)
    assert status == 404 and json.loads(body) == {"message": "No such container: ghost"}


def test_writer_and_head_without_body(serve):
    c = serve()
    c.sendall(b"GET /writer HTTP/1.1\r\nHost: x\r\n\r\nHEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = read_response(c)
    assert status == 200 and headers["content-type"] == "application/x-tar" and body == b"x" * 10000
    status, headers, _ = read_response(c, head_request=True)
    assert status == 200 and int(headers["content-length"]) > 0
    status, headers, body = read_response(c)  # would misparse if HEAD had sent a body
    assert status == 204 and body == b""


def test_hijack_with_upgrade_gets_101_and_the_raw_connection(serve):
    c = serve()
    c.sendall(b"POST /hijack HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhel")
    status, headers, _ = read_response(c)
    assert status == 101 and headers["upgrade"] == "tcp"
    c.sendall(b"lo\n")
    assert c.recv(100) == b"echo:hello\n"


def test_hijack_without_upgrade_is_200_then_raw(serve):
    c = serve()
    c.sendall(b"POST /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = read_response(c)
    assert status == 200 and headers["connection"] == "close"
    c.sendall(b"x\n")
    assert c.recv(100) == b"echo:x\n"


@pytest.mark.parametrize("raw,status", [
    (b"NOT HTTP\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\nContent-Length: nope\r\n\r\n", 400),
    (b"GET /echo HTTP/3.0\r\n\r\n", 505),
    (b"GET /v1.2/echo HTTP/1.1\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
])
def test_malformed_requests_get_a_4xx_and_the_connection_closes(serve, raw, status):
    c = serve()
    c.sendall(raw)
    got, _, body = read_response(c)
    assert got == status and "message" in json.loads(body)
    assert c.recv(100) == b""


def test_handler_crash_is_a_500_and_the_connection_lives_on(serve):
    c = serve()
    c.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = read_response(c)
    assert status == 500 and "RuntimeError" in json.loads(body)["message"]
    assert read_response(c)[0] == 200


def test_unknown_path_is_404_page_not_found(serve):
    c = serve()
    c.sendall(b"GET /v1.42/nothing/here HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = read_response(c)
    assert status == 404 and json.loads(body) == {"message": "page not found"}


def test_half_closed_client_still_gets_its_answer(serve):
    c = serve()
    c.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    c.shutdown(socket.SHUT_WR)
    assert read_response(c)[0] == 200
    assert c.recv(100) == b""


def test_a_client_stalling_mid_head_is_dropped_after_the_io_timeout(serve, monkeypatch):
    import vessel.api.server as server_module

    monkeypatch.setattr(server_module, "IO_TIMEOUT", 0.2)
    c = serve()
    c.sendall(b"GET /echo HTTP/1.1\r\nHost")
    assert c.recv(100) == b""  # the daemon gave up on this request (the idle timeout is far longer)


def test_http10_streams_are_raw_and_end_with_the_connection(serve):
    c = serve()
    c.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
    reply = b""
    while True:
        data = c.recv(65536)
        if not data:
            break
        reply += data
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head and body == b"one\ntwo\n"
