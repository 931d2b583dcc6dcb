"""The container's init: runs in the new namespaces, prepares the rootfs, waits for start, execs.

This is the forked grandchild of `vessel-runtime create` (pid 1 of a new pid
namespace).  It never returns: it execs the user's program or exits.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from vessel.errors import VesselError
from vessel.oci.spec import Spec
from vessel.runtime import process as proc_mod
from vessel.runtime import rootfs
from vessel.runtime.channel import Channel
from vessel.runtime.hooks import fork_hooks_in_place, hook_list
from vessel.runtime.linux import libc as L


@dataclass(frozen=True)
class InitContext:
    rootfs: str
    fifo: str
    console_socket: str | None
    cgroup_dirs: dict[str, str]
    cgroup_v2_only: bool
    new_cgroupns: bool
    userns: bool
    runtime_exe: tuple[int, int]
    state: dict
    fifo_fd: int = -1  # opened O_PATH by the namespace helper while it was still host root


def preload(spec: Spec) -> None:
    """Import now what the process set-up needs later: after pivot_root the host's files are gone."""
    from vessel.runtime.linux import caps, rlimits  # noqa: F401

    if spec.linux and spec.linux.seccomp:
        import seccomp  # noqa: F401  (libseccomp binding)

        from vessel.runtime import seccomp as _sc  # noqa: F401
    import array, fcntl, termios, struct, socket, json, subprocess, errno  # noqa: E401,F401


def _warn(message: str) -> None:
    os.write(2, f"vessel-runtime: warning: {message}\n".encode())


def run(chan: Channel, spec: Spec, ctx: InitContext) -> None:
    try:
        exe_path = _setup(chan, spec, ctx)
    except BaseException as err:  # report every set-up failure to the runtime, then die
        chan.send_error(err)
        os._exit(1)
    try:
        fifo_fd = int(exe_path[1])
        fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)  # blocks until `start`
        os.write(fd, b"0")
        os.close(fd)
        os.close(fifo_fd)
        fork_hooks_in_place("startContainer", hook_list(spec.hooks, "start_container"), ctx.state)
        proc_mod.apply_process(spec.process, spec.linux.seccomp if spec.linux else None, _warn)
        proc_mod.execute(exe_path[0], spec.process)
    except VesselError as err:
        os.write(2, f"vessel-runtime: error: {err}\n".encode())
        os._exit(getattr(err, "exit_code", 1) if getattr(err, "exit_code", 1) in (126, 127) else 1)
    except BaseException as err:
        os.write(2, f"vessel-runtime: error: {type(err).__name__}: {err}\n".encode())
        os._exit(1)


def _setup(chan: Channel, spec: Spec, ctx: InitContext) -> tuple[str, int]:
    preload(spec)  # while the runtime moves us into our cgroups and runs its hooks
    chan.expect("go")
    if ctx.new_cgroupns:
        L.unshare(L.CLONE_NEWCGROUP)
    L.prctl(L.PR_SET_DUMPABLE, 0)
    os.setsid()
    console = None
    if spec.process and spec.process.terminal:
        if not ctx.console_socket:
            raise VesselError("process.terminal is true but no --console-socket was given",
                              hint="pass --console-socket PATH, or set terminal to false")
        from vessel.runtime import console as console_mod

        console = console_mod.connect(ctx.console_socket)
    fifo_fd = ctx.fifo_fd if ctx.fifo_fd >= 0 else os.open(ctx.fifo, os.O_PATH | os.O_CLOEXEC)
    rctx = rootfs.RootfsContext(ctx.cgroup_dirs, ctx.new_cgroupns, ctx.cgroup_v2_only, ctx.userns)
    rootfs.prepare(spec, ctx.rootfs, rctx)
    fork_hooks_in_place("createContainer", hook_list(spec.hooks, "create_container"), ctx.state)
    rootfs.pivot(ctx.rootfs)
    rootfs.finish(spec)
    if spec.hostname:
        L.sethostname(spec.hostname)
    if spec.domainname:
        L.setdomainname(spec.domainname)
    if console is not None:
        from vessel.runtime import console as console_mod

        console_mod.setup_terminal(console, spec.process.console_size)
    proc = spec.process
    path = proc_mod.find_executable(proc.args[0], proc.env, proc.cwd)
    proc_mod.refuse_runtime_binary(path, ctx.runtime_exe)
    if not os.path.exists(f"/proc/self/fd/{fifo_fd}"):
        raise VesselError("the container has no /proc: vessel-runtime needs proc mounted at /proc",
                          hint='add {"destination": "/proc", "type": "proc", "source": "proc"} to mounts')
    chan.send("ready")
    chan.close()
    proc_mod.mark_fds_cloexec(3)
    sys.stdout.flush()
    return path, fifo_fd
