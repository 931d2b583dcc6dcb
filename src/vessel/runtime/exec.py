"""`exec`: run another process inside a running container's namespaces and cgroups.

  runtime (P) --fork--> C: setns into /proc/<init>/ns/* --fork--> X (in the pid namespace)
  P puts X into the container's cgroups, X sets itself up (user, caps, seccomp) and execs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from vessel.errors import Conflict, InvalidArgument
from vessel.oci._codec import decode
from vessel.oci.spec import Process, Spec, User, parse_spec
from vessel.runtime import ops
from vessel.runtime.channel import Channel
from vessel.runtime.create import JOIN_ORDER, INIT_TIMEOUT, _runtime_exe
from vessel.runtime.linux import libc as L


@dataclass(frozen=True)
class ExecOptions:
    process_file: str | None = None
    args: tuple[str, ...] = ()
    tty: bool = False
    detach: bool = False
    pid_file: str | None = None
    console_socket: str | None = None
    cwd: str | None = None
    env: tuple[str, ...] = ()
    user: str | None = None
    cap_add: tuple[str, ...] = ()
    no_new_privs: bool = False


def build_process(base: Process, opts: ExecOptions) -> Process:
    """The exec'd process: --process FILE, or the container's process with the given overrides (pure)."""
    if opts.process_file:
        import json

        with open(opts.process_file) as f:
            return decode(Process, json.load(f), "process")
    if not opts.args:
        raise InvalidArgument("exec needs a command (or --process FILE)")
    env = list(base.env)
    for item in opts.env:
        if "=" not in item:
            raise InvalidArgument(f"--env {item!r} is not KEY=VALUE")
        k = item.split("=", 1)[0] + "="
        env = [e for e in env if not e.startswith(k)] + [item]
    user = base.user
    if opts.user:
        uid, _, gid = opts.user.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise InvalidArgument(f"--user {opts.user!r} must be UID[:GID] (numbers)")
        user = User(uid=int(uid), gid=int(gid) if gid else 0, additional_gids=[])
    caps = base.capabilities
    if caps is not None and opts.cap_add:
        caps = replace(caps, **{k: sorted(set(getattr(caps, k)) | set(opts.cap_add))
                                for k in ("bounding", "effective", "permitted")})
    return replace(base, args=list(opts.args), env=env, cwd=opts.cwd or base.cwd, terminal=opts.tty,
                   user=user, capabilities=caps, no_new_privileges=base.no_new_privileges or opts.no_new_privs,
                   console_size=None)


def _ns_fds(pid: int, spec: Spec) -> list[tuple[str, int]]:
    fds = []
    for kind in JOIN_ORDER:
        if spec.linux.namespace(kind) is None:
            continue
        name = L.NAMESPACE_FILES[kind]
        theirs = os.stat(f"/proc/{pid}/ns/{name}")
        ours = os.stat(f"/proc/self/ns/{name}")
        if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
            fds.append((kind, os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)))
    return fds


def exec_process(root: Path, container_id: str, opts: ExecOptions, warn) -> int:
    sd, st = ops.load(root, container_id)
    s = ops.current_status(sd, st)
    if s not in ("running", "created"):
        raise Conflict(f"cannot exec in container {container_id!r}: it is {s}", status=s)
    import json

    spec = parse_spec(json.loads(sd.config_file.read_bytes()))
    proc = build_process(spec.process, opts)
    if proc.terminal and not opts.console_socket:
        raise InvalidArgument("--tty needs --console-socket", hint="the console socket receives the pty master")
    from vessel.runtime.init import preload

    preload(spec)
    manager = ops._manager(st)
    console_sock = None
    if proc.terminal:
        from vessel.runtime import console

        console_sock = console.connect(opts.console_socket)  # a host path: connect before setns(mount)
    exe = _runtime_exe()
    fds = _ns_fds(st.pid, spec)
    L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
    parent, child = Channel.pair()
    pid_c = os.fork()
    if pid_c == 0:
        parent.close()
        _join_and_fork(child, fds, proc, spec, console_sock, exe)
    child.close()
    for _, fd in fds:
        os.close(fd)
    if console_sock is not None:
        console_sock.close()
    try:
        msg = parent.expect("pid", INIT_TIMEOUT)
        xpid = msg["pid"]
        os.waitpid(pid_c, 0)
        manager.add(xpid)
        parent.send("go")
        parent.expect("ready", INIT_TIMEOUT)
    finally:
        parent.close()
    if opts.pid_file:
        tmp = f"{opts.pid_file}.tmp"
        with open(tmp, "w") as f:
            f.write(str(xpid))
        os.replace(tmp, opts.pid_file)
    if opts.detach:
        return 0
    from vessel.runtime.run import wait_forwarding

    return wait_forwarding(xpid)


def _join_and_fork(chan: Channel, fds, proc: Process, spec: Spec, console_sock, exe) -> None:
    try:
        for kind, fd in fds:
            L.setns(fd, L.NAMESPACE_FLAGS[kind], f"{kind} namespace of the container")
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            _exec_child(chan, proc, spec, console_sock, exe)
        chan.send("pid", pid=pid)
        os._exit(0)
    except BaseException as err:
        chan.send_error(err)
        os._exit(1)


def _exec_child(chan: Channel, proc: Process, spec: Spec, console_sock, exe) -> None:
    from vessel.runtime import process as P

    try:
        chan.expect("go")
        L.prctl(L.PR_SET_DUMPABLE, 0)
        os.setsid()
        if console_sock is not None:
            from vessel.runtime import console

            console.setup_terminal(console_sock, proc.console_size)
        path = P.find_executable(proc.args[0], proc.env, proc.cwd)
        P.refuse_runtime_binary(path, exe)
        chan.send("ready")
        chan.close()
        P.mark_fds_cloexec(3)
    except BaseException as err:
        chan.send_error(err)
        os._exit(1)
    try:
        P.apply_process(proc, spec.linux.seccomp if spec.linux else None,
                        lambda m: os.write(2, f"vessel-runtime: warning: {m}\n".encode()))
        P.execute(path, proc)
    except BaseException as err:
        os.write(2, f"vessel-runtime: error: {err}\n".encode())
        os._exit(getattr(err, "exit_code", 1) if getattr(err, "exit_code", 1) in (126, 127) else 1)

