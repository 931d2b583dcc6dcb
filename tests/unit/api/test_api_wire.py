"""HTTP/1.1 parsing and framing: request heads, bodies (length, chunked), limits, response heads."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings, strategies as st

from vessel.api.wire import (MAX_HEAD, Body, Headers, HttpError, Reader, chunk, chunk_size, parse_head, parse_query,
                             response_head)

pytestmark = pytest.mark.unit


_OPEN: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets():
    yield
    while _OPEN:
        _OPEN.pop().close()


def reader_with(data: bytes) -> tuple[Reader, socket.socket]:
    a, b = socket.socketpair()
    _OPEN.extend((a, b))
    b.sendall(data)
    b.shutdown(socket.SHUT_WR)
    return Reader(a), b


def test_parse_head_reads_method_target_and_headers():
    head = parse_head(b"POST /v1.42/containers/create?name=web HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                      b"Connection: Upgrade\r\nUpgrade: tcp")
    assert (head.method, head.path, head.raw_query) == ("POST", "/v1.42/containers/create", "name=web")
    assert head.headers.get("content-length") == "2"
    assert head.wants_upgrade and head.keep_alive
    assert head.body_framing() == ("length", 2)


@pytest.mark.parametrize("raw,status", [
    (b"GET\r\n", 400),
    (b"GET / HTTP/2.0", 505),
    (b"GET http://x/ HTTP/1.1", 400),
    (b"G(T / HTTP/1.1", 400),
    (b"GET / HTTP/1.1\r\nno colon here", 400),
    (b"GET / HTTP/1.1\r\n folded: x", 400),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)), 431),
])
def test_malformed_heads_are_4xx_or_505(raw, status):
    with pytest.raises(HttpError) as err:
        parse_head(raw)
    assert err.value.status == status


def test_body_framing_rules():
    def framing(*headers):
        return parse_head(b"POST / HTTP/1.1\r\n" + b"\r\n".join(headers)).body_framing()
    assert framing(b"Transfer-Encoding: chunked") == ("chunked", 0)
    assert framing(b"Host: x") == ("none", 0)
    with pytest.raises(HttpError) as err:
        framing(b"Transfer-Encoding: gzip, chunked")
    assert err.value.status == 501
    with pytest.raises(HttpError):
        framing(b"Content-Length: -1")
    with pytest.raises(HttpError):
        framing(b"Content-Length: 3", b"Content-Length: 4")


def test_http10_closes_unless_keep_alive():
    assert not parse_head(b"GET / HTTP/1.0").keep_alive
    assert parse_head(b"GET / HTTP/1.0\r\nConnection: keep-alive").keep_alive
    assert not parse_head(b"GET / HTTP/1.1\r\nConnection: close").keep_alive


def test_query_keeps_repeated_and_blank_values():
    assert parse_query("t=a:1&t=b:2&q=&names=x%2Fy") == {"t": ["a:1", "b:2"], "q": [""], "names": ["x/y"]}


def test_chunk_size_line():
    assert chunk_size(b"1a;ext=1") == 26
    for bad in (b"", b"xyz", b"1" * 17):
        with pytest.raises(HttpError):
            chunk_size(bad)


def test_reader_returns_heads_then_none_at_a_clean_end():
    reader, peer = reader_with(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    assert parse_head(reader.read_head()).path == "/a"
    assert parse_head(reader.read_head()).path == "/b"
    assert reader.read_head() is None


def test_reader_refuses_an_endless_head():
    reader, peer = reader_with(b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD + 10))
    with pytest.raises(HttpError) as err:
        reader.read_head()
    assert err.value.status == 431


def test_reader_a_head_cut_by_the_client_is_400():
    reader, peer = reader_with(b"GET / HTTP/1.1\r\nHost: x\r\n")
    with pytest.raises(HttpError) as err:
        reader.read_head()
    assert err.value.status == 400


def test_length_body_reads_exactly_and_keeps_the_next_request():
    reader, peer = reader_with(b"hello worldGET /next HTTP/1.1\r\n\r\n")
    body = Body(reader, "length", 11)
    assert body.read(5) == b"hello" and body.read() == b" world" and body.done
    assert body.read(10) == b""
    assert parse_head(reader.read_head()).path == "/next"


def test_chunked_body_with_extensions_and_trailers():
    reader, peer = reader_with(b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: z\r\n\r\nrest")
    body = Body(reader, "chunked", 0)
    assert body.read() == b"hello world" and body.done
    assert reader.take_buffer() == b"rest"


def test_chunked_body_without_crlf_after_data_is_400():
    reader, peer = reader_with(b"5\r\nhelloXX0\r\n\r\n")
    with pytest.raises(HttpError):
        Body(reader, "chunked", 0).read()


def test_truncated_bodies_are_400():
    reader, peer = reader_with(b"abc")
    with pytest.raises(HttpError):
        Body(reader, "length", 10).read()
    reader, peer2 = reader_with(b"a\r\nabc")
    with pytest.raises(HttpError):
        Body(reader, "chunked", 0).read()


def test_read_all_refuses_past_the_limit_with_413():
    reader, peer = reader_with(b"x" * 100)
    with pytest.raises(HttpError) as err:
        Body(reader, "length", 100).read_all(10)
    assert err.value.status == 413


def test_first_read_hook_runs_once():
    calls = []
    reader, peer = reader_with(b"abcd")
    body = Body(reader, "length", 4, on_first_read=lambda: calls.append(1))
    body.read(2)
    body.read(2)
    assert calls == [1]


def test_drain_skips_small_leftovers_and_refuses_big_ones():
    reader, peer = reader_with(b"x" * 50)
    assert Body(reader, "length", 50).drain(100)
    reader, peer2 = reader_with(b"x" * 500)
    assert not Body(reader, "length", 500).drain(100)


def test_response_head_and_chunks():
    head = response_head(200, [("Content-Type", "application/json"), ("Content-Length", "2")])
    assert head == b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    assert response_head(101, [], "UPGRADED").startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert chunk(b"abc") == b"3\r\nabc\r\n" and chunk(b"") == b""


def test_headers_tokens_are_case_insensitive():
    h = Headers([("connection", "Keep-Alive, Upgrade"), ("CONNECTION", "x")])
    assert h.tokens("Connection") == {"keep-alive", "upgrade", "x"}
    assert "connection" in h and h.get("Missing", "d") == "d"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parse_head_never_fails_other_than_with_http_errors(raw):
    try:
        head = parse_head(raw)
    except HttpError as err:
        assert 400 <= err.status < 600
        return
    assert head.target.startswith("/")
    try:
        head.body_framing()
    except HttpError as err:
        assert 400 <= err.status < 600


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=50), max_size=8))
def test_chunked_round_trip(parts):
    encoded = b"".join(chunk(p) for p in parts) + b"0\r\n\r\n"
    reader, peer = reader_with(encoded)
    try:
        assert Body(reader, "chunked", 0).read() == b"".join(parts)
    finally:
        while _OPEN:
            _OPEN.pop().close()
