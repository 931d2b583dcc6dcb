"""Moving a running guest in time and space, through QMP (``qemu.qmp``).

* suspend: pause the vCPUs, stream the machine state (RAM and devices) with QMP
  ``migrate`` to ``ram.state`` (an fd passed over the QMP socket with SCM_RIGHTS),
  then quit QEMU.  The disk overlay is untouched and stays with the folder.
* resume: start QEMU with ``-incoming defer``, feed it ``ram.state`` with
  ``migrate-incoming``, then ``cont``.  The guest never notices.
* migrate: live pre-copy between two vessel roots over TCP on 127.0.0.1: the
  destination QEMU waits on ``migrate-incoming tcp:...``; the source sends RAM while
  the guest runs, re-sending dirtied pages, and stops it only for the last round
  (the downtime).  The disk overlay goes along in the same stream (``blk``/``inc``:
  only the overlay's blocks, the destination has the base).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qemu.qmp import QMPClient

from vessel.errors import Conflict, SystemFailure, Unsupported
from vessel.vm import disk, launch, qmp
from vessel.vm.status import Status, VmState, require

if TYPE_CHECKING:
    from vessel.vm.backend import VmBackend, VmHandle


@dataclass(frozen=True, slots=True)
class MigrationReport:
    vm: str
    destination: str
    total_ms: int        # QEMU's total migration time
    downtime_ms: int     # guest paused (last round + device state)
    setup_ms: int
    ram_bytes: int       # RAM bytes sent over the wire
    disk_bytes: int
    wall_s: float        # the whole operation as the user waits for it


def _no_volumes(handle: "VmHandle", action: str) -> None:
    if handle.config.volumes:
        raise Unsupported(f"cannot {action} VM {handle.id}: it has virtiofs volumes, whose state QEMU cannot migrate",
                          hint="run VMs that must move without -v volumes", vm=handle.id)


def _wait_qmp(handle: "VmHandle", pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not handle.paths.qmp.exists():
        if not launch.alive(pid, str(handle.paths.dir)) or time.monotonic() > deadline:
            raise SystemFailure(f"QEMU for VM {handle.id} did not open its QMP socket",
                                hint=launch.tail(handle.paths.console_log), vm=handle.id)
        time.sleep(launch.POLL)


def suspend(handle: "VmHandle") -> None:
    state = handle.state()
    require(handle.id, state.status, state.status.can_suspend(), "suspend")
    _no_volumes(handle, "suspend")
    tmp = handle.paths.ram_state.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    async def conv(client: QMPClient) -> dict:
        await client.execute("stop")
        await qmp.send_fd(client, fd, "suspend")
        await client.execute("migrate", {"uri": "fd:suspend"})
        info = await qmp.wait_migration(client)
        await client.execute("quit")
        return info

    try:
        qmp.talk(handle.paths.qmp, conv, what=f"suspending VM {handle.id}", timeout=300)
    finally:
        os.close(fd)
    launch.wait_exit(state.pid, 30)
    os.replace(tmp, handle.paths.ram_state)
    handle.write_state(state.update(status=Status.SUSPENDED, pid=0))


def _start_incoming(handle: "VmHandle") -> int:
    machine = handle.backend.machine()
    handle.prepare_boot(machine)
    launch.start_virtiofsd(handle.config, handle.paths, handle.backend.clock)
    handle.paths.qmp.unlink(missing_ok=True)
    pid = launch.run_qemu(handle.qemu_argv(machine, incoming=True), handle.id, handle.paths)
    _wait_qmp(handle, pid)
    return pid


async def _await_runnable(client: QMPClient, timeout: float = 300.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = (await client.execute("query-status"))["status"]
        if status not in ("inmigrate", "prelaunch"):
            return status
        if time.monotonic() > deadline:
            raise SystemFailure(f"incoming migration did not finish within {timeout:.0f}s")
        await asyncio.sleep(launch.POLL)


def resume(handle: "VmHandle") -> None:
    state = handle.state()
    require(handle.id, state.status, state.status.can_resume(), "resume")
    if not handle.paths.ram_state.is_file():
        raise Conflict(f"VM {handle.id} is suspended but {handle.paths.ram_state} is missing", vm=handle.id)
    pid = _start_incoming(handle)
    fd = os.open(handle.paths.ram_state, os.O_RDONLY)

    async def conv(client: QMPClient) -> None:
        await qmp.send_fd(client, fd, "resume")
        await client.execute("migrate-incoming", {"uri": "fd:resume"})
        if await _await_runnable(client) != "running":
            await client.execute("cont")

    try:
        qmp.talk(handle.paths.qmp, conv, what=f"resuming VM {handle.id}", timeout=300)
    except BaseException:
        launch.terminate(pid, str(handle.paths.dir))
        raise
    finally:
        os.close(fd)
    handle.paths.ram_state.unlink()
    handle.write_state(state.update(status=Status.RUNNING, pid=pid))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare_destination(handle: "VmHandle", dest: "VmBackend") -> "VmHandle":
    from vessel.vm.backend import VmHandle

    config = handle.config
    if (dest.vm_root / handle.id).exists():
        raise Conflict(f"VM {handle.id} already exists in {dest.vm_root}", vm=handle.id)
    base = Path(config.base_image)
    dest_base = dest.images_dir / base.name
    if not dest_base.exists():
        dest.images_dir.mkdir(parents=True, exist_ok=True)
        disk._run(["cp", "--sparse=always", str(base), str(dest_base)], f"copying base image {base.name}")
    paths = dest.paths(handle.id)
    paths.dir.mkdir(parents=True)
    new = VmHandle(dest, paths)
    new.write_config(config.update(base_image=str(dest_base)))
    disk.create_overlay(paths.disk, dest_base)
    for name in ("output.log", "console.log", "status"):
        if (handle.paths.dir / name).exists():
            shutil.copyfile(handle.paths.dir / name, paths.dir / name)
    new.write_state(VmState(Status.CREATED))
    return new


def migrate(handle: "VmHandle", dest: "VmBackend", max_bandwidth: int = 0) -> MigrationReport:
    """Live-migrate ``handle`` into the vessel root of ``dest``; the source folder is removed."""
    began = time.monotonic()
    state = handle.state()
    require(handle.id, state.status, state.status.can_migrate(), "migrate")
    _no_volumes(handle, "migrate")
    new = _prepare_destination(handle, dest)
    try:
        dest_pid = _start_incoming(new)
        port = free_port()
        qmp.execute(new.paths.qmp, "migrate-incoming", {"uri": f"tcp:127.0.0.1:{port}"},
                    what=f"preparing {dest.root} to receive VM {handle.id}")

        async def send(client: QMPClient) -> dict:
            if max_bandwidth:
                await client.execute("migrate-set-parameters", {"max-bandwidth": max_bandwidth})
            await client.execute("migrate", {"uri": f"tcp:127.0.0.1:{port}", "blk": True, "inc": True})
            info = await qmp.wait_migration(client)
            await client.execute("quit")
            return info

        info = qmp.talk(handle.paths.qmp, send, what=f"migrating VM {handle.id}", timeout=600)

        async def settle(client: QMPClient) -> None:
            if await _await_runnable(client) != "running":
                await client.execute("cont")

        qmp.talk(new.paths.qmp, settle, what=f"starting VM {handle.id} in {dest.root}")
    except BaseException:
        launch.terminate(new._raw_state().pid or _pid_from(new), str(new.paths.dir))
        shutil.rmtree(new.paths.dir, ignore_errors=True)
        raise
    new.write_state(VmState(Status.RUNNING, pid=dest_pid, started_at=state.started_at, accel=state.accel))
    launch.wait_exit(state.pid, 30)
    shutil.rmtree(handle.paths.run, ignore_errors=True)
    shutil.rmtree(handle.paths.dir)
    ram = info.get("ram", {})
    return MigrationReport(handle.id, str(dest.root), int(info.get("total-time", 0)), int(info.get("downtime", 0)),
                           int(info.get("setup-time", 0)), int(ram.get("transferred", 0)),
                           int(info.get("disk", {}).get("transferred", 0)), round(time.monotonic() - began, 3))


def _pid_from(handle: "VmHandle") -> int:
    try:
        return int(handle.paths.pidfile.read_text())
    except (OSError, ValueError):
        return 0
