"""`vessel daemon`: serve the Docker Engine API (docs/api.md) on unix sockets (and mutual-TLS TCP).

    vessel daemon                                   # unix:///run/vessel/vessel.sock, 0660, group vessel
    vessel daemon --host unix:///var/run/docker.sock --host unix:///tmp/v.sock
    vessel daemon --detach                          # in the background once the sockets answer
    vessel daemon --host tcp://0.0.0.0:2376 --tlsverify --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem

Containers live under conmon, not under the daemon: stopping or killing it
leaves them running, and the next daemon serves them again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass

from vessel.errors import InvalidArgument, SystemFailure

DEFAULT_HOST = "unix:///run/vessel/vessel.sock"


@dataclass(frozen=True)
class Listen:
    scheme: str  # unix | tcp
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.scheme == "unix" else f"tcp://{self.host}:{self.port}"


def parse_host(text: str) -> Listen:
    """`unix:///path`, `/path`, `tcp://host:port` (pure)."""
    if text.startswith("unix://") or text.startswith("/"):
        path = text[len("unix://"):] if text.startswith("unix://") else text
        if not path.startswith("/"):
            raise InvalidArgument(f"invalid --host {text!r}: a unix socket path must be absolute",
                                  hint="e.g. unix:///run/vessel/vessel.sock")
        return Listen("unix", path=path)
    if text.startswith("tcp://"):
        rest = text[len("tcp://"):].rstrip("/")
        host, sep, port = rest.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(f"invalid --host {text!r}: give tcp://HOST:PORT", hint="e.g. tcp://127.0.0.1:2376")
        return Listen("tcp", host=host.strip("[]") or "0.0.0.0", port=int(port))
    raise InvalidArgument(f"invalid --host {text!r}: unix:// and tcp:// are supported",
                          hint="e.g. --host unix:///run/vessel/vessel.sock")


def check_tls(hosts: list[Listen], args) -> None:
    """TCP only with --tlsverify and the three files: never an open, unauthenticated API."""
    if not any(h.scheme == "tcp" for h in hosts):
        return
    missing = [flag for flag, value in (("--tlscacert", args.tlscacert), ("--tlscert", args.tlscert),
                                        ("--tlskey", args.tlskey)) if not value]
    if not args.tlsverify or missing:
        raise InvalidArgument("a tcp:// host needs --tlsverify with --tlscacert, --tlscert and --tlskey"
                              + (f" (missing {', '.join(missing)})" if missing else ""),
                              hint="anyone reaching the port would control the host's containers; use a unix socket "
                                   "or mutual TLS")


def _daemon_argv(args) -> list[str]:
    argv = [sys.executable, "-m", "vessel.cli.main", "--root", str(args.root), "daemon"]
    for h in args.host or []:
        argv += ["--host", h]
    for flag in ("tlscacert", "tlscert", "tlskey", "pidfile", "group", "log_level"):
        value = getattr(args, flag)
        if value:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    if args.tlsverify:
        argv.append("--tlsverify")
    return argv


def answers(path: str, timeout: float = 1.0) -> bool:
    """Whether a daemon answers `GET /_ping` with 200 on the unix socket ``path``."""
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: vessel\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def detach(args, hosts: list[Listen]) -> int:
    """Start the daemon in its own session (fork+exec through subprocess) and wait until it answers."""
    import subprocess

    log_path = args.log_file or os.path.join(str(args.root), "daemon.log")
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(_daemon_argv(args) + ["--log-file", log_path], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 30
    unix = [h.path for h in hosts if h.scheme == "unix"]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemFailure(f"the daemon exited with status {proc.returncode}", hint=f"see {log_path}")
        if all(answers(p) for p in unix):
            print(proc.pid)
            return 0
        time.sleep(0.05)
    raise SystemFailure("the daemon did not answer within 30 s", hint=f"see {log_path}")


def _setup_logging(args) -> None:
    import logging

    level = getattr(logging, (args.log_level or "info").upper(), logging.INFO)
    handler = logging.FileHandler(args.log_file) if args.log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO))  # libraries (pyroute2, asyncio) stay quiet in debug mode
    logging.getLogger("vessel").setLevel(level)


def serve(args, hosts: list[Listen]) -> int:
    import logging
    import signal
    import threading

    from vessel.api.context import Daemon
    from vessel.api.server import Server, listen_tcp, listen_unix, tls_context

    _setup_logging(args)
    log = logging.getLogger("vessel.api")
    daemon = Daemon(args.root, hosts=tuple(str(h) for h in hosts))
    shutil.rmtree(daemon.root / "api-build", ignore_errors=True)  # contexts of builds a killed daemon left
    server = Server(daemon, debug=args.log_level == "debug")
    tls = tls_context(args.tlscacert, args.tlscert, args.tlskey) if args.tlsverify else None
    for h in hosts:
        if h.scheme == "unix":
            server.add_listener(listen_unix(h.path, group=args.group), None, str(h))
        else:
            server.add_listener(listen_tcp(h.host, h.port), tls, str(h))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    server.start()
    daemon.start_background()
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    log.info("vessel daemon (API %s) serving %s on %s", _api_version(), daemon.root,
             ", ".join(str(h) for h in hosts))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        log.info("vessel daemon stopping (containers keep running)")
        server.stop()
        daemon.stopping.set()
        for h in hosts:
            if h.scheme == "unix":
                try:
                    os.unlink(h.path)
                except OSError:
                    pass
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
    return 0


def _api_version() -> str:
    from vessel.api import API_VERSION

    return API_VERSION


def cmd_daemon(args) -> int:
    hosts = [parse_host(h) for h in (args.host or [DEFAULT_HOST])]
    check_tls(hosts, args)
    if os.geteuid() != 0:
        raise InvalidArgument("vessel daemon needs root (it runs containers)", hint="run it with sudo")
    if args.detach:
        return detach(args, hosts)
    return serve(args, hosts)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("daemon", help="serve the Docker Engine API on a unix socket",
                       description="Serve the Docker Engine API so the docker CLI and docker-py drive vessel.")
    p.add_argument("-H", "--host", action="append", default=[], metavar="URL",
                   help=f"unix:///PATH or tcp://HOST:PORT (repeatable; default {DEFAULT_HOST})")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background once the sockets answer")
    p.add_argument("--tlsverify", action="store_true", help="require client certificates (needed for tcp://)")
    p.add_argument("--tlscacert", help="CA that signs client certificates")
    p.add_argument("--tlscert", help="the server's certificate")
    p.add_argument("--tlskey", help="the server's key")
    p.add_argument("--group", default="vessel", help="group owning unix sockets, if it exists (default vessel)")
    p.add_argument("--pidfile", help="write the daemon's pid here")
    p.add_argument("--log-file", help="log here instead of stderr (--detach default: ROOT/daemon.log)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    p.set_defaults(func=cmd_daemon)
