"""Byte streams between a hijacked client and a container: docker's framing and one pump for all.

Without a TTY, docker multiplexes stdout and stderr on one connection: each
frame is an 8-byte header (stream id: 0 stdin, 1 stdout, 2 stderr; three zero
bytes; a big-endian uint32 length) and the payload.  With a TTY the bytes go
raw.  The pump moves bytes both ways with non-blocking I/O and bounded
buffers, so a slow reader on either side only slows the other (no deadlock,
no unbounded memory).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct

from vessel.engine.detachkeys import Detector
from vessel.engine.monitor import STDERR as CONMON_STDERR, STDOUT as CONMON_STDOUT

STDIN, STDOUT, STDERR = 0, 1, 2
MAX_BUFFER = 1 << 20
CONMON_PACKET = 8192  # conmon reads its attach socket in packets of at most this many bytes
_HEADER = struct.Struct(">BxxxL")


def frame(stream: int, data: bytes) -> bytes:
    return _HEADER.pack(stream, len(data)) + data


def parse_frames(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Complete frames in `data`, and the incomplete rest (pure; the tests' and the fuzzers' decoder)."""
    out, pos = [], 0
    while len(data) - pos >= _HEADER.size:
        stream, size = _HEADER.unpack_from(data, pos)
        if len(data) - pos - _HEADER.size < size:
            break
        out.append((stream, data[pos + _HEADER.size:pos + _HEADER.size + size]))
        pos += _HEADER.size + size
    return out, data[pos:]


def set_nonblocking(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


class ConmonEnd:
    """conmon's attach socket: frames in (1-byte stream id), raw stdin out, shutdown(WR) closes stdin."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[tuple[int, bytes]] | None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return []
        except ConnectionResetError:
            return None
        if not data:
            return None
        sid = {CONMON_STDOUT: STDOUT, CONMON_STDERR: STDERR}.get(data[0])
        return [(sid, data[1:])] if sid is not None and len(data) > 1 else []

    def write(self, data: bytes) -> int:
        try:
            return self.sock.send(data[:CONMON_PACKET])
        except (BlockingIOError, InterruptedError):
            return 0

    def close_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


class PipeEnd:
    """A pipe from (stdout/stderr) or to (stdin) a process."""

    def __init__(self, fd: int, stream: int = STDOUT) -> None:
        self.fd = fd
        self.stream = stream
        set_nonblocking(fd)

    def fileno(self) -> int:
        return self.fd

    def read(self) -> list[tuple[int, bytes]] | None:
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError as err:
            if err.errno == errno.EIO:  # a pty master whose other side is closed
                return None
            raise
        return [(self.stream, data)] if data else None

    def write(self, data: bytes) -> int:
        try:
            return os.write(self.fd, data[:65536])
        except (BlockingIOError, InterruptedError):
            return 0

    def close_write(self) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1


class PtyEnd(PipeEnd):
    """A pty master: output and input on one fd; the end of input is not a close (^D is the user's)."""

    def close_write(self) -> None:
        return None


class Pump:
    """Copy container output to the client (framed unless TTY) and the client's bytes to stdin."""

    def __init__(self, client: socket.socket, sources: list, stdin=None, *, tty: bool,
                 want: frozenset[int] = frozenset({STDOUT, STDERR}), pending_input: bytes = b"",
                 client_eof: bool = False, detach_keys: bytes = b"") -> None:
        """``detach_keys``: typed on stdin, they end the session (not the container), as dockerd's TTY attach."""
        self.client = client
        self.sources = list(sources)
        self.stdin = stdin
        self.tty = tty
        self.want = want
        self.out = bytearray()
        self.detector = Detector(detach_keys) if detach_keys and stdin is not None else None
        self.detached = False
        self.inp = bytearray()
        if stdin is not None:
            self._take_input(pending_input)
        self.client_reading = not client_eof
        self.stdin_eof = client_eof
        self.client_ok = True

    def _encode(self, stream: int, data: bytes) -> bytes:
        if stream not in self.want or not data:
            return b""
        return data if self.tty else frame(stream, data)

    def run(self) -> None:
        self.client.setblocking(False)
        if self.stdin_eof and not self.inp and self.stdin is not None:
            self.stdin.close_write()
        while self.client_ok and not self.detached and (self.sources or self.out):
            rlist, wlist = [], []
            if len(self.out) < MAX_BUFFER:
                rlist += self.sources
            if self.client_reading and len(self.inp) < MAX_BUFFER:
                rlist.append(self.client)
            if self.out:
                wlist.append(self.client)
            if self.inp and self.stdin is not None:
                wlist.append(self.stdin)
            try:
                readable, writable, _ = select.select(rlist, wlist, [])
            except InterruptedError:
                continue
            for src in readable:
                if src is self.client:
                    self._read_client()
                else:
                    self._read_source(src)
            for dst in writable:
                if dst is self.client:
                    self._flush_client()
                elif dst is self.stdin:
                    self._flush_stdin()

    def _read_source(self, src) -> None:
        items = src.read()
        if items is None:
            if src in self.sources:
                self.sources.remove(src)
            return
        for stream, data in items:
            self.out += self._encode(stream, data)

    def _read_client(self) -> None:
        try:
            data = self.client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.client_ok = False
            return
        if not data:
            self.client_reading = False
            self.stdin_eof = True
            if self.stdin is not None and not self.inp:
                self.stdin.close_write()
            return
        if self.stdin is not None:
            self._take_input(data)

    def _take_input(self, data: bytes) -> None:
        if self.detector is not None:
            data, self.detached = self.detector.feed(data)
            if self.detached:
                self.client_reading = False
        self.inp += data
        if self.detached and self.inp and self.stdin is not None:
            self._flush_stdin()     # what came before the sequence, best effort: the session ends now

    def _flush_client(self) -> None:
        try:
            sent = self.client.send(self.out[:65536])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.client_ok = False
            return
        del self.out[:sent]

    def _flush_stdin(self) -> None:
        try:
            sent = self.stdin.write(bytes(self.inp))
        except OSError:  # the process closed its stdin: drop what it will never read
            self.inp.clear()
            self.stdin = None
            return
        del self.inp[:sent]
        if not self.inp and self.stdin_eof:
            self.stdin.close_write()


def finish_client(sock: socket.socket) -> None:
    """End a hijacked connection: flush, half-close (the client sees EOF), then close."""
    try:
        sock.setblocking(True)
        sock.settimeout(5)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
