"""start, state, kill, delete, pause, resume, update, ps, list: the short verbs."""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

from vessel.errors import Conflict, InvalidArgument, NotFound, SystemFailure
from vessel.runtime.state import ContainerState, StateDir, is_alive, status


def _manager(state: ContainerState):
    from vessel.runtime import cgroups

    return cgroups.Manager.from_paths(state.cgroup_paths)


def current_status(sd: StateDir, state: ContainerState) -> str:
    s = status(sd, state)
    if s == "running" and state.cgroup_paths:
        try:
            if _manager(state).frozen():
                return "paused"
        except OSError:
            pass
    return s


def load(root: Path, container_id: str) -> tuple[StateDir, ContainerState]:
    sd = StateDir(root, container_id)
    return sd, sd.load()


def state_json(root: Path, container_id: str) -> dict:
    sd, st = load(root, container_id)
    return st.to_oci(current_status(sd, st))


def start(root: Path, container_id: str, warn) -> None:
    sd, st = load(root, container_id)
    s = current_status(sd, st)
    if s != "created":
        raise Conflict(f"cannot start container {container_id!r}: it is {s}", status=s,
                       hint="only a created container can be started; `run` creates and starts")
    fd = _open_fifo(sd, st)
    try:
        data = os.read(fd, 1)
    finally:
        os.close(fd)
    if data != b"0":
        raise SystemFailure(f"container {container_id!r} init exited before start")
    try:
        sd.fifo.unlink()
    except FileNotFoundError:
        pass
    spec_hooks = _hooks(sd)
    if spec_hooks and spec_hooks.poststart:
        from vessel.runtime.hooks import run_hooks

        try:
            run_hooks("poststart", list(spec_hooks.poststart), st.to_oci("running"))
        except SystemFailure as err:
            warn(str(err))


def _hooks(sd: StateDir):
    import json

    raw = json.loads(sd.config_file.read_bytes())
    if not raw.get("hooks"):
        return None
    from vessel.oci._codec import decode
    from vessel.oci.spec import Hooks

    return decode(Hooks, raw["hooks"], "config.hooks")


def _open_fifo(sd: StateDir, st: ContainerState) -> int:
    """Open exec.fifo for reading; init's blocked open for writing then completes."""
    fd = os.open(sd.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    pidfd = os.pidfd_open(st.pid)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd, pidfd], [], [], 0.5)
            if fd in ready:
                os.set_blocking(fd, True)
                return fd
            if pidfd in ready:
                break
        os.close(fd)
        raise SystemFailure(f"container {st.id!r} init is not waiting for start (exited?)")
    finally:
        os.close(pidfd)


SIGNALS = {name[3:]: int(getattr(signal, name)) for name in dir(signal)
           if name.startswith("SIG") and not name.startswith("SIG_") and isinstance(getattr(signal, name), int)}


def parse_signal(value: str) -> int:
    text = value.upper()
    if text.isdigit():
        num = int(text)
        if 0 < num < 65:
            return num
    else:
        name = text[3:] if text.startswith("SIG") else text
        if name in SIGNALS:
            return SIGNALS[name]
        if name.startswith("RTMIN+") and name[6:].isdigit():
            return int(signal.SIGRTMIN) + int(name[6:])
    raise InvalidArgument(f"unknown signal {value!r}", hint="use a name such as TERM or KILL, or a number 1-64")


def kill(root: Path, container_id: str, sig: int, all_processes: bool = False) -> None:
    sd, st = load(root, container_id)
    s = current_status(sd, st)
    if s == "stopped":
        raise Conflict(f"container {container_id!r} is not running", status=s)
    if all_processes:
        _manager(st).kill_all(sig)
        return
    try:
        os.kill(st.pid, sig)
    except ProcessLookupError:
        raise Conflict(f"container {container_id!r} is not running") from None


def wait_gone(pid: int, timeout: float) -> bool:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(pidfd)


def delete(root: Path, container_id: str, force: bool, warn) -> None:
    sd = StateDir(root, container_id)
    try:
        st = sd.load()
    except NotFound:
        if force:
            return
        raise
    s = current_status(sd, st)
    if s in ("running", "paused") and not force:
        raise Conflict(f"cannot delete container {container_id!r} that is not stopped: {s}", status=s,
                       hint="stop it first, or use delete --force")
    manager = _manager(st) if st.cgroup_paths else None
    if s != "stopped":
        if manager is not None and s == "paused":
            manager.thaw()
        if is_alive(st):
            try:
                os.kill(st.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if not wait_gone(st.pid, 10):
                raise SystemFailure(f"container {container_id!r} init (pid {st.pid}) did not die after SIGKILL")
    if manager is not None:
        if manager.pids():
            manager.kill_all(signal.SIGKILL)
        manager.destroy()
    hooks = _hooks(sd) if sd.config_file.exists() else None
    if hooks and hooks.poststop:
        from vessel.runtime.hooks import run_hooks

        try:
            run_hooks("poststop", list(hooks.poststop), st.to_oci("stopped"))
        except SystemFailure as err:
            warn(str(err))
    sd.remove()


def pause(root: Path, container_id: str) -> None:
    sd, st = load(root, container_id)
    s = current_status(sd, st)
    if s != "running":
        raise Conflict(f"cannot pause container {container_id!r}: it is {s}", status=s)
    _manager(st).freeze()


def resume(root: Path, container_id: str) -> None:
    sd, st = load(root, container_id)
    s = current_status(sd, st)
    if s != "paused":
        raise Conflict(f"cannot resume container {container_id!r}: it is {s}", status=s)
    _manager(st).thaw()


def pids(root: Path, container_id: str) -> list[int]:
    _sd, st = load(root, container_id)
    return sorted(_manager(st).pids())


def update(root: Path, container_id: str, resources) -> list[str]:
    sd, st = load(root, container_id)
    s = current_status(sd, st)
    if s == "stopped":
        raise Conflict(f"cannot update container {container_id!r}: it is stopped")
    return _manager(st).apply(resources)


def list_containers(root: Path) -> list[dict]:
    out = []
    if not root.is_dir():
        return out
    for entry in sorted(root.iterdir()):
        sd = StateDir(root, entry.name)
        try:
            st = sd.load()
        except (NotFound, ValueError):
            continue
        s = current_status(sd, st)
        out.append({"id": st.id, "pid": st.pid if s != "stopped" else 0, "status": s, "bundle": st.bundle,
                    "created": st.created, "owner": st.owner})
    return out
