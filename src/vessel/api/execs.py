"""Exec instances: create, start (hijacked, TTY or multiplexed), resize, inspect.

Each start runs `vessel-runtime --root <run> exec [--tty --console-socket S]
[--env] [--user uid:gid] [--cwd] [--cap]... --pid-file F ID CMD...` (as the
daemonless `vessel exec` does) with pipes, or with the pty master the
runtime hands over on the console socket, and pumps its streams to the
client.  The exit code is recorded before the client's connection is closed,
so a client that inspects the instance as soon as its stream ends (the
docker CLI does) reads it.  Instances live in the daemon's memory, as in
dockerd: they do not survive a daemon restart.
"""

from __future__ import annotations

import array
import fcntl
import os
import secrets
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field

from vessel.api.attach import stream_type
from vessel.api.body import Fields
from vessel.api.messages import Hijack, Request, Response, json_response, no_content
from vessel.api.streams import STDERR, STDOUT, PipeEnd, PtyEnd, Pump, finish_client
from vessel.errors import Conflict, InvalidArgument, NotFound, SystemFailure

MAX_INSTANCES = 1000
CONSOLE_TIMEOUT = 30.0


@dataclass(eq=False)
class ExecInstance:
    id: str
    container_id: str
    cmd: list[str]
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    tty: bool = False
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    privileged: bool = False
    console_size: tuple[int, int] | None = None
    detach_keys: str = ""
    started: bool = False
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    master: int = -1
    pid_file: str = ""
    created: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to_json(self) -> dict:
        if not self.pid and self.pid_file:
            try:
                self.pid = int(open(self.pid_file).read().strip() or 0)
            except (OSError, ValueError):
                pass
        return {"CanRemove": False, "ContainerID": self.container_id, "DetachKeys": self.detach_keys,
                "ExitCode": self.exit_code, "ID": self.id, "OpenStderr": self.stderr, "OpenStdin": self.stdin,
                "OpenStdout": self.stdout, "Running": self.running, "Pid": self.pid if self.running else 0,
                "ProcessConfig": {"arguments": self.cmd[1:], "entrypoint": self.cmd[0], "privileged": self.privileged,
                                  "tty": self.tty, "user": self.user}}


class ExecRegistry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, ExecInstance] = {}

    def add(self, inst: ExecInstance) -> ExecInstance:
        with self.lock:
            if len(self.items) >= MAX_INSTANCES:
                done = sorted((i for i in self.items.values() if not i.running), key=lambda i: i.created)
                for old in done[:len(self.items) - MAX_INSTANCES + 1]:
                    del self.items[old.id]
            self.items[inst.id] = inst
        return inst

    def get(self, ident: str) -> ExecInstance:
        with self.lock:
            inst = self.items.get(ident)
        if inst is None:
            raise NotFound(f"No such exec instance: {ident}")
        return inst

    def ids_for(self, cid: str) -> list[str]:
        with self.lock:
            return [i.id for i in self.items.values() if i.container_id == cid and i.running]


def _running(engine, ref: str):
    rec = engine.get(ref)
    if rec.status == "paused":
        raise Conflict(f"Container {rec.id} is paused, unpause the container before exec")
    if rec.status != "running":
        raise Conflict(f"Container {rec.id} is not running")
    return rec


def create(req: Request) -> Response:
    rec = _running(req.ctx.engine, req.params["id"])
    body = Fields(req.json_object(required=True), "ExecConfig")
    raw_cmd = body.data.get("Cmd")
    cmd = [raw_cmd] if isinstance(raw_cmd, str) else body.strs("Cmd")
    if not cmd:
        raise InvalidArgument("No exec command specified", field="Cmd")
    size = body.data.get("ConsoleSize")
    if size is not None and not (isinstance(size, list) and len(size) == 2
                                 and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 65536
                                         for v in size)):
        raise InvalidArgument("ConsoleSize must be [height, width]", field="ConsoleSize")
    for item in body.strs("Env") or []:
        if "=" not in item:
            raise InvalidArgument(f"invalid environment variable {item!r}: KEY=VALUE expected", field="Env")
    inst = ExecInstance(secrets.token_hex(32), rec.id, cmd, env=body.strs("Env") or [], user=body.str("User") or "",
                        workdir=body.str("WorkingDir") or "", tty=body.bool("Tty"), stdin=body.bool("AttachStdin"),
                        stdout=body.bool("AttachStdout"), stderr=body.bool("AttachStderr"),
                        privileged=body.bool("Privileged"), console_size=tuple(size) if size else None,
                        detach_keys=body.str("DetachKeys") or "")
    req.ctx.daemon.execs.add(inst)
    req.ctx.events.publish("container", f"exec_create: {' '.join(cmd)}", rec.id,
                           {"name": rec.name, "image": rec.image, "execID": inst.id})
    return json_response({"Id": inst.id}, 201)


def _user(rec, spec: str) -> str | None:
    if not spec:
        return None
    from vessel.engine.users import resolve_user

    def read(name: str) -> str | None:
        try:
            with open(f"/proc/{rec.pid}/root/etc/{name}") as f:
                return f.read()
        except OSError:
            return None
    uid, gid, _groups, _home = resolve_user(spec, read("passwd"), read("group"))
    return f"{uid}:{gid}"


def _caps() -> list[str]:
    from vessel.runtime.linux.caps import CAPS

    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read().strip())
    except (OSError, ValueError):
        last = len(CAPS) - 1
    return list(CAPS[:last + 1])


def exec_argv(engine, rec, inst: ExecInstance, pid_file: str, console: str | None) -> list[str]:
    from vessel.engine import monitor

    argv = [monitor.runtime_path(rec.options.get("runtime")), "--root", str(engine.runtime_root), "exec"]
    for item in inst.env:
        argv += ["--env", item]
    if inst.workdir:
        argv += ["--cwd", inst.workdir]
    user = _user(rec, inst.user)
    if user:
        argv += ["--user", user]
    if inst.privileged:
        for cap in _caps():
            argv += ["--cap", cap]
    if console:
        argv += ["--tty", "--console-socket", console]
    return [*argv, "--pid-file", pid_file, rec.id, "--", *inst.cmd]


def start(req: Request):
    engine = req.ctx.engine
    inst = req.ctx.daemon.execs.get(req.params["id"])
    body = Fields(req.json_object(), "ExecStartConfig")
    detach = body.bool("Detach")
    with inst.lock:
        if inst.started:
            raise Conflict(f"Exec command {inst.id} is already running" if inst.running
                           else f"Exec command {inst.id} has already run")
        rec = _running(engine, inst.container_id)
        inst.started = inst.running = True
    events = req.ctx.events
    events.publish("container", f"exec_start: {' '.join(inst.cmd)}", rec.id,
                   {"name": rec.name, "image": rec.image, "execID": inst.id})
    if detach:
        tmp = tempfile.mkdtemp(prefix="vessel-exec-")
        inst.pid_file = os.path.join(tmp, "pid")
        proc = subprocess.Popen(exec_argv(engine, rec, inst, inst.pid_file, None), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        threading.Thread(target=_reap, args=(inst, proc, tmp, events, rec), daemon=True).start()
        return Response(200, b"", None)
    argv_for = lambda pid_file, console: exec_argv(engine, rec, inst, pid_file, console)  # noqa: E731

    def run(conn) -> None:
        try:
            _run_attached(conn, inst, argv_for, events, rec)
        finally:
            finish_client(conn.sock)
    return Hijack(run, stream_type(req, inst.tty))


def _reap(inst: ExecInstance, proc: subprocess.Popen, tmp: str, events, rec) -> None:
    code = proc.wait()
    _finished(inst, code, tmp, events, rec)


def _finished(inst: ExecInstance, code: int, tmp: str, events, rec) -> None:
    inst.exit_code = code if code >= 0 else 128 - code
    inst.running = False
    if inst.master >= 0:
        try:
            os.close(inst.master)
        except OSError:
            pass
        inst.master = -1
    shutil.rmtree(tmp, ignore_errors=True)
    events.publish("container", "exec_die", rec.id, {"name": rec.name, "image": rec.image, "execID": inst.id,
                                                      "exitCode": str(inst.exit_code)})


def _run_attached(conn, inst: ExecInstance, argv_for, events, rec) -> None:
    tmp = tempfile.mkdtemp(prefix="vessel-exec-")
    inst.pid_file = os.path.join(tmp, "pid")
    want = frozenset(s for s, on in ((STDOUT, inst.stdout), (STDERR, inst.stderr)) if on)
    code = 255
    try:
        if inst.tty:
            code = _run_tty(conn, inst, argv_for, tmp, want)
        else:
            code = _run_pipes(conn, inst, argv_for, want)
    finally:
        _finished(inst, code, tmp, events, rec)


def _run_pipes(conn, inst: ExecInstance, argv_for, want) -> int:
    proc = subprocess.Popen(argv_for(inst.pid_file, None), stdin=subprocess.PIPE if inst.stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = PipeEnd(proc.stdout.fileno(), STDOUT), PipeEnd(proc.stderr.fileno(), STDERR)
    stdin = None
    if proc.stdin is not None:  # the pump owns (and closes) its own copy: closing stdin is how EOF is sent
        stdin = PipeEnd(os.dup(proc.stdin.fileno()))
        proc.stdin.close()
    try:
        Pump(conn.sock, [out, err], stdin, tty=False, want=want, pending_input=conn.leftover).run()
    finally:
        if stdin is not None:
            stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    return proc.wait()


def _run_tty(conn, inst: ExecInstance, argv_for, tmp: str, want) -> int:
    path = os.path.join(tmp, "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    proc = subprocess.Popen(argv_for(inst.pid_file, path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        master = _receive_master(server, proc)
    finally:
        server.close()
    diag = PipeEnd(proc.stdout.fileno(), STDOUT)
    if master is None:
        Pump(conn.sock, [diag], None, tty=True, want=want).run()
        proc.stdout.close()
        return proc.wait()
    inst.master = master
    if inst.console_size:
        set_size(master, *inst.console_size)
    sources = [PtyEnd(master, STDOUT), diag]
    Pump(conn.sock, sources, sources[0] if inst.stdin else None, tty=True, want=want,
         pending_input=conn.leftover).run()
    proc.stdout.close()
    return proc.wait()


def _receive_master(server: socket.socket, proc: subprocess.Popen) -> int | None:
    deadline = time.monotonic() + CONSOLE_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([server], [], [], 0.1)
        if ready:
            conn, _ = server.accept()
            with conn:
                fds = array.array("i")
                _msg, anc, _flags, _addr = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
                for level, kind, data in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(data[:fds.itemsize])
                return fds[0] if fds else None
        if proc.poll() is not None:
            return None
    proc.kill()
    return None


def set_size(master: int, height: int, width: int) -> None:
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    except OSError as err:
        raise SystemFailure.from_os_error("resize the exec's terminal", err) from None


def resize(req: Request) -> Response:
    inst = req.ctx.daemon.execs.get(req.params["id"])
    height, width = req.int_arg("h", 0, minimum=0), req.int_arg("w", 0, minimum=0)
    if height > 65535 or width > 65535:
        raise InvalidArgument("terminal size out of range", field="h/w")
    if inst.master >= 0:
        set_size(inst.master, height, width)
    elif inst.running and not inst.tty:
        pass  # no terminal: nothing to resize (dockerd answers the same)
    return no_content(200)


def inspect(req: Request) -> Response:
    return json_response(req.ctx.daemon.execs.get(req.params["id"]).to_json())


ROUTES = [
    ("POST", "/containers/{id}/exec", create),
    ("POST", "/exec/{id}/start", start),
    ("POST", "/exec/{id}/resize", resize),
    ("GET", "/exec/{id}/json", inspect),
]
