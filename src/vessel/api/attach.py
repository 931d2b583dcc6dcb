"""Attach and logs: a container's output to clients, and their input to its stdin.

Attach before start (what `docker run` does: create, attach, wait, start):
conmon's attach socket only exists once the container has been created
under conmon, which `Engine.start_monitor` does.  So an attach to a
container that is not running registers a `PendingAttach`; the start
handler (`start_container`) then creates the container under conmon,
connects one attach socket per pending client, and only then starts the
process, so no output is lost.  Input a client sends before that is kept
(bounded) and delivered first.
"""

from __future__ import annotations

import os
import select
import threading
from dataclasses import dataclass, field

from vessel.api.messages import Hijack, Request, Stream
from vessel.api.streams import MAX_BUFFER, STDERR, STDOUT, ConmonEnd, Pump, finish_client, frame
from vessel.engine import detachkeys
from vessel.errors import Conflict, InvalidArgument, VesselError

RAW = "application/vnd.docker.raw-stream"
MAX_TAIL = 1 << 40  # more lines than any log holds: the same as all
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


def stream_type(req: Request, tty: bool) -> str:
    """API 1.42 names the multiplexed stream; before, every stream was called raw."""
    return RAW if tty or not req.at_least(42) else MULTIPLEXED


@dataclass(eq=False)
class PendingAttach:
    cid: str
    wake_r: int = -1
    wake_w: int = -1
    sock: object = None
    error: BaseException | None = None
    done: bool = False

    def __post_init__(self) -> None:
        self.wake_r, self.wake_w = os.pipe()

    def deliver(self, sock=None, error: BaseException | None = None) -> None:
        self.sock, self.error, self.done = sock, error, True
        os.write(self.wake_w, b"x")

    def close(self) -> None:
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


@dataclass
class AttachHub:
    """Clients attached to containers that have not started yet."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[str, list[PendingAttach]] = field(default_factory=dict)

    def register(self, cid: str) -> PendingAttach:
        p = PendingAttach(cid)
        with self.lock:
            self.pending.setdefault(cid, []).append(p)
        return p

    def cancel(self, p: PendingAttach) -> None:
        with self.lock:
            waiting = self.pending.get(p.cid, [])
            if p in waiting:
                waiting.remove(p)
            if not waiting:
                self.pending.pop(p.cid, None)

    def take(self, cid: str) -> list[PendingAttach]:
        with self.lock:
            return self.pending.pop(cid, [])


def start_container(ctx, rec):
    """Start `rec`: conmon and the runtime's create, the networks connected while it was stopped, the
    clients attached before start (see the module doc), then the process."""
    engine = ctx.engine
    pending = ctx.daemon.attaches.take(rec.id)
    if rec.isolation == "vm":  # the micro-VM backend starts in one step: attach once it runs
        try:
            rec = engine.start(rec.id)
        except BaseException as err:
            for p in pending:
                p.deliver(None, err)
            raise
        for p in pending:
            _deliver_socket(p, engine, rec)
        return rec
    delivered = False
    try:
        rec = engine.start_monitor(rec)
        connect_extra_networks(engine, rec)
        for p in pending:
            _deliver_socket(p, engine, rec)
        delivered = True
        return engine.finish_start(rec)
    except BaseException as err:
        if not delivered:
            for p in pending:
                if not p.done:
                    p.deliver(None, err)
        raise


def _deliver_socket(p: PendingAttach, engine, rec) -> None:
    from vessel.engine import monitor

    try:
        p.deliver(monitor.attach_socket(engine.socket_dir, rec.id))
    except VesselError as err:
        p.deliver(None, err)


EXTRA_NETWORKS = "api_networks"  # rec.extra key: networks connected while the container was stopped


def connect_extra_networks(engine, rec) -> None:
    """Attach the networks `docker network connect` recorded for a stopped container (compose does this
    between create and start); on failure the created container is undone."""
    extra = (rec.extra or {}).get(EXTRA_NETWORKS) or {}
    if not extra:
        return
    try:
        for name, cfg in extra.items():
            engine.net.attach(rec.id, name, rec.pid, name=rec.name, aliases=tuple(cfg.get("aliases") or ()),
                              ip=cfg.get("ip"))
    except BaseException:
        engine._runtime(rec, "delete", "--force", rec.id, check=False)
        try:
            engine.net.release_all(rec.id)
        except VesselError:
            pass
        raise


@dataclass(frozen=True)
class AttachOptions:
    stdin: bool
    want: frozenset[int]
    logs: bool
    stream: bool


def attach_options(req: Request) -> AttachOptions:
    want = frozenset(s for s, name in ((STDOUT, "stdout"), (STDERR, "stderr")) if req.flag(name))
    return AttachOptions(stdin=req.flag("stdin"), want=want, logs=req.flag("logs"), stream=req.flag("stream"))


def attach(req: Request):
    """POST /containers/{id}/attach: hijacked stream (101 with Upgrade: tcp, else 200 and close)."""
    from vessel.engine import monitor

    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    opts = attach_options(req)
    tty = bool(rec.options.get("tty"))
    keys = detachkeys.parse(req.arg("detachKeys")) if tty and opts.stdin else b""   # 400 on a bad spec
    if opts.stdin and not rec.options.get("interactive"):
        opts = AttachOptions(False, opts.want, opts.logs, opts.stream)  # dockerd ignores stdin without OpenStdin
    sock = pending = None
    if opts.stream:
        if rec.status in ("running", "paused"):
            sock = monitor.attach_socket(engine.socket_dir, rec.id)
        elif rec.status == "created" and rec.pid and engine._conmon_alive(rec.id):
            sock = monitor.attach_socket(engine.socket_dir, rec.id)  # created under conmon (the vessel CLI)
        else:
            pending = req.ctx.daemon.attaches.register(rec.id)
    log_path = engine.cdir(rec.id) / "ctr.log"
    hub, events = req.ctx.daemon.attaches, req.ctx.events
    events.publish("container", "attach", rec.id, {"name": rec.name, "image": rec.image})

    def run(conn) -> None:
        try:
            if opts.logs:
                _replay_logs(conn.sock, log_path, opts.want, tty)
            if not opts.stream:
                return
            conmon, leftover, eof = sock, conn.leftover, False
            if pending is not None:
                conmon, leftover, eof = _wait_start(conn, pending, leftover, opts.stdin)
                if conmon is None:
                    return
            stdin_end = end = ConmonEnd(conmon)
            Pump(conn.sock, [end], stdin_end if opts.stdin else None, tty=tty, want=opts.want,
                 pending_input=leftover, client_eof=eof, detach_keys=keys).run()
            end.close()
        finally:
            if pending is not None:
                hub.cancel(pending)
                pending.close()
            finish_client(conn.sock)
    return Hijack(run, stream_type(req, tty))


def _wait_start(conn, pending: PendingAttach, leftover: bytes, want_stdin: bool):
    """Until the container starts: keep the client's input (bounded), notice if it hangs up.

    A client without stdin half-closes its side at once (the docker CLI does): that is not leaving.
    """
    buf, eof = bytearray(leftover), False
    while not pending.done:
        if hung_up(conn.sock):
            return None, b"", True
        watch = [pending.wake_r] + ([conn.sock] if not eof and len(buf) < MAX_BUFFER else [])
        ready, _, _ = select.select(watch, [], [], 1.0)
        if conn.sock in ready:
            try:
                data = conn.sock.recv(65536)
            except OSError:
                return None, b"", True
            if not data:
                eof = True
            elif want_stdin:
                buf += data
    if pending.sock is None:
        return None, b"", True
    return pending.sock, bytes(buf), eof


def hung_up(sock) -> bool:
    """The peer closed both directions (POLLHUP); a half-close (shutdown of its writes) is not that."""
    poller = select.poll()
    poller.register(sock, select.POLLHUP | select.POLLERR)
    return any(ev & (select.POLLHUP | select.POLLERR) for _fd, ev in poller.poll(0))


def _replay_logs(sock, path, want: frozenset[int], tty: bool) -> None:
    from vessel.engine import logs

    for entry in logs.read(path):
        stream = STDERR if entry.stream == "stderr" else STDOUT
        if stream in want:
            sock.sendall(entry.data if tty else frame(stream, entry.data))


# -- logs ---------------------------------------------------------------------------------------

def container_logs(req: Request) -> Stream:
    """GET /containers/{id}/logs: follow, stdout, stderr, since, until, timestamps, tail."""
    import time

    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    out, err = req.flag("stdout"), req.flag("stderr")
    if not out and not err:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    now = time.time()
    since, until = _log_time(req.arg("since"), now), _log_time(req.arg("until"), now)
    tail_arg = req.arg("tail", "all")
    if tail_arg in ("all", "", None):
        tail = None
    else:
        try:
            tail = int(tail_arg)
        except ValueError:
            raise InvalidArgument(f"invalid value for tail: {tail_arg!r}", hint="a number, or all") from None
        tail = None if tail < 0 or tail > MAX_TAIL else tail
    tty = bool(rec.options.get("tty"))
    timestamps, follow = req.flag("timestamps"), req.flag("follow")
    client_gone, exits = req.ctx.client_gone, req.ctx.daemon.exits

    def running() -> bool:
        try:
            return engine.refresh(engine.db.get_by_id(rec.id)).is_running()
        except VesselError:
            return False  # removed: what was written is still read from the open file
    selection = LogSelection(since, until, tail, out, err)
    try:
        log_file = open(engine.cdir(rec.id) / "ctr.log", "rb")  # kept open: a removed container's log stays readable
    except FileNotFoundError:
        log_file = None

    def chunks():
        from vessel.engine import logs

        try:
            yield None
            for entry in follow_log(log_file, selection, follow, running, client_gone, exits):
                if entry is None:
                    yield None
                    continue
                data = logs.format_entry(entry, timestamps)
                yield data if tty else frame(STDERR if entry.stream == "stderr" else STDOUT, data)
        finally:
            if log_file is not None:
                log_file.close()
    return Stream(chunks(), content_type=stream_type(req, tty))


@dataclass(frozen=True)
class LogSelection:
    since: float | None
    until: float | None
    tail: int | None
    stdout: bool
    stderr: bool


def _complete_lines(log_file, partial: bytes) -> tuple[list, bytes]:
    from vessel.engine import logs

    data = partial + (log_file.read() or b"")
    end = data.rfind(b"\n") + 1
    entries = [e for e in (logs.parse_line(l) for l in data[:end].splitlines()) if e is not None]
    return entries, data[end:]


def follow_log(log_file, sel: LogSelection, follow: bool, running, client_gone, exits, poll: float = 0.05):
    """Entries of conmon's k8s-file log (None items: nothing new yet); with `follow`, until the container stops."""
    import time

    from vessel.engine import logs

    if log_file is None:
        return
    entries, partial = _complete_lines(log_file, b"")
    yield from logs.select(entries, since=sel.since, until=sel.until, tail=sel.tail, stdout=sel.stdout,
                           stderr=sel.stderr)
    generation, ticked = exits.generation, time.monotonic()
    while follow:
        alive = running()
        entries, partial = _complete_lines(log_file, partial)
        yield from logs.select(entries, since=sel.since, until=sel.until, tail=None, stdout=sel.stdout,
                               stderr=sel.stderr)
        if (sel.until is not None and time.time() > sel.until) or (not alive and not entries):
            return
        if not entries:
            if time.monotonic() - ticked > 0.5:
                ticked = time.monotonic()
                yield None
                if client_gone():
                    return
            generation = exits.wait_change(generation, poll)


def _log_time(value: str | None, now: float) -> float | None:
    from vessel.engine.logs import parse_since

    if value in (None, "", "0"):
        return None
    return parse_since(value, now)


def resize(req: Request):
    from vessel.api.messages import no_content
    from vessel.engine import monitor

    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    height, width = req.int_arg("h", 0, minimum=0), req.int_arg("w", 0, minimum=0)
    if not rec.is_running():
        raise Conflict(f"cannot resize container {rec.name}: it is not running", status=rec.status)
    monitor.resize(engine.socket_dir, rec.id, height, width)
    req.ctx.events.publish("container", "resize", rec.id, {"name": rec.name, "image": rec.image,
                                                            "height": str(height), "width": str(width)})
    return no_content(200)
