"""HTTP/1.1 on the wire (pure where it can be): request heads, bodies, response heads, chunks.

The server reads from a `Reader` (a socket with a buffer); everything here that
decides (parsing a head, decoding a chunk size, formatting a response head) is
a function over bytes, unit-tested without sockets.

Limits are explicit: a request head is at most `MAX_HEAD` bytes and
`MAX_HEADERS` fields; a malformed head is an `HttpError` carrying the 4xx
status to answer with before the connection is closed.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
MAX_CHUNK_LINE = 4096
READ_SIZE = 64 * 1024

REASONS = {
    100: "Continue", 101: "UPGRADED", 200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 409: "Conflict", 411: "Length Required", 413: "Payload Too Large",
    414: "URI Too Long", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
}
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class HttpError(Exception):
    """A request that cannot be served: answer `status` with `message`, then close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Headers:
    """Case-insensitive header fields, order kept."""

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self.items = list(items or [])

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for k, v in self.items:
            if k.lower() == low:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.items if k.lower() == low]

    def tokens(self, name: str) -> set[str]:
        """Comma-separated tokens of every field `name`, lower-cased (Connection, Transfer-Encoding)."""
        return {t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()}

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: Headers

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path)

    @property
    def raw_query(self) -> str:
        return urlsplit(self.target).query

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.tokens("Connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    @property
    def wants_upgrade(self) -> bool:
        return "upgrade" in self.headers.tokens("Connection") and (self.headers.get("Upgrade") or "").lower() == "tcp"

    def body_framing(self) -> tuple[str, int]:
        """("chunked", 0), ("length", n) or ("none", 0) for this request's body."""
        te = self.headers.tokens("Transfer-Encoding")
        if te:
            if te != {"chunked"}:
                raise HttpError(501, f"unsupported Transfer-Encoding: {', '.join(sorted(te))}")
            return "chunked", 0
        lengths = self.headers.get_all("Content-Length")
        if not lengths:
            return "none", 0
        if len(set(lengths)) != 1 or not lengths[0].strip().isdigit():
            raise HttpError(400, f"invalid Content-Length: {lengths!r}")
        return "length", int(lengths[0].strip())


def parse_head(data: bytes) -> RequestHead:
    """The request line and header fields (without the final blank line)."""
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise HttpError(400, "undecodable request head") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HttpError(400, f"malformed request line: {lines[0][:100]!r}")
    method, target, version = parts
    if not all(ord(c) in _TOKEN for c in method):
        raise HttpError(400, f"malformed method: {method[:20]!r}")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, f"unsupported protocol version: {version[:20]!r}")
    if not target.startswith("/"):
        raise HttpError(400, f"request target must be a path: {target[:100]!r}")
    items: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            raise HttpError(400, "obsolete header line folding is not accepted")
        name, sep, value = line.partition(":")
        if not sep or not name or not all(ord(c) in _TOKEN for c in name):
            raise HttpError(400, f"malformed header field: {line[:100]!r}")
        items.append((name, value.strip(" \t")))
        if len(items) > MAX_HEADERS:
            raise HttpError(431, f"more than {MAX_HEADERS} header fields")
    return RequestHead(method, target, version, Headers(items))


def parse_query(raw: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        out.setdefault(k, []).append(v)
    return out


def chunk_size(line: bytes) -> int:
    """The size of a chunk from its size line (extensions after ';' ignored)."""
    text = line.split(b";", 1)[0].strip()
    if not text or len(text) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in text):
        raise HttpError(400, f"malformed chunk size line: {line[:40]!r}")
    return int(text, 16)


def response_head(status: int, headers: list[tuple[str, str]], reason: str | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or REASONS.get(status, 'Unknown')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"


def http_date(now: float | None = None) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now if now is not None else time.time()))


class Reader:
    """A socket with a read buffer: heads, fixed-size and chunked bodies, and the rest for hijacking."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.sock.recv(READ_SIZE)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_head(self, on_first_byte=None) -> bytes | None:
        """The bytes of the next request head, None at a clean end of the connection.

        `on_first_byte` runs once the head has begun (the server shortens its timeout then).
        """
        started = bool(self.buf)
        while True:
            if not started and self.buf and on_first_byte is not None:
                started = True
                on_first_byte()
            # tolerate blank lines between requests (RFC 9112 2.2)
            while self.buf[:2] == b"\r\n":
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                if end > MAX_HEAD:
                    raise HttpError(431, f"request head larger than {MAX_HEAD} bytes")
                head = bytes(self.buf[:end])
                del self.buf[:end + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise HttpError(431, f"request head larger than {MAX_HEAD} bytes")
            if not self._fill():
                if self.buf.strip():
                    raise HttpError(400, "connection closed in the middle of a request head")
                return None

    def read_line(self, limit: int) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[:end + 2]
                return line
            if len(self.buf) > limit:
                raise HttpError(400, "line too long in a chunked body")
            if not self._fill():
                raise HttpError(400, "connection closed in the middle of a chunked body")

    def read_some(self, limit: int) -> bytes:
        """Up to `limit` bytes (at least one unless the connection ended)."""
        if not self.buf and not self._fill():
            return b""
        data = bytes(self.buf[:limit])
        del self.buf[:limit]
        return data

    def take_buffer(self) -> bytes:
        data = bytes(self.buf)
        self.buf.clear()
        return data


class Body:
    """A request body as a file-like stream (read(n), iteration), decoded from its framing."""

    def __init__(self, reader: Reader | None, framing: str, length: int, on_first_read=None) -> None:
        self.reader = reader
        self.framing = framing
        self.left = length if framing == "length" else 0
        self.done = framing == "none" or (framing == "length" and length == 0)
        self.on_first_read = on_first_read
        self.count = 0

    def _start(self) -> None:
        if self.on_first_read is not None:
            hook, self.on_first_read = self.on_first_read, None
            hook()

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while True:
                part = self.read(READ_SIZE)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        parts, got = [], 0
        while got < n and not self.done:  # a file's read(n): n bytes unless the body ends first
            self._start()
            data = self._read_chunked(n - got) if self.framing == "chunked" else self._read_length(n - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        self.count += got
        return b"".join(parts)

    def _read_length(self, n: int) -> bytes:
        data = self.reader.read_some(min(n, self.left))
        if not data:
            raise HttpError(400, f"connection closed with {self.left} bytes of the body missing")
        self.left -= len(data)
        if self.left == 0:
            self.done = True
        return data

    def _read_chunked(self, n: int) -> bytes:
        if self.left == 0:
            size = chunk_size(self.reader.read_line(MAX_CHUNK_LINE))
            if size == 0:
                while self.reader.read_line(MAX_HEAD):  # trailer fields, ignored
                    pass
                self.done = True
                return b""
            self.left = size
        data = self.reader.read_some(min(n, self.left))
        if not data:
            raise HttpError(400, "connection closed in the middle of a chunk")
        self.left -= len(data)
        if self.left == 0:
            if self.reader.read_line(MAX_CHUNK_LINE) != b"":
                raise HttpError(400, "chunk not followed by CRLF")
        return data

    def read_all(self, limit: int) -> bytes:
        """The whole body, refused (413) past `limit` bytes."""
        parts, total = [], 0
        while True:
            part = self.read(READ_SIZE)
            if not part:
                return b"".join(parts)
            total += len(part)
            if total > limit:
                raise HttpError(413, f"request body larger than {limit} bytes")
            parts.append(part)

    def drain(self, limit: int) -> bool:
        """Skip what the handler left unread; False if more than `limit` bytes remain (close instead)."""
        skipped = 0
        while not self.done:
            part = self.read(READ_SIZE)
            if not part:
                break
            skipped += len(part)
            if skipped > limit:
                return False
        return True

    def readable(self) -> bool:
        return True

    def __iter__(self):
        while True:
            part = self.read(READ_SIZE)
            if not part:
                return
            yield part
