"""Docker's stream framing and the pump between a client and a container's streams (socketpairs and pipes)."""

from __future__ import annotations

import os
import socket
import threading

import pytest
from hypothesis import given, settings, strategies as st

from vessel.api.streams import STDERR, STDOUT, ConmonEnd, PipeEnd, Pump, frame, parse_frames

pytestmark = pytest.mark.unit


@pytest.fixture
def closer():
    items = []
    yield items
    for item in items:
        try:
            item.close() if hasattr(item, "close") else os.close(item)
        except OSError:
            pass


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return out
        out += data


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([STDOUT, STDERR]), st.binary(max_size=300)), max_size=10),
       st.integers(min_value=0, max_value=7))
def test_frames_round_trip_and_keep_partial_rest(items, cut):
    encoded = b"".join(frame(s, d) for s, d in items)
    frames, rest = parse_frames(encoded)
    assert frames == items and rest == b""
    if encoded:
        frames, rest = parse_frames(encoded[:-1] if cut else encoded)
        assert b"".join(frame(s, d) for s, d in frames) + rest == (encoded[:-1] if cut else encoded)


def test_frame_header_layout():
    assert frame(STDERR, b"hi") == b"\x02\x00\x00\x00\x00\x00\x00\x02hi"


def run_pump(pump: Pump) -> threading.Thread:
    t = threading.Thread(target=pump.run, daemon=True)
    t.start()
    return t


def collect(sock: socket.socket) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []
    t = threading.Thread(target=lambda: got.append(read_all(sock)), daemon=True)
    t.start()
    return t, got


def test_pipes_are_multiplexed_byte_exact_and_stdin_reaches_the_process(closer):
    client, server = socket.socketpair()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe()
    closer.extend([client, server, out_r, err_r, in_r])
    payload = os.urandom(300_000)
    pump_thread = run_pump(Pump(server, [PipeEnd(out_r, STDOUT), PipeEnd(err_r, STDERR)], PipeEnd(in_w), tty=False))
    reader, got = collect(client)
    client.sendall(b"stdin data")
    client.shutdown(socket.SHUT_WR)
    os.write(err_w, b"warning\n")
    with os.fdopen(out_w, "wb") as out:
        out.write(payload)
    os.close(err_w)
    stdin_seen = b""
    while True:
        data = os.read(in_r, 100)
        if not data:
            break  # the client's EOF closed the process's stdin
        stdin_seen += data
    assert stdin_seen == b"stdin data"
    pump_thread.join(10)
    assert not pump_thread.is_alive()
    server.shutdown(socket.SHUT_WR)
    reader.join(10)
    frames, rest = parse_frames(got[0])
    assert rest == b""
    assert b"".join(d for s, d in frames if s == STDOUT) == payload
    assert b"".join(d for s, d in frames if s == STDERR) == b"warning\n"


def test_tty_streams_are_raw_and_unwanted_streams_dropped(closer):
    client, server = socket.socketpair()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    closer.extend([client, server, out_r, err_r])
    os.write(out_w, b"raw bytes")
    os.write(err_w, b"dropped")
    os.close(out_w)
    os.close(err_w)
    pump = Pump(server, [PipeEnd(out_r, STDOUT), PipeEnd(err_r, STDERR)], None, tty=True,
                want=frozenset({STDOUT}))
    pump.run()
    server.shutdown(socket.SHUT_WR)
    assert read_all(client) == b"raw bytes"


def test_conmon_packets_map_stream_ids_and_stdin_goes_back_as_packets(closer):
    client, server = socket.socketpair()
    conmon_side, ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    closer.extend([client, server, conmon_side, ours])
    end = ConmonEnd(ours)
    pump = Pump(server, [end], end, tty=False, pending_input=b"early input")
    t = run_pump(pump)
    conmon_side.send(b"\x02out")
    conmon_side.send(b"\x03err")
    conmon_side.settimeout(5)
    assert conmon_side.recv(100) == b"early input"
    client.sendall(b"x" * 20000)  # larger than one conmon packet: split
    got = b""
    while len(got) < 20000:
        packet = conmon_side.recv(65536)
        assert len(packet) <= 8192
        got += packet
    client.shutdown(socket.SHUT_WR)
    assert conmon_side.recv(100) == b""  # our EOF became a shutdown: conmon closes the container's stdin
    conmon_side.close()
    t.join(5)
    server.shutdown(socket.SHUT_WR)
    frames, rest = parse_frames(read_all(client))
    assert frames == [(STDOUT, b"out"), (STDERR, b"err")] and rest == b""


def test_a_client_that_goes_away_ends_the_pump(closer):
    client, server = socket.socketpair()
    out_r, out_w = os.pipe()
    closer.extend([server, out_r, out_w])
    os.set_blocking(out_w, False)
    pump = Pump(server, [PipeEnd(out_r, STDOUT)], None, tty=True)
    t = run_pump(pump)
    client.close()
    for _ in range(200):  # keep output coming until the pump notices the broken connection
        try:
            os.write(out_w, b"y" * 65536)
        except BlockingIOError:
            pass
        t.join(0.05)
        if not t.is_alive():
            break
    assert not t.is_alive()
    assert not pump.client_ok


def test_detach_keys_end_the_session_not_the_stream(closer):
    client, server = socket.socketpair()
    conmon_side, ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    closer.extend([client, server, conmon_side, ours])
    end = ConmonEnd(ours)
    pump = Pump(server, [end], end, tty=True, pending_input=b"ls\x10", detach_keys=b"\x10\x11")
    t = run_pump(pump)
    conmon_side.settimeout(5)
    assert conmon_side.recv(100) == b"ls"        # the held ctrl-p is not sent yet
    client.sendall(b"\x11typed after")
    t.join(5)
    assert not t.is_alive() and pump.detached     # the session ended with the container's stream still open
    conmon_side.setblocking(False)
    with pytest.raises(BlockingIOError):
        conmon_side.recv(100)                     # neither the sequence nor what followed reached the container
