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


def connect(req: Request) -> Response:
    body = Fields(req.json_object(required=True), "NetworkConnectRequest")
    ref = body.str("Container")
    if not ref:
        raise InvalidArgument("Container is required", field="Container")
    engine = req.ctx.engine
    rec = engine.get(ref)
    mgr = _mgr(req)
    net = mgr.get(req.params["id"])
    if not rec.is_running():
        raise Conflict(f"container {rec.name} is not running: vessel connects running containers only",
                       hint="start it first, or give --network at create")
    if rec.options.get("network") in ("host", "none") or str(rec.options.get("network")).startswith("container:"):
        raise Conflict(f"container {rec.name} uses network mode {rec.options.get('network')}: it cannot be "
                       "connected to other networks")
    endpoint = body.obj("EndpointConfig")
    ip = endpoint.obj("IPAMConfig").str("IPv4Address") or None
    mgr.attach(rec.id, net.name, rec.pid, name=rec.name, aliases=tuple(endpoint.strs("Aliases") or ()), ip=ip)
    req.ctx.events.publish("network", "connect", net.id, {"name": net.name, "type": net.driver,
                                                          "container": rec.id})
    return no_content(200)


def disconnect(req: Request) -> Response:
    body = Fields(req.json_object(required=True), "NetworkDisconnectRequest")
    ref = body.str("Container")
    if not ref:
        raise InvalidArgument("Container is required", field="Container")
    rec = req.ctx.engine.get(ref)
    mgr = _mgr(req)
    net = mgr.get(req.params["id"])
    try:
        mgr.detach(rec.id, net.name)
    except NotFound:
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
