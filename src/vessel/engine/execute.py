"""`vessel exec`: a process in a running container, through the OCI runtime's exec."""

from __future__ import annotations

import array
import os
import socket
import subprocess
import tempfile

from vessel.errors import Conflict, InvalidArgument


def _user(engine, rec, spec: str | None) -> str | None:
    if not spec:
        return None
    from vessel.engine.users import resolve_user

    merged = engine.cdir(rec.id) / "merged"

    def read(name):
        try:
            return (merged / "etc" / name).read_text(errors="replace")
        except OSError:
            return None
    uid, gid, _groups, _home = resolve_user(spec, read("passwd"), read("group"))
    return f"{uid}:{gid}"


def exec_in(engine, args) -> int:
    from vessel.engine import monitor

    rec = engine.get(args.container)
    if rec.status != "running":
        raise Conflict(f"container {rec.short_id} is not running", hint=f"start it first: vessel start {rec.name}")
    command = [c for c in args.command]
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise InvalidArgument("exec needs a command", hint="vessel exec CONTAINER COMMAND [ARG...]")
    cmd = [monitor.runtime_path(rec.options.get("runtime")), "--root", str(engine.runtime_root), "exec"]
    for e in args.env:
        cmd += ["--env", e if "=" in e else f"{e}={os.environ.get(e, '')}"]
    if args.workdir:
        cmd += ["--cwd", args.workdir]
    user = _user(engine, rec, args.user)
    if user:
        cmd += ["--user", user]
    if args.detach:
        cmd.append("--detach")
    if args.tty and not args.detach:
        return _exec_tty(cmd, rec.id, command, args.interactive)
    cmd += [rec.id, *command]
    stdin = None if args.interactive else subprocess.DEVNULL
    return subprocess.call(cmd, stdin=stdin)


def _exec_tty(cmd: list[str], cid: str, command: list[str], interactive: bool) -> int:
    from vessel.engine.attach import pump_pty

    with tempfile.TemporaryDirectory(prefix="vessel-exec-") as tmp:
        path = os.path.join(tmp, "console.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
        proc = subprocess.Popen([*cmd, "--tty", "--console-socket", path, cid, *command], stdin=subprocess.DEVNULL)
        server.settimeout(30)
        try:
            conn, _ = server.accept()
        except socket.timeout:
            proc.kill()
            raise Conflict("exec: the runtime did not hand over a terminal") from None
        finally:
            server.close()
        with conn:
            fds = array.array("i")
            _msg, anc, _flags, _addr = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
            fds.frombytes(anc[0][2][:fds.itemsize])
        master = fds[0]
        try:
            pump_pty(master, stdin=interactive)
        finally:
            os.close(master)
        return proc.wait()
