"""Glue between a container row and its OCI bundle: volumes, /etc files, the spec, the network.

The decisions are pure (`specgen.generate`); this module gathers their inputs
from the store, the volumes and the network manager, and writes the results.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from vessel.engine.options import RunOptions, VolumeMount
from vessel.errors import InvalidArgument

BRIDGE_MODES_EXCLUDED = ("none", "host")


def uses_bridge(network: str) -> bool:
    return network not in BRIDGE_MODES_EXCLUDED and not network.startswith("container:")


def resolve_volumes(engine, rec, opts: RunOptions, image) -> list[VolumeMount]:
    """Named volumes created and seeded, anonymous ones for -v /ctr and the image's VOLUMEs, binds checked."""
    from vessel.engine.volumes import seed

    merged = engine.cdir(rec.id) / "merged"
    out: list[VolumeMount] = []
    targets = set()
    image_volumes = sorted((image.config.config.volumes or {}) if image.config.config else {})
    wanted = list(opts.volumes) + [VolumeMount(kind="anonymous", target=t) for t in image_volumes
                                   if t not in {v.target for v in opts.volumes}]
    for vol in wanted:
        if vol.target in targets:
            raise InvalidArgument(f"duplicate mount point: {vol.target}")
        targets.add(vol.target)
        if vol.kind == "bind":
            if not Path(vol.source).exists():
                raise InvalidArgument(f"invalid mount config: bind source path does not exist: {vol.source}",
                                      hint="create the directory on the host first, or use a named volume")
            out.append(vol)
            continue
        if vol.kind == "tmpfs":
            out.append(vol)
            continue
        name = vol.source or engine.volumes.create(anonymous=True)
        path, new = engine.volumes.ensure(name)
        if new or not any(path.iterdir()):
            if "nocopy" not in vol.options:
                seed(path, merged / vol.target.lstrip("/"))
        out.append(dataclasses.replace(vol, source=name, kind="volume" if vol.kind == "volume" else "anonymous"))
    return out


def _passwd(merged: Path, name: str) -> str | None:
    try:
        return (merged / "etc" / name).read_text(errors="replace")
    except OSError:
        return None


def write_etc_files(engine, rec, opts: RunOptions) -> dict[str, str]:
    c = engine.cdir(rec.id)
    hostname = opts.hostname or rec.id[:12]
    (c / "hostname").write_text(hostname + "\n")
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    for entry in opts.extra_hosts:
        host, _, ip = entry.partition(":")
        hosts += f"{ip}\t{host}\n"
    (c / "hosts").write_text(hosts)
    resolv = _host_resolv(opts)
    (c / "resolv.conf").write_text(resolv)
    return {"/etc/hostname": str(c / "hostname"), "/etc/hosts": str(c / "hosts"), "/etc/resolv.conf": str(c / "resolv.conf")}


def _host_resolv(opts: RunOptions) -> str:
    if opts.dns:
        lines = [f"nameserver {d}" for d in opts.dns]
    else:
        try:
            text = Path("/etc/resolv.conf").read_text()
        except OSError:
            text = ""
        lines = [l for l in text.splitlines() if l.startswith("nameserver") and not l.split()[-1].startswith("127.")]
        lines = lines or ["nameserver 8.8.8.8"]
    if opts.dns_search:
        lines.append("search " + " ".join(opts.dns_search))
    if opts.dns_options:
        lines.append("options " + " ".join(opts.dns_options))
    return "\n".join(lines) + "\n"


def make_spec(engine, rec, opts: RunOptions, image, volumes: list[VolumeMount]) -> str:
    from vessel.engine import specgen
    from vessel.runtime import cgroups

    merged = engine.cdir(rec.id) / "merged"
    etc = write_etc_files(engine, rec, opts)
    sources = {v.target: str(engine.volumes.path(v.source)) for v in volumes if v.kind in ("volume", "anonymous")}
    netns = None
    if opts.network.startswith("container:"):
        other = engine.get(opts.network.split(":", 1)[1])
        if not other.is_running():
            raise InvalidArgument(f"cannot join network of a non running container: {other.name}")
        netns = f"/proc/{other.pid}/ns/net"
    layout = cgroups.detect()
    ctx = specgen.SpecContext(
        container_id=rec.id, rootfs=str(merged), hostname=opts.hostname or rec.id[:12],
        etc_files=etc, volume_sources=sources, netns_path=netns, cgroups_path=f"/vessel/{rec.id}",
        cgroup_v2=layout.mode == "v2", init_path=_init_binary() if opts.init else None,
        passwd=_passwd(merged, "passwd"), group=_passwd(merged, "group"),
        host_caps=specgen.host_capabilities(), host_cpus=os.cpu_count(),
        host_devices=specgen.scan_host_devices() if opts.privileged else specgen.stat_devices(opts.devices),
    )
    spec = specgen.generate(image.config.config, dataclasses.replace(opts, volumes=tuple(volumes)), ctx)
    return json.dumps(spec.to_json(), indent=1)


def _init_binary() -> str:
    for cand in ("/usr/bin/tini-static", "/usr/bin/tini"):
        if Path(cand).exists():
            return cand
    raise InvalidArgument("--init needs tini", hint="apt-get install tini")


def connect_network(engine, rec, opts: RunOptions, pid: int, bridge_ready: bool = False) -> None:
    """Attach the created container's network namespace; then fill /etc/hosts and resolv.conf.

    ``bridge_ready``: the caller has run ``ensure_default`` already (while the runtime created the container).
    """
    if not uses_bridge(opts.network):
        return
    from vessel.network.model import PortMapping
    from vessel.network.ports import publish_all

    mgr = engine.net
    if not bridge_ready:
        mgr.ensure_default()
    ports = [PortMapping(container_port=p.container_port, protocol=p.protocol, host_ip=p.host_ip,
                         host_port=p.host_port) for p in opts.publish]
    if opts.publish_all:
        exposed = (engine.store.get(rec.image_id).config.config.exposed_ports or {}) if rec.image_id else {}
        ports += list(publish_all(list(exposed)))
    network = "bridge" if opts.network in ("bridge", "default") else opts.network
    mgr.attach(rec.id, network, pid, name=rec.name, aliases=tuple(opts.network_aliases), ip=opts.ip,
               mac=opts.mac_address, ports=ports)
    c = engine.cdir(rec.id)
    _rewrite(c / "hosts", mgr.hosts_file(rec.id, hostname=opts.hostname or rec.id[:12], extra_hosts=opts.extra_hosts))
    _rewrite(c / "resolv.conf", mgr.resolv_conf(rec.id, dns=opts.dns, search=opts.dns_search, options=opts.dns_options))


def _rewrite(path: Path, text: str) -> None:
    """Rewrite in place: the file is bind-mounted into the container, a rename would not show."""
    with open(path, "r+") as f:
        f.seek(0)
        f.write(text)
        f.truncate()
