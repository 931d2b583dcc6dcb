"""Read-only container endpoints: list, inspect, top, changes, export."""

from __future__ import annotations

import json
import os
import shlex
import stat
from pathlib import Path

from vessel.api import filters as F
from vessel.api.messages import Request, Response, Writer, json_response
from vessel.api.views import FilterFacts, PortView, check_container_filters, container_matches, container_summary
from vessel.errors import Conflict, InvalidArgument, NotFound, VesselError

BRIDGE_LIKE = ("none", "host")


def command_line(engine, rec) -> str:
    try:
        spec = json.loads((engine.cdir(rec.id) / "bundle" / "config.json").read_text())
        return " ".join(spec["process"]["args"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _network_state(engine):
    try:
        return engine.net.store.read()
    except (VesselError, OSError, ValueError):
        return None


def _endpoint_json(ep, net_id: str = "") -> dict:
    return {"IPAMConfig": None, "Links": None, "Aliases": list(ep.aliases) or None if ep else None,
            "NetworkID": ep.network_id if ep else net_id, "EndpointID": ep.host_veth if ep else "",
            "Gateway": ep.gateway if ep else "", "IPAddress": ep.ip if ep else "",
            "IPPrefixLen": ep.prefixlen if ep else 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "MacAddress": ep.mac if ep else "", "DriverOpts": None}


def networks_of(rec, state) -> dict:
    """Name -> endpoint settings: live endpoints, or the configured network of a stopped container."""
    eps = list(state.endpoints_for(rec.id)) if state is not None and rec.is_running() else []
    if eps:
        return {ep.network: _endpoint_json(ep) for ep in eps}
    name = rec.options.get("network") or "bridge"
    if name.startswith("container:"):
        return {}
    names = [name, *((rec.extra or {}).get("api_networks") or {})]
    found = {n: state.find_network(n) if state is not None else None for n in names}
    return {n: _endpoint_json(None, net.id if net else "") for n, net in found.items()}


def ports_of(rec, state) -> list[PortView]:
    out = []
    if state is not None and rec.is_running():
        for ep in state.endpoints_for(rec.id):
            out += [PortView(m.container_port, m.protocol, m.host_ip, m.host_port) for m in ep.ports]
    published = {(p.private, p.proto) for p in out}
    for spec in rec.options.get("exposed_ports") or ():
        number, _, proto = spec.partition("/")
        if number.isdigit() and (int(number), proto or "tcp") not in published:
            out.append(PortView(int(number), proto or "tcp"))
    return out


def mounts_of(engine, rec) -> list[dict]:
    out = []
    for v in rec.options.get("volumes") or []:
        kind = v.get("kind")
        rw = not v.get("readonly")
        if kind == "bind":
            out.append({"Type": "bind", "Source": v.get("source", ""), "Destination": v["target"], "Mode": "",
                        "RW": rw, "Propagation": "rprivate"})
        elif kind == "tmpfs":
            out.append({"Type": "tmpfs", "Source": "", "Destination": v["target"], "Mode": "", "RW": rw,
                        "Propagation": ""})
        elif v.get("source"):
            out.append({"Type": "volume", "Name": v["source"], "Source": str(engine.volumes.path(v["source"])),
                        "Destination": v["target"], "Driver": "local", "Mode": "z", "RW": rw, "Propagation": ""})
    return out


def list_containers(req: Request) -> Response:
    engine = req.ctx.engine
    flt = F.parse(req.arg("filters"))
    check_container_filters(flt)
    limit = req.int_arg("limit", -1)
    show_all = req.flag("all") or "status" in flt or "exited" in flt or (limit or 0) > 0
    recs = engine.list(all_containers=True)
    bounds = (_created_of(engine, flt.get("before")), _created_of(engine, flt.get("since")))
    state = _network_state(engine)
    out = []
    for rec in recs:
        if not show_all and not rec.is_running():
            continue
        labels = dict(rec.options.get("labels") or {})
        if flt and not container_matches(rec, _facts(engine, rec, state, labels), flt, bounds):
            continue
        entry = container_summary(rec, command=command_line(engine, rec), ports=ports_of(rec, state),
                                  networks=networks_of(rec, state), mounts=mounts_of(engine, rec), labels=labels)
        if req.flag("size"):
            entry["SizeRw"], entry["SizeRootFs"] = _sizes(engine, rec)
        out.append(entry)
        if limit and 0 < limit <= len(out):
            break
    return json_response(out)


def _facts(engine, rec, state, labels) -> FilterFacts:
    vols = tuple(x for v in rec.options.get("volumes") or [] for x in (v.get("source", ""), v.get("target", "")) if x)
    nets = tuple(networks_of(rec, state))
    if state is not None:
        nets += tuple(n.id for n in state.networks if n.name in nets)
    return FilterFacts(labels=labels, image_ids=_image_names(engine, rec), networks=nets, volumes=vols,
                       ports=tuple(ports_of(rec, state)), exposed=tuple(rec.options.get("exposed_ports") or ()))


def _image_names(engine, rec) -> tuple[str, ...]:
    names = {rec.image, rec.image_id, rec.image_id.removeprefix("sha256:")[:12]}
    try:
        image = engine.store.get(rec.image_id)
        names.update(t.familiar for t in image.tags)
        names.update(t.familiar_name for t in image.tags)
    except VesselError:
        pass
    if ":" not in rec.image:
        names.add(rec.image + ":latest")
    return tuple(names)


def _created_of(engine, refs: list[str] | None) -> float | None:
    if not refs:
        return None
    return engine.get(refs[-1]).created


def upper_size(engine, rec) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(engine.cdir(rec.id) / "upper"):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _sizes(engine, rec) -> tuple[int, int]:
    rw = upper_size(engine, rec)
    try:
        image = engine.store.get(rec.image_id)
        return rw, rw + engine.store.image_size(image)
    except VesselError:
        return rw, rw


def inspect_container(ctx, rec, size: bool = False) -> dict:
    from vessel.engine import apibody, ops
    from vessel.engine.engine import options_from_json

    engine = ctx.engine
    data = ops.inspect(engine, rec)
    opts = options_from_json(rec.options)
    try:
        image_cfg = engine.store.get(rec.image_id).config.config
    except VesselError:
        image_cfg = None
    config = apibody.config_json(opts, image_cfg, hostname=opts.hostname or rec.id[:12])
    data["Config"] = {**config, "Env": data["Config"].get("Env") or config.get("Env")}
    # docker clients (docker-py's run) read logs only from the drivers they know; ours serves them the same way
    data["HostConfig"]["LogConfig"] = {"Type": "json-file", "Config": {}}
    state = _network_state(engine)
    settings = data["NetworkSettings"]
    settings.update({"Bridge": "", "SandboxID": rec.id if rec.is_running() else "", "HairpinMode": False,
                     "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
                     "SandboxKey": f"/proc/{rec.pid}/ns/net" if rec.is_running() and rec.pid else "",
                     "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "",
                     "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPPrefixLen": 0, "IPv6Gateway": "",
                     "Networks": networks_of(rec, state)})
    first = next(iter(settings["Networks"].values()), {})
    for key in ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress"):
        settings[key] = first.get(key, settings.get(key))
    data["Mounts"] = mounts_of(engine, rec)
    data["ExecIDs"] = ctx.daemon.execs.ids_for(rec.id) or None
    data["State"]["Error"] = rec.extra.get("error", "") if isinstance(rec.extra, dict) else ""
    data["AppArmorProfile"], data["MountLabel"], data["ProcessLabel"] = "", "", ""
    if size:
        data["SizeRw"], data["SizeRootFs"] = _sizes(engine, rec)
    return data


def inspect(req: Request) -> Response:
    rec = req.ctx.engine.get(req.params["id"])
    return json_response(inspect_container(req.ctx, rec, req.flag("size")))


def top(req: Request) -> Response:
    from vessel.engine import ops

    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    if not rec.is_running():
        raise Conflict(f"Container {rec.id} is not running")
    try:
        ps_args = shlex.split(req.arg("ps_args") or "")
    except ValueError as err:
        raise InvalidArgument(f"invalid ps_args {req.arg('ps_args')!r}: {err}", field="ps_args") from None
    titles, rows = ops.top(engine, rec, ps_args)
    return json_response({"Titles": titles, "Processes": rows})


# -- changes ------------------------------------------------------------------------------------

MODIFIED, ADDED, DELETED = 0, 1, 2


def fs_changes(upper: Path, in_lower, hidden: set[str]) -> list[dict]:
    """`docker diff` of an overlay upper dir: whiteouts are deletions, entries the image has are changes."""
    entries: dict[str, int] = {}
    for dirpath, dirs, files in os.walk(upper):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, upper)
            if rel in hidden:
                continue
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                entries[rel] = DELETED
            else:
                entries[rel] = MODIFIED if in_lower(rel) else ADDED
    out = []
    for path, kind in sorted(entries.items()):
        is_dir_change = kind == MODIFIED and os.path.isdir(os.path.join(upper, path.lstrip("/")))
        if is_dir_change and not any(p.startswith(path + "/") for p in entries):
            continue  # a directory copied up only for a hidden mount point
        out.append({"Path": path, "Kind": kind})
    return out


def changes(req: Request) -> Response:
    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    try:
        lowers = engine.store.rootfs_layers(engine.store.get(rec.image_id))
    except VesselError:
        lowers = []

    def in_lower(rel: str) -> bool:
        return any(os.path.lexists(os.path.join(d, rel.lstrip("/"))) for d in lowers)
    hidden = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/.dockerenv", "/proc", "/sys", "/dev",
              "/dev/pts", "/dev/shm", "/dev/mqueue"}  # mount points the runtime made, as dockerd hides them
    hidden |= {v.get("target", "") for v in rec.options.get("volumes") or []}
    found = fs_changes(engine.cdir(rec.id) / "upper", in_lower, hidden)
    return json_response(found or None)


def export(req: Request) -> Writer:
    from vessel.api.archive import paused
    from vessel.engine import ops

    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    if not (engine.cdir(rec.id) / "upper").exists():
        raise NotFound(f"No such container: {req.params['id']}")

    def write(out) -> None:
        with paused(engine, rec):
            ops.export(engine, rec, out)
        req.ctx.events.publish("container", "export", rec.id, {"name": rec.name, "image": rec.image})
    return Writer(write, content_type="application/x-tar")

