"""`create`: from a bundle to an init process waiting in its namespaces (runtime side).

  runtime (P) --fork--> child (C): join/unshare namespaces --fork--> init (G, pid 1)
  P: cgroups, uid maps, hooks, pid file, state.json;  G: rootfs, then waits on exec.fifo
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

from vessel.errors import InvalidArgument, SystemFailure, VesselError
from vessel.oci.spec import Spec, load_spec
from vessel.runtime import cgroups
from vessel.runtime.channel import Channel
from vessel.runtime.hooks import hook_list, run_hooks
from vessel.runtime.linux import libc as L
from vessel.runtime.state import ContainerState, StateDir, process_start_time

# setns order: user first (it grants the rights for the rest), mount last.
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")
INIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class CreateOptions:
    root: Path
    container_id: str
    bundle: Path
    pid_file: str | None = None
    console_socket: str | None = None
    systemd_cgroup: bool = False
    preserve_fds: int = 0


def _runtime_exe() -> tuple[int, int]:
    st = os.stat("/proc/self/exe")
    return st.st_dev, st.st_ino


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _host_root_ids(spec: Spec) -> tuple[int, int]:
    """The host uid and gid that the container's root maps to (0, 0 without a user namespace)."""
    def host(maps) -> int:
        for m in maps:
            if m.container_id == 0:
                return m.host_id
        return 0
    return host(spec.linux.uid_mappings), host(spec.linux.gid_mappings)


def _write_id_maps(pid: int, spec: Spec) -> None:
    linux = spec.linux
    for name, maps in (("uid_map", linux.uid_mappings), ("gid_map", linux.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as err:
            raise SystemFailure.from_os_error(f"write {name} {text.strip()!r} for pid {pid}", err,
                                              hint="mappings must not overlap and need privileges for ids "
                                                   "other than your own") from None


def _child(chan: Channel, spec: Spec, init_args) -> None:
    """C: enter namespaces, then fork the init.  Never returns."""
    try:
        from dataclasses import replace as _replace

        # open the fifo before entering a user namespace: the container's root may not be
        # able to walk the path to the state directory, but can reopen this fd via /proc
        init_args = _replace(init_args, fifo_fd=os.open(init_args.fifo, os.O_PATH | os.O_CLOEXEC))
        linux = spec.linux
        for kind in JOIN_ORDER:
            ns = linux.namespace(kind)
            if ns is not None and ns.path:
                fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    L.setns(fd, L.NAMESPACE_FLAGS[kind], f"{kind} namespace {ns.path}")
                finally:
                    os.close(fd)
        new = {ns.type for ns in linux.namespaces if not ns.path}
        if "user" in new:
            L.unshare(L.CLONE_NEWUSER)
            chan.send("userns")
            chan.expect("mapped")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        flags = 0
        for kind in new - {"user", "cgroup"}:
            flags |= L.NAMESPACE_FLAGS[kind]
        if flags:
            L.unshare(flags)
        if "time" in new and linux.time_offsets:
            with open("/proc/self/timens_offsets", "w") as f:
                for clock, off in linux.time_offsets.items():
                    f.write(f"{clock} {off.get('secs', 0)} {off.get('nanosecs', 0)}\n")
        pid = os.fork()
        if pid == 0:
            from vessel.runtime import init

            init.run(chan, spec, init_args)
            os._exit(1)
        chan.send("pid", pid=pid)
        os._exit(0)
    except BaseException as err:
        chan.send_error(err)
        os._exit(1)


def create(opts: CreateOptions, warn) -> tuple[StateDir, ContainerState]:
    bundle = opts.bundle.resolve()
    spec = load_spec(bundle)
    if spec.process is None:
        raise InvalidArgument("config.json has no process to run", hint="add a process section with args")
    if spec.linux is None or spec.linux.namespace("mount") is None:
        raise InvalidArgument("vessel-runtime needs a mount namespace", hint='add {"type": "mount"} to linux.namespaces')
    sd = StateDir(opts.root, opts.container_id)
    sd.make()
    manager = None
    init_pid = 0
    try:
        rootfs = str((bundle / spec.root.path).resolve())
        if not os.path.isdir(rootfs):
            raise InvalidArgument(f"root.path {spec.root.path!r} is not a directory ({rootfs})", path=rootfs)
        (sd.config_file).write_bytes((bundle / "config.json").read_bytes())
        layout = cgroups.detect()
        cg_path = cgroups.resolve(layout, spec.linux.cgroups_path, opts.container_id, opts.systemd_cgroup)
        manager = cgroups.Manager.open(layout, cg_path)
        for w in manager.create():
            warn(w)
        if spec.linux.resources is not None:
            for w in manager.apply(spec.linux.resources):
                warn(w)
        os.mkfifo(sd.fifo, 0o622)
        root_uid, root_gid = _host_root_ids(spec)
        if (root_uid, root_gid) != (0, 0):
            os.chown(sd.fifo, root_uid, root_gid)  # the init, root of its user namespace, must open it
        state = ContainerState(id=opts.container_id, bundle=str(bundle), rootfs=rootfs, created=_now(),
                               owner="root" if os.geteuid() == 0 else str(os.geteuid()),
                               annotations=dict(spec.annotations), cgroup_paths=dict(manager.paths),
                               namespaces={ns.type: ns.path or "" for ns in spec.linux.namespaces},
                               creating=True)
        sd.save(state)
        state, init_pid = _spawn(opts, spec, sd, state, manager, layout)
        return sd, state
    except BaseException:
        if init_pid:
            try:
                os.kill(init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if manager is not None:
            try:
                manager.kill_all(signal.SIGKILL)
                manager.destroy()
            except VesselError as err:
                warn(f"cleanup after failed create: {err}")
        sd.remove()
        raise


def _spawn(opts, spec, sd, state, manager, layout):
    from vessel.runtime.init import InitContext

    new_types = {ns.type for ns in spec.linux.namespaces if not ns.path}
    ctx = InitContext(
        rootfs=state.rootfs, fifo=str(sd.fifo), console_socket=opts.console_socket,
        cgroup_dirs=dict(manager.paths), cgroup_v2_only=layout.mode == "v2",
        new_cgroupns="cgroup" in new_types, userns=spec.linux.namespace("user") is not None,
        runtime_exe=_runtime_exe(), state=state.to_oci("creating"),
    )
    parent, child = Channel.pair()
    pid_c = os.fork()
    if pid_c == 0:
        parent.close()
        _child(child, spec, ctx)
    child.close()
    init_pid = 0
    try:
        msg = parent.recv(INIT_TIMEOUT)
        if msg["type"] == "userns":
            _write_id_maps(pid_c, spec)
            parent.send("mapped")
            msg = parent.recv(INIT_TIMEOUT)
        if msg["type"] != "pid":
            parent.sock.close()
            _reap(pid_c)
            raise _init_error(msg)
        init_pid = msg["pid"]
        _reap(pid_c)
        manager.add(init_pid)
        state = replace(state, pid=init_pid, pid_start=process_start_time(init_pid) or 0)
        sd.save(state)
        oci_state = state.to_oci("created")
        run_hooks("prestart", hook_list(spec.hooks, "prestart"), oci_state)
        run_hooks("createRuntime", hook_list(spec.hooks, "create_runtime"), oci_state)
        parent.send("go")
        parent.expect("ready", INIT_TIMEOUT)
    except BaseException:
        if init_pid:
            try:
                os.kill(init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise
    finally:
        parent.close()
    if opts.pid_file:
        tmp = f"{opts.pid_file}.tmp"
        with open(tmp, "w") as f:
            f.write(str(init_pid))
        os.replace(tmp, opts.pid_file)
    state = replace(state, creating=False)
    sd.save(state)
    return state, init_pid


def _reap(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return status


def _init_error(msg: dict) -> VesselError:
    if msg["type"] == "error":
        err = SystemFailure(msg.get("message", "container init failed"), hint=msg.get("hint"))
        err.exit_code = msg.get("exit_code", 1)
        return err
    return SystemFailure("container set-up failed: the namespace helper exited without a word")
