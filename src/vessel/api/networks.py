"""Network endpoints over the engine's NetworkManager: list, inspect, create, remove, prune,
connect and disconnect (running containers: their namespace is live)."""

from __future__ import annotations

from vessel.api import filters as F
from vessel.api.body import Fields
from vessel.api.messages import Request, Response, json_response, no_content
from vessel.errors import Conflict, InvalidArgument, NotFound, Unsupported

NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
BUILTIN = ("bridge", "host", "none")


def _mgr(req: Request):
    mgr = req.ctx.engine.net
    if any(mgr.store.read().find_network(n) is None for n in BUILTIN):
        mgr.ensure_default()  # dockerd always has bridge, host and none
    return mgr


def _doc(mgr, net, with_containers: bool) -> dict:
    doc = mgr.inspect(net.id)
    if not with_containers:
        doc["Containers"] = {}
    doc["ConfigFrom"], doc["ConfigOnly"] = {"Network": ""}, False
    return doc


def _matches(net, doc: dict, flt: F.Filters) -> bool:
    checks = {
        "name": lambda vs: any(v in net.name for v in vs),
        "id": lambda vs: any(net.id.startswith(v) for v in vs),
        "driver": lambda vs: net.driver in vs,
        "label": lambda vs: F.label_match(net.labels, vs),
        "scope": lambda vs: "local" in vs,
        "type": lambda vs: ("builtin" if net.name in BUILTIN else "custom") in vs,
        "dangling": lambda vs: (not doc["Containers"] and net.name not in BUILTIN) == (vs[-1].lower() in ("true", "1")),
    }
    return all(checks[k](vs) for k, vs in flt.items() if vs)


def list_networks(req: Request) -> Response:
    mgr = _mgr(req)
    flt = F.parse(req.arg("filters"), NETWORK_FILTERS)
    out = []
    for net in mgr.list():
        doc = _doc(mgr, net, True)
        if _matches(net, doc, flt):
            doc["Containers"] = {}
            out.append(doc)
    return json_response(out)


def inspect(req: Request) -> Response:
    mgr = _mgr(req)
    net = mgr.get(req.params["id"])
    return json_response(_doc(mgr, net, True))


def create(req: Request) -> Response:
    body = Fields(req.json_object(required=True), "NetworkCreateRequest")
    name = body.str("Name")
    if not name:
        raise InvalidArgument("network name is required: give Name", field="Name")
    driver = body.str("Driver") or "bridge"
    if driver != "bridge":
        raise Unsupported(f"network driver {driver!r} is not supported: vessel creates bridge networks",
                          field="Driver")
    if body.bool("EnableIPv6"):
        raise Unsupported("IPv6 networks are not supported by vessel", field="EnableIPv6")
    if body.bool("Ingress"):
        raise Unsupported("ingress networks need swarm mode, which vessel does not have", field="Ingress")
    configs = body.obj("IPAM").objs("Config")
    if len(configs) > 1:
        raise Unsupported("one IPAM config per network is supported", field="IPAM.Config")
    subnet = configs[0].str("Subnet") if configs else None
    gateway = configs[0].str("Gateway") if configs else None
    if configs and configs[0].str("IPRange"):
        raise Unsupported("IPAM IPRange is not supported by vessel", field="IPAM.Config.IPRange")
    options = body.map("Options")
    mgr = _mgr(req)
    net = mgr.create(name, subnet=subnet, gateway=gateway, internal=body.bool("Internal"),
                     labels=body.map("Labels"), bridge=options.get("com.docker.network.bridge.name"))
    req.ctx.events.publish("network", "create", net.id, {"name": net.name, "type": net.driver})
    return json_response({"Id": net.id, "Warning": ""}, 201)


def remove(req: Request) -> Response:
    mgr = _mgr(req)
    net = mgr.remove(req.params["id"])
    req.ctx.events.publish("network", "destroy", net.id, {"name": net.name, "type": net.driver})
    return no_content()


def prune(req: Request) -> Response:
    F.parse(req.arg("filters"), ("until", "label", "label!"))
    mgr = _mgr(req)
    gone = mgr.prune()
    for name in gone:
        req.ctx.events.publish("network", "destroy", name, {"name": name})
    req.ctx.events.publish("network", "prune", "", {"reclaimed": "0"})
    return json_response({"NetworksDeleted": gone or None})


def _container_for(req: Request, where: str):
    body = Fields(req.json_object(required=True), where)
    ref = body.str("Container")
    if not ref:
        raise InvalidArgument("Container is required", field="Container")
    return body, req.ctx.engine.get(ref)


def connect(req: Request) -> Response:
    """A running container is connected now; a stopped one when it next starts through the daemon."""
    from vessel.api.attach import EXTRA_NETWORKS

    body, rec = _container_for(req, "NetworkConnectRequest")
    engine = req.ctx.engine
    mgr = _mgr(req)
    net = mgr.get(req.params["id"])
    mode = str(rec.options.get("network") or "bridge")
    if mode in ("host", "none") or mode.startswith("container:"):
        raise Conflict(f"container {rec.name} uses network mode {mode}: it cannot be connected to other networks")
    endpoint = body.obj("EndpointConfig")
    ip = endpoint.obj("IPAMConfig").str("IPv4Address") or None
    aliases = tuple(endpoint.strs("Aliases") or ())
    if rec.is_running():
        mgr.attach(rec.id, net.name, rec.pid, name=rec.name, aliases=aliases, ip=ip)
    else:
        extra = dict(rec.extra.get(EXTRA_NETWORKS) or {})
        if net.name in extra or net.name == ("bridge" if mode == "default" else mode):
            raise Conflict(f"container {rec.name} is already connected to network {net.name}")
        extra[net.name] = {"aliases": list(aliases), "ip": ip}
        engine.db.update(rec.id, extra={**rec.extra, EXTRA_NETWORKS: extra})
    req.ctx.events.publish("network", "connect", net.id, {"name": net.name, "type": net.driver,
                                                          "container": rec.id})
    return no_content(200)


def disconnect(req: Request) -> Response:
    from vessel.api.attach import EXTRA_NETWORKS

    _body, rec = _container_for(req, "NetworkDisconnectRequest")
    mgr = _mgr(req)
    net = mgr.get(req.params["id"])
    extra = dict(rec.extra.get(EXTRA_NETWORKS) or {})
    recorded = extra.pop(net.name, None) is not None
    if recorded:
        req.ctx.engine.db.update(rec.id, extra={**rec.extra, EXTRA_NETWORKS: extra})
    try:
        if not rec.is_running():
            raise NotFound(f"container {rec.id} has no live endpoint")
        mgr.detach(rec.id, net.name)
    except NotFound:
        if not recorded:
            raise Conflict(f"container {rec.id} is not connected to network {net.name}") from None
    req.ctx.events.publish("network", "disconnect", net.id, {"name": net.name, "type": net.driver,
                                                             "container": rec.id})
    return no_content(200)


ROUTES = [
    ("GET", "/networks", list_networks),
    ("GET", "/networks/{id}", inspect),
    ("POST", "/networks/create", create),
    ("POST", "/networks/prune", prune),
    ("POST", "/networks/{id}/connect", connect),
    ("POST", "/networks/{id}/disconnect", disconnect),
    ("DELETE", "/networks/{id}", remove),
]
