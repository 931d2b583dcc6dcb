"""The daemon's HTTP/1.1 server: listeners, one thread per connection, response framing, hijacking.

Threads, not processes: the engine forks only through `subprocess` (fork+exec
of conmon and vessel-runtime), which is safe from a threaded process; nothing
here calls `os.fork()`.  Each connection gets its own `Context` (its own
Engine and SQLite connection), closed with the connection.

Robustness rules: a request head is bounded (wire.MAX_HEAD), idle and slow
clients time out, a malformed request gets a 4xx and the connection is closed,
a handler's unexpected exception is logged and answered with a 500, and a
client that goes away in the middle of a stream ends that stream only.
"""

from __future__ import annotations

import fcntl
import logging
import os
import select
import socket
import ssl
import struct
import termios
import threading
import time
import traceback
from dataclasses import dataclass

from vessel import __version__
from vessel.api import API_VERSION
from vessel.api.messages import Hijack, Request, Response, Stream, Writer, dumps
from vessel.api.router import Router, negotiate, split_version
from vessel.api.wire import LAST_CHUNK, Body, HttpError, Reader, RequestHead, chunk, http_date, parse_head, \
    parse_query, response_head

log = logging.getLogger("vessel.api")

IDLE_TIMEOUT = 300.0  # a kept-alive connection waiting for its next request
IO_TIMEOUT = 60.0  # reading a request, writing a response
DRAIN_LIMIT = 1 << 20  # unread request body we skip to keep a connection alive
MAX_CONNECTIONS = 1024
HEAD_READ_WAIT = 0.2  # at most, before a hijacked stream's first bytes
LINGER = 2.0  # seconds spent skipping a refused request's remaining body before closing
LINGER_LIMIT = 64 << 20


def common_headers() -> list[tuple[str, str]]:
    return [("Api-Version", API_VERSION), ("Docker-Experimental", "false"), ("Ostype", "linux"),
            ("Server", f"vessel/{__version__} (linux)"), ("Date", http_date())]


@dataclass
class Hijacked:
    """The raw connection after the head: the socket and the bytes already read past the request."""

    sock: socket.socket
    leftover: bytes

    def client_gone(self) -> bool:
        return peer_closed(self.sock)


def peer_closed(sock: socket.socket) -> bool:
    """True when the client has closed its side (readable with nothing to read)."""
    if isinstance(sock, ssl.SSLSocket):
        return False  # no MSG_PEEK through TLS: a gone client shows when a write fails
    try:
        ready, _, _ = select.select([sock], [], [], 0)
        if not ready:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def wait_until_read(sock: socket.socket, timeout: float) -> None:
    """Give the client the time to read what we sent (the 101 head) before the raw stream follows.

    docker-py reads the head through http.client's buffered reader, then the stream from the raw
    socket: bytes that arrived with the head would sit in that buffer, lost.  On a unix socket
    SIOCOUTQ tells what the peer has not read yet; elsewhere this returns at once.
    """
    if getattr(sock, "family", None) != socket.AF_UNIX or isinstance(sock, ssl.SSLSocket):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            unread = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return
        if unread == 0:
            return
        time.sleep(0.001)


class ChunkedOut:
    """A file-like object for Writer handlers: the head goes out with the first write."""

    def __init__(self, conn: "Connection", writer: Writer, head_only: bool) -> None:
        self.conn, self.writer, self.head_only = conn, writer, head_only
        self.started = False
        self.count = 0

    def start(self) -> None:
        if not self.started:
            self.started = True
            self.conn.send_head(self.writer.status, self.writer.content_type, self.writer.headers,
                                chunked=self.conn.framed, close=not self.conn.framed)

    def write(self, data) -> int:
        self.start()
        data = bytes(data)
        if data and not self.head_only:
            self.conn.sock.sendall(self.conn.frame(data))
        self.count += len(data)
        return len(data)

    def tell(self) -> int:
        return self.count

    def flush(self) -> None:
        return None

    def writable(self) -> bool:
        return True


class Connection:
    def __init__(self, server: "Server", sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.reader = Reader(sock)
        self.head: RequestHead | None = None
        self.framed = True  # chunked streams (HTTP/1.1); an HTTP/1.0 client gets raw bytes and a close

    def frame(self, data: bytes) -> bytes:
        return chunk(data) if self.framed else data

    def end_stream(self) -> None:
        if self.framed:
            self.sock.sendall(LAST_CHUNK)

    # -- writing --------------------------------------------------------------------------------
    def send_head(self, status: int, content_type: str | None, extra: list[tuple[str, str]], *,
                  length: int | None = None, chunked: bool = False, close: bool = False,
                  reason: str | None = None) -> None:
        headers = common_headers()
        if content_type:
            headers.append(("Content-Type", content_type))
        headers += extra
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif length is not None:
            headers.append(("Content-Length", str(length)))
        if close:
            headers.append(("Connection", "close"))
        self.sock.sendall(response_head(status, headers, reason))

    def send_response(self, resp: Response, head_only: bool, close: bool) -> None:
        body = resp.body
        no_body = resp.status in (204, 304) or 100 <= resp.status < 200
        self.send_head(resp.status, resp.content_type if not no_body else None, resp.headers,
                       length=None if no_body else len(body), close=close)
        if body and not head_only and not no_body:
            self.sock.sendall(body)

    def send_error(self, status: int, message: str) -> None:
        try:
            self.sock.settimeout(5)
            self.send_response(Response(status, dumps({"message": message}) + b"\n"), False, True)
        except OSError:
            pass

    def send_stream(self, stream: Stream, head_only: bool) -> bool:
        """Stream chunks; False when the connection cannot be reused."""
        chunks = iter(stream.chunks)
        try:
            first = next(chunks, b"")
        except Exception as err:  # noqa: BLE001 - mapped like any handler error
            chunks_close(chunks)
            self.send_mapped_error(err, head_only)
            return True
        self.send_head(stream.status, stream.content_type, stream.headers, chunked=self.framed,
                       close=not self.framed)
        try:
            item = first
            while True:
                if item is None:
                    if peer_closed(self.sock):
                        return False
                elif item and not head_only:
                    self.sock.sendall(self.frame(item))
                item = next(chunks, StopIteration)
                if item is StopIteration:
                    break
            self.end_stream()
            return self.framed
        except OSError:
            return False
        except Exception:  # noqa: BLE001 - the head is out: end the stream early, keep the daemon up
            log.error("stream failed:\n%s", traceback.format_exc())
            return False
        finally:
            chunks_close(chunks)

    def send_writer(self, writer: Writer, head_only: bool) -> bool:
        out = ChunkedOut(self, writer, head_only)
        try:
            writer.write_to(out)
        except OSError as err:
            if out.started:
                return False
            self.send_mapped_error(err, head_only)
            return True
        except Exception as err:  # noqa: BLE001
            if out.started:
                log.error("writer failed after the head was sent:\n%s", traceback.format_exc())
                return False
            self.send_mapped_error(err, head_only)
            return True
        out.start()
        self.end_stream()
        return self.framed

    def send_mapped_error(self, err: BaseException, head_only: bool) -> None:
        from vessel.api.router import error_response
        from vessel.errors import VesselError

        if isinstance(err, VesselError):
            resp = error_response(err)
        elif isinstance(err, HttpError):
            resp = Response(err.status, dumps({"message": err.message}) + b"\n")
        else:
            log.error("handler failed:\n%s", "".join(traceback.format_exception(err)))
            resp = Response(500, dumps({"message": f"internal error: {type(err).__name__}: {err}"}) + b"\n")
        self.send_response(resp, head_only, False)

    def run_hijack(self, hijack: Hijack, head: RequestHead) -> None:
        if head.wants_upgrade:
            self.send_head(101, hijack.content_type, [("Connection", "Upgrade"), ("Upgrade", "tcp"),
                                                      *hijack.headers], reason="UPGRADED")
        else:
            self.send_head(200, hijack.content_type, hijack.headers, close=True)
        wait_until_read(self.sock, HEAD_READ_WAIT)
        self.sock.settimeout(None)
        try:
            hijack.run(Hijacked(self.sock, self.reader.take_buffer()))
        except OSError:
            pass  # the client went away mid-stream
        except Exception:  # noqa: BLE001 - the head is out: log it and close this connection only
            log.error("hijacked stream failed:\n%s", traceback.format_exc())

    # -- the request loop -----------------------------------------------------------------------
    def serve(self) -> None:
        from vessel.api.context import Context

        ctx = Context(self.server.daemon, client_gone=lambda: peer_closed(self.sock))
        try:
            while not self.server.stopping.is_set():
                self.sock.settimeout(IDLE_TIMEOUT)
                raw = self.reader.read_head(on_first_byte=lambda: self.sock.settimeout(IO_TIMEOUT))
                if raw is None:
                    return
                self.sock.settimeout(IO_TIMEOUT)
                if not self.handle(parse_head(raw), ctx):
                    return
        except HttpError as err:
            self.send_error(err.status, err.message)
        except (OSError, ssl.SSLError):
            pass  # timeouts, resets, half-closed connections: nothing to answer
        finally:
            ctx.close()
            self.linger_close()

    def linger_close(self) -> None:
        """Close without losing our last answer: a socket closed with unread input resets the peer
        (ECONNRESET before it reads the 413), so half-close and skip what is still coming, briefly."""
        try:
            if not self.reader.eof and self.sock.fileno() >= 0:
                self.sock.shutdown(socket.SHUT_WR)
                self.sock.settimeout(LINGER)
                skipped = 0
                while skipped < LINGER_LIMIT:
                    data = self.sock.recv(65536)
                    if not data:
                        break
                    skipped += len(data)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def handle(self, head: RequestHead, ctx) -> bool:
        """Serve one request; True if the connection may carry another."""
        framing, length = head.body_framing()
        expects = (head.headers.get("Expect") or "").lower() == "100-continue"
        continued = [False]

        def send_continue() -> None:
            if expects and not continued[0]:
                continued[0] = True
                self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = Body(self.reader, framing, length, on_first_read=send_continue)
        self.framed = head.version == "HTTP/1.1"
        version, path = split_version(head.path)
        req = Request(head.method, path, negotiate(version), parse_query(head.raw_query), head.headers, body, ctx,
                      upgrade=head.wants_upgrade)
        if self.server.debug:
            log.debug("%s %s", head.method, head.target)
        result = self.dispatch(req)
        head_only = head.method == "HEAD"
        keep = head.keep_alive and not self.server.stopping.is_set()
        if isinstance(result, Hijack):
            self.run_hijack(result, head)
            return False
        if isinstance(result, Stream):
            keep = self.send_stream(result, head_only) and keep
        elif isinstance(result, Writer):
            keep = self.send_writer(result, head_only) and keep
        else:
            if expects and not continued[0] and not body.done:
                keep = False  # the client may still send the body we did not ask for
            self.send_response(result if isinstance(result, Response) else Response(500), head_only, not keep)
        if keep and not body.done:
            keep = body.drain(DRAIN_LIMIT)
        return keep

    def dispatch(self, req: Request) -> object:
        try:
            return self.server.router.dispatch(req)
        except HttpError:
            raise
        except Exception as err:  # noqa: BLE001 - never let one request take the daemon down
            log.error("%s %s failed:\n%s", req.method, req.path, traceback.format_exc())
            return Response(500, dumps({"message": f"internal error: {type(err).__name__}: {err}"}) + b"\n")


def chunks_close(chunks) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001 - a generator's cleanup failing must not kill the connection thread
            log.error("stream cleanup failed:\n%s", traceback.format_exc())


class Server:
    """Accepts on every listener; one daemon thread per connection."""

    def __init__(self, daemon, router: Router | None = None, *, debug: bool = False,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        from vessel.api.router import default_routes

        self.daemon = daemon
        self.router = router or Router(default_routes())
        self.debug = debug
        self.stopping = threading.Event()
        self.slots = threading.BoundedSemaphore(max_connections)
        self.listeners: list[tuple[socket.socket, ssl.SSLContext | None, str]] = []
        self.threads: list[threading.Thread] = []

    def add_listener(self, sock: socket.socket, tls: ssl.SSLContext | None, name: str) -> None:
        self.listeners.append((sock, tls, name))

    def start(self) -> None:
        for sock, tls, name in self.listeners:
            t = threading.Thread(target=self._accept_loop, args=(sock, tls), name=f"accept {name}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self) -> None:
        self.stopping.set()
        for sock, _tls, _name in self.listeners:
            try:
                sock.close()
            except OSError:
                pass

    def _accept_loop(self, listener: socket.socket, tls: ssl.SSLContext | None) -> None:
        while not self.stopping.is_set():
            try:
                sock, _addr = listener.accept()
            except OSError:
                if self.stopping.is_set():
                    return
                continue
            if not self.slots.acquire(blocking=False):
                _refuse(sock)
                continue
            threading.Thread(target=self._serve, args=(sock, tls), daemon=True, name="conn").start()

    def _serve(self, sock: socket.socket, tls: ssl.SSLContext | None) -> None:
        try:
            if tls is not None:
                sock.settimeout(IO_TIMEOUT)
                try:
                    sock = tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError) as err:
                    log.info("TLS handshake failed: %s", err)
                    sock.close()
                    return
            Connection(self, sock).serve()
        except Exception:  # noqa: BLE001 - a bug in one connection must not take the daemon down
            log.error("connection failed:\n%s", traceback.format_exc())
        finally:
            self.slots.release()


def _refuse(sock: socket.socket) -> None:
    try:
        sock.settimeout(2)
        body = dumps({"message": "too many connections to the vessel daemon"}) + b"\n"
        sock.sendall(response_head(503, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                         ("Connection", "close")]) + body)
    except OSError:
        pass
    finally:
        sock.close()


# -- listeners ----------------------------------------------------------------------------------

def listen_unix(path: str, *, mode: int = 0o660, group: str | None = "vessel", backlog: int = 128) -> socket.socket:
    """Bind a unix socket at `path` (a stale socket file is replaced, a live one refused)."""
    from vessel.errors import Conflict, SystemFailure

    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    if os.path.lexists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            raise Conflict(f"another daemon is already listening on {path}", path=path,
                           hint="stop it first, or give another --host")
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)
        except OSError as err:
            if err.errno not in (111, 2):
                raise SystemFailure.from_os_error(f"probe {path}", err) from None
            os.unlink(path)
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, mode)
        gid = _group_id(group)
        os.chown(path, 0 if os.geteuid() == 0 else -1, gid if gid is not None else -1)
        sock.listen(backlog)
    except OSError as err:
        sock.close()
        raise SystemFailure.from_os_error(f"listen on unix://{path}", err) from None
    return sock


def _group_id(name: str | None) -> int | None:
    if not name:
        return None
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def listen_tcp(host: str, port: int, backlog: int = 128) -> socket.socket:
    from vessel.errors import SystemFailure

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as err:
        sock.close()
        raise SystemFailure.from_os_error(f"listen on tcp://{host}:{port}", err) from None
    return sock


def tls_context(cacert: str, cert: str, key: str) -> ssl.SSLContext:
    """Mutual TLS, as dockerd's --tlsverify: clients must present a certificate signed by `cacert`."""
    from vessel.errors import InvalidArgument

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(cacert)
    except (OSError, ssl.SSLError) as err:
        raise InvalidArgument(f"cannot load the TLS files ({cacert}, {cert}, {key}): {err}",
                              hint="give PEM files for --tlscacert, --tlscert and --tlskey") from None
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx

