"""Read-mostly container operations: inspect, top, stats, port, export, cp, commit, update, rename."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

from vessel.engine.db import ContainerRecord
from vessel.engine.engine import Engine, options_from_json
from vessel.errors import Conflict, InvalidArgument, NotFound


def iso(ts: float | None) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"


def runtime_state(engine: Engine, rec: ContainerRecord) -> dict | None:
    path = engine.runtime_root / rec.id / "state.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def cgroup_manager(engine: Engine, rec: ContainerRecord):
    state = runtime_state(engine, rec)
    if not state or not state.get("cgroup_paths"):
        raise Conflict(f"container {rec.name} is not running", hint="start it first")
    from vessel.runtime import cgroups

    return cgroups.Manager.from_paths(state["cgroup_paths"])


def inspect(engine: Engine, rec: ContainerRecord) -> dict:
    opts = options_from_json(rec.options)
    spec = {}
    try:
        spec = json.loads((engine.cdir(rec.id) / "bundle" / "config.json").read_text())
    except (OSError, ValueError):
        pass
    proc = spec.get("process", {})
    args = proc.get("args", [])
    running = rec.status in ("running", "paused")
    networks = {}
    ports: dict = {}
    try:
        for ep in engine.net.endpoints(rec.id) if running else []:
            networks[ep.network] = {"IPAddress": ep.ip, "IPPrefixLen": ep.prefixlen, "Gateway": ep.gateway,
                                    "MacAddress": ep.mac, "Aliases": list(ep.aliases) or None,
                                    "NetworkID": ep.network_id, "EndpointID": ep.host_veth}
            for m in ep.ports:
                ports.setdefault(f"{m.container_port}/{m.protocol}", []).append(
                    {"HostIp": m.host_ip or "0.0.0.0", "HostPort": str(m.host_port)})
    except Exception:  # noqa: BLE001 - inspect must work even if the network state is unreadable
        networks = {}
    try:
        from vessel.engine import apibody

        host_config = apibody.host_config_json(opts)
        config = apibody.config_json(opts, None)
    except (ImportError, AttributeError):
        host_config, config = {}, {}
    config.update({"Hostname": opts.hostname or rec.id[:12], "Image": rec.image, "Cmd": args[1:] if args else None,
                   "Env": proc.get("env"), "WorkingDir": proc.get("cwd", "/"), "Tty": opts.tty,
                   "OpenStdin": opts.interactive, "Labels": opts.labels})
    first = networks.get("bridge", next(iter(networks.values()), {}))
    return {
        "Id": rec.id,
        "Created": iso(rec.created),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "Status": rec.status, "Running": rec.status == "running", "Paused": rec.status == "paused",
            "Restarting": rec.status == "restarting", "OOMKilled": rec.oom_killed, "Dead": rec.status == "dead",
            "Pid": rec.pid if running else 0, "ExitCode": rec.exit_code or 0, "Error": "",
            "StartedAt": iso(rec.started_at), "FinishedAt": iso(rec.finished_at),
            **({"Health": rec.extra["health"]} if rec.extra.get("health") else {}),
        },
        "Image": rec.image_id,
        "Name": "/" + rec.name,
        "RestartCount": rec.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "Isolation": rec.isolation,
        "HostConfig": host_config,
        "Config": config,
        "GraphDriver": {"Name": "overlay", "Data": {"UpperDir": str(engine.cdir(rec.id) / "upper"),
                                                     "MergedDir": str(engine.cdir(rec.id) / "merged"),
                                                     "WorkDir": str(engine.cdir(rec.id) / "work")}},
        "Mounts": [_mount_json(engine, v) for v in opts.volumes],
        "NetworkSettings": {"Networks": networks, "Ports": ports, "IPAddress": first.get("IPAddress", ""),
                            "Gateway": first.get("Gateway", ""), "MacAddress": first.get("MacAddress", "")},
        "LogPath": str(engine.cdir(rec.id) / "ctr.log"),
        "ResolvConfPath": str(engine.cdir(rec.id) / "resolv.conf"),
        "HostnamePath": str(engine.cdir(rec.id) / "hostname"),
        "HostsPath": str(engine.cdir(rec.id) / "hosts"),
    }


def _mount_json(engine: Engine, v) -> dict:
    if v.kind == "bind":
        return {"Type": "bind", "Source": v.source, "Destination": v.target, "RW": not v.readonly, "Propagation": "rprivate"}
    if v.kind == "tmpfs":
        return {"Type": "tmpfs", "Source": "", "Destination": v.target, "RW": not v.readonly}
    return {"Type": "volume", "Name": v.source, "Source": str(engine.volumes.path(v.source)), "Destination": v.target,
            "Driver": "local", "RW": not v.readonly}


def top(engine: Engine, rec: ContainerRecord, ps_args: list[str]) -> tuple[list[str], list[list[str]]]:
    if rec.status not in ("running", "paused"):
        raise Conflict(f"container {rec.name} is not running")
    pids = set(str(p) for p in cgroup_manager(engine, rec).pids())
    args = ps_args or ["-ef"]
    out = subprocess.run(["ps", *args], capture_output=True, text=True, check=False).stdout.splitlines()
    if not out:
        raise InvalidArgument(f"ps {' '.join(args)} printed nothing")
    titles = out[0].split()
    if "PID" not in titles:
        raise InvalidArgument("ps output has no PID column", hint="keep the pid column in the ps options")
    col = titles.index("PID")
    rows = []
    for line in out[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > col and fields[col] in pids:
            rows.append(fields)
    return titles, rows


def stats(engine: Engine, rec: ContainerRecord) -> dict:
    """docker stats' figures from the container's cgroups."""
    if rec.status not in ("running", "paused"):
        return {"id": rec.id, "name": rec.name, "running": False}
    s = cgroup_manager(engine, rec).stats()
    return {"id": rec.id, "name": rec.name, "running": True, **s}


def export(engine: Engine, rec: ContainerRecord, out) -> None:
    merged = engine.mount_rootfs(rec)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(merged)):
            tar.add(merged / entry, arcname=entry, recursive=True)


def container_path(engine: Engine, rec: ContainerRecord, path: str) -> Path:
    """A path inside the container's root, symlinks resolved inside it (never escaping)."""
    from vessel.runtime.paths import secure_join

    merged = engine.mount_rootfs(rec)
    return Path(secure_join(str(merged), path))


def copy_out(engine: Engine, rec: ContainerRecord, src: str, out) -> None:
    path = container_path(engine, rec, src)
    if not path.exists():
        raise NotFound(f"Could not find the file {src} in container {rec.name}")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(path, arcname=path.name if src.rstrip("/") else ".")


def copy_in(engine: Engine, rec: ContainerRecord, dest: str, tar_stream) -> None:
    target = container_path(engine, rec, dest)
    if not target.is_dir():
        raise InvalidArgument(f"destination {dest} in container {rec.name} is not a directory")
    from vessel.image.extract import OverlayWhiteouts, extract_layer  # safe extraction: nothing escapes

    extract_layer(tar_stream, target, layer="docker cp archive", is_root=os.geteuid() == 0,
                  whiteouts=OverlayWhiteouts())


def port_lines(engine: Engine, rec: ContainerRecord) -> list[str]:
    lines = []
    for m in engine.net.ports(rec.id) if rec.status in ("running", "paused") else []:
        lines.append(f"{m.container_port}/{m.protocol} -> {m.host_ip or '0.0.0.0'}:{m.host_port}")
    return lines


def rename(engine: Engine, rec: ContainerRecord, new: str) -> None:
    from vessel.engine.engine import _check_name

    _check_name(new)
    engine.db.update(rec.id, name=new)


def update(engine: Engine, rec: ContainerRecord, **flags) -> list[str]:
    """Live resource change (docker update): write the cgroups, remember the new values."""
    from vessel.runtime import cgroups

    resources = cgroups.resources_from_update_flags(**{k: v for k, v in flags.items() if v is not None})
    warnings: list[str] = []
    if rec.status in ("running", "paused"):
        warnings = cgroup_manager(engine, rec).apply(resources)
    opts = dict(rec.options)
    mapping = {"memory": "memory", "memory_swap": "memory_swap", "memory_reservation": "memory_reservation",
               "pids_limit": "pids_limit", "cpuset_cpus": "cpuset_cpus", "cpuset_mems": "cpuset_mems",
               "cpu_share": "cpu_shares", "cpu_quota": "cpu_quota", "cpu_period": "cpu_period"}
    for flag, key in mapping.items():
        if flags.get(flag) is not None:
            value = flags[flag]
            opts[key] = cgroups.parse_size(value) if flag.startswith("memory") and isinstance(value, str) else value
    engine.db.update(rec.id, options=opts)
    return warnings


def commit(engine: Engine, rec: ContainerRecord, reference: str | None, changes: list[str], message: str | None,
           author: str | None, pause: bool = True):
    parent = engine.store.get(rec.image_id)
    paused = False
    if pause and rec.status == "running":
        engine._runtime(rec, "pause", rec.id, check=False)
        paused = True
    try:
        return engine.store.commit(engine.cdir(rec.id) / "upper", parent, changes=changes, comment=message,
                                   author=author, reference=reference, created_by="vessel commit")
    finally:
        if paused:
            engine._runtime(rec, "resume", rec.id, check=False)
