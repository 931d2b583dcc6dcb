"""The micro-VM backend behind the engine: `vessel run --isolation vm` (issue 6's engine integration).

A container row with isolation "vm" is backed by a VM folder of `vessel.vm`
(QEMU, daemonized, so it outlives the command).  The image's merged overlay is
the VM's root disk source (flattened once per image with mkfs.ext4 -d); the
engine's verbs map onto the VM handle: start, wait, kill, stop, delete; logs
come from the guest console's output file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from vessel.engine.options import RunOptions
from vessel.errors import InvalidArgument

DEFAULT_MEMORY_MB = 256


def backend(engine):
    from vessel.vm import VmBackend

    return VmBackend(engine.root, run_root=str(engine.root / "vmrun"))


def handle(engine, rec):
    return backend(engine).get(rec.id)


def resolve_program(prog: str, path: str, rootfs: Path) -> str:
    """``prog`` as the absolute path the image's PATH finds in ``rootfs`` (unchanged if it has a '/' or is
    not found).  The guest starts the process through busybox's env, which would run its own applet for a
    bare name like ``ls`` or ``sh`` instead of the image's program."""
    if "/" in prog or not prog:
        return prog
    for d in path.split(":"):
        if d.startswith("/") and os.path.lexists(rootfs / d.lstrip("/") / prog):
            return f"{d.rstrip('/')}/{prog}"
    return prog


def create(engine, rec, opts: RunOptions, image, merged: Path, volume_dirs: dict[str, str]) -> None:
    from vessel.engine import specgen
    from vessel.engine.users import resolve_user
    from vessel.vm import PortSpec, ProcessSpec, VolumeSpec

    cfg = image.config.config
    entrypoint, cmd = specgen.entrypoint_and_cmd(cfg, opts)
    args = tuple(entrypoint + cmd)
    if not args:
        raise InvalidArgument("no command specified", hint="give a command, or use an image with a Cmd")
    env = specgen.merged_env(cfg, opts)
    if not any(e.startswith("PATH=") for e in env):
        env.append("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    path = next(e[5:] for e in reversed(env) if e.startswith("PATH="))
    args = (resolve_program(args[0], path, merged), *args[1:])
    user_spec = opts.user or (cfg.user if cfg else None)
    uid, gid = 0, 0
    if user_spec:
        def read(name):
            try:
                return (merged / "etc" / name).read_text(errors="replace")
            except OSError:
                return None
        uid, gid, _groups, _home = resolve_user(user_spec, read("passwd"), read("group"))
    volumes = []
    for v in opts.volumes:
        if v.kind == "tmpfs":
            raise InvalidArgument("--tmpfs is not supported with --isolation vm", hint="use a volume instead")
        source = v.source if v.kind == "bind" else volume_dirs[v.target]
        volumes.append(VolumeSpec(source=source, target=v.target, readonly=v.readonly))
    ports = tuple(PortSpec(host_port=p.host_port, guest_port=p.container_port, protocol=p.protocol,
                           host_ip=p.host_ip or "127.0.0.1") for p in opts.publish)
    process = ProcessSpec(args=args, env=tuple(env), cwd=opts.workdir or (cfg.working_dir if cfg else None) or "/",
                          user=f"{uid}:{gid}", hostname=opts.hostname or rec.id[:12], tty=opts.tty)
    memory_mb = max(64, (opts.memory or DEFAULT_MEMORY_MB << 20) >> 20)
    cpus = max(1, math.ceil(opts.cpus or 1))
    backend(engine).create(rec.id, merged, process, name=rec.name, cpus=cpus, memory_mb=memory_mb,
                           volumes=tuple(volumes), ports=ports, image_key=image.id)


def start(engine, rec) -> int:
    vm = handle(engine, rec)
    vm.start(tty=False)
    return vm.state().pid


def exit_code(engine, rec) -> int | None:
    """None while the VM runs; its exit code once it has stopped."""
    state = handle(engine, rec).state()
    if state.status.value in ("running", "suspended"):
        return None
    return state.exit_code if state.exit_code is not None else 255


def logs_path(engine, rec) -> Path:
    return handle(engine, rec).logs_path
