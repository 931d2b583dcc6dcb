"""Embedded DNS resolver for user-defined networks.

Design (no daemon): one small resolver process per user network, started on
demand by the first attach to that network and stopped when the network is
removed.  The manager binds UDP and TCP port 53 on the network's gateway
address (the bridge's address on the host) *before* starting the process and
hands the sockets over as inherited file descriptors, so the resolver answers
as soon as ``attach`` returns: queries sent before the process is up wait in
the socket buffers.  Containers get ``nameserver <gateway>`` in resolv.conf.

The resolver reads names from ``<root>/network/state.json`` (re-read when the
file changes; writers replace it atomically): container names, aliases and
short ids of the endpoints on its network, also as ``NAME.NETWORK``.  Only
clients inside the network's subnet get answers (others get REFUSED), so a
container cannot list another network's names through its gateway.  It
answers A queries for those (NODATA for other types) and relays every other
query, byte for byte, to the upstream resolvers it was started with (the
host's, from /etc/resolv.conf; none for internal networks, which get
SERVFAIL).  It exits by itself once its network is gone from the state
(checked every second), and on SIGTERM.

    python -m vessel.network.dns --state S --network ID --udp-fd 3 --tcp-fd 4 [--upstream IP[:PORT]]...
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from vessel.errors import InvalidArgument, SystemFailure
from vessel.network import dnswire
from vessel.network.files import upstream_address
from vessel.network.model import State
from vessel.network.state import load

MODULE = "vessel.network.dns"
FORWARD_TIMEOUT = 2.0
MAX_FORWARDS = 64
CHECK_EVERY = 1.0


def names_for(state: State, network_id: str) -> dict[str, list[str]] | None:
    """name -> addresses for one network (pure); None when the network is gone."""
    net = next((n for n in state.networks if n.id == network_id), None)
    if net is None:
        return None
    table: dict[str, list[str]] = {}
    for ep in state.endpoints_of(network_id):
        if not ep.ip:
            continue
        for name in ep.dns_names:
            for key in (name, f"{name}.{net.name.lower()}"):
                addrs = table.setdefault(key, [])
                if ep.ip not in addrs:
                    addrs.append(ep.ip)
    return table


class NameTable:
    """The names of one network, re-read whenever the state file changes."""

    def __init__(self, state_path: Path, network_id: str) -> None:
        self.path = state_path
        self.network_id = network_id
        self._stamp: tuple[int, int, int] | None = None
        self._names: dict[str, list[str]] | None = {}
        self.subnet: ipaddress.IPv4Network | None = None
        self.refresh()

    def refresh(self, force: bool = False) -> bool:
        """Reload if changed (or ``force``); False once the network (or the state) is gone.

        The change test (inode, mtime, size) can miss two rewrites within one
        timestamp tick; the server therefore also forces a reload every second.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._names = None
            return False
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if force or stamp != self._stamp:
            self._stamp = stamp
            state = load(self.path)
            self._names = names_for(state, self.network_id)
            net = next((n for n in state.networks if n.id == self.network_id), None)
            self.subnet = ipaddress.IPv4Network(net.subnet) if net and net.subnet else None
        return self._names is not None

    def serves(self, peer_ip: str) -> bool:
        """Only containers of the network may ask (not other networks' containers)."""
        try:
            return self.subnet is not None and ipaddress.IPv4Address(peer_ip) in self.subnet
        except ValueError:
            return False

    def lookup(self, name: str) -> list[str] | None:
        self.refresh()
        return (self._names or {}).get(name)


class Resolver:
    def __init__(self, names: NameTable, upstreams: Sequence[tuple[str, int]]) -> None:
        self.names = names
        self.upstreams = list(upstreams)
        self._slots = threading.BoundedSemaphore(MAX_FORWARDS)

    def local(self, data: bytes, peer_ip: str) -> bytes | None:
        """The answer if the query is ours (or broken, or refused); None means forward it."""
        try:
            query = dnswire.parse_query(data)
        except InvalidArgument:
            return dnswire.formerr(data)
        if not self.names.serves(peer_ip):
            return dnswire.error(query, dnswire.REFUSED)
        addrs = self.names.lookup(query.name)
        if addrs is not None:
            return dnswire.answer(query, addrs if query.qtype == dnswire.TYPE_A else [])
        if not self.upstreams:
            return dnswire.error(query, dnswire.SERVFAIL)
        return None

    def forward_udp(self, data: bytes) -> bytes:
        qid = dnswire.header_id(data)
        for host, port in self.upstreams:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.settimeout(FORWARD_TIMEOUT)
                try:
                    sock.sendto(data, (host, port))
                    deadline = time.monotonic() + FORWARD_TIMEOUT
                    while time.monotonic() < deadline:
                        reply, _ = sock.recvfrom(65535)
                        if dnswire.header_id(reply) == qid:
                            return reply
                except OSError:
                    continue
        return dnswire.error(dnswire.parse_query(data), dnswire.SERVFAIL)

    def forward_tcp(self, data: bytes) -> bytes:
        for host, port in self.upstreams:
            try:
                with socket.create_connection((host, port), timeout=FORWARD_TIMEOUT) as sock:
                    sock.sendall(struct.pack("!H", len(data)) + data)
                    reply = _read_framed(sock)
                    if reply is not None:
                        return reply
            except OSError:
                continue
        return dnswire.error(dnswire.parse_query(data), dnswire.SERVFAIL)

    def _udp_forward_then_reply(self, udp: socket.socket, data: bytes, peer: tuple) -> None:
        try:
            udp.sendto(self.forward_udp(data), peer)
        except OSError as err:
            print(f"dns: reply to {peer} failed: {err}", file=sys.stderr)
        finally:
            self._slots.release()

    def on_udp(self, udp: socket.socket) -> None:
        data, peer = udp.recvfrom(65535)
        reply = self.local(data, peer[0])
        if reply is not None:
            udp.sendto(reply, peer)
        elif self._slots.acquire(blocking=False):
            threading.Thread(target=self._udp_forward_then_reply, args=(udp, data, peer), daemon=True).start()
        # else: too many queries in flight; the client will retry

    def serve_tcp_client(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10.0)
            try:
                peer_ip = conn.getpeername()[0]
                while (data := _read_framed(conn)) is not None:
                    reply = self.local(data, peer_ip)
                    if reply is None:
                        reply = self.forward_tcp(data)
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return

    def serve(self, udp: socket.socket, tcp: socket.socket, stop: threading.Event) -> None:
        sel = selectors.DefaultSelector()
        sel.register(udp, selectors.EVENT_READ, "udp")
        sel.register(tcp, selectors.EVENT_READ, "tcp")
        next_check = time.monotonic() + CHECK_EVERY
        with sel:
            while not stop.is_set():
                for key, _ in sel.select(timeout=CHECK_EVERY):
                    if key.data == "udp":
                        self.on_udp(udp)
                    else:
                        conn, _ = tcp.accept()
                        threading.Thread(target=self.serve_tcp_client, args=(conn,), daemon=True).start()
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + CHECK_EVERY
                    if not self.names.refresh(force=True):
                        return


def _read_framed(sock: socket.socket) -> bytes | None:
    head = _read_exact(sock, 2)
    if head is None:
        return None
    return _read_exact(sock, struct.unpack("!H", head)[0])


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# Process management (used by the kernel shell) ----------------------------------

def _bind(gateway: str) -> tuple[socket.socket, socket.socket]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((gateway, 53))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((gateway, 53))
        tcp.listen(64)
    except OSError as err:
        udp.close()
        tcp.close()
        raise SystemFailure.from_os_error(f"binding the DNS resolver to {gateway}:53", err, address=gateway,
                                          hint="another resolver holds the port; run reconcile") from None
    return udp, tcp


def spawn(state_path: Path, network_id: str, gateway: str, upstreams: Sequence[str], log_path: Path) -> int:
    """Bind gateway:53 and start a detached resolver process holding the sockets; its pid."""
    udp, tcp = _bind(gateway)
    with udp, tcp:
        cmd = [sys.executable, "-m", MODULE, "--state", str(state_path), "--network", network_id,
               "--udp-fd", str(udp.fileno()), "--tcp-fd", str(tcp.fileno())]
        for up in upstreams:
            cmd += ["--upstream", up]
        # sh starts the resolver in the background and exits: the resolver is re-parented
        # to init, so no vessel process has to reap it.
        script = '"$@" </dev/null >>"$0" 2>&1 & echo $!'
        res = subprocess.run(["/bin/sh", "-c", script, str(log_path), *cmd], pass_fds=(udp.fileno(), tcp.fileno()),
                             capture_output=True, text=True, start_new_session=True, check=False)
    if res.returncode != 0 or not res.stdout.strip().isdigit():
        raise SystemFailure(f"starting the DNS resolver for network {network_id[:12]} failed: {res.stderr.strip()}")
    return int(res.stdout.strip())


def alive(pid: int, network_id: str, proc: Path = Path("/proc")) -> bool:
    """Is ``pid`` the resolver of ``network_id`` (not a recycled pid, not a zombie)?"""
    try:
        cmdline = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0] if ")" in stat else "?"
    return MODULE.encode() in cmdline and network_id.encode() in cmdline and state not in ("Z", "X")


def stop(pid: int, network_id: str, timeout: float = 2.0) -> None:
    if not alive(pid, network_id):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid, network_id):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--network", required=True)
    parser.add_argument("--udp-fd", required=True, type=int)
    parser.add_argument("--tcp-fd", required=True, type=int)
    parser.add_argument("--upstream", action="append", default=[])
    args = parser.parse_args(argv)
    stop_event = threading.Event()     # never set: SIGTERM's default action ends the process
    udp = socket.socket(fileno=args.udp_fd)
    tcp = socket.socket(fileno=args.tcp_fd)
    resolver = Resolver(NameTable(args.state, args.network), [upstream_address(u) for u in args.upstream])
    with udp, tcp:
        resolver.serve(udp, tcp, stop_event)
    return 0


if __name__ == "__main__":
    sys.exit(main())
