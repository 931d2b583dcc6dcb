"""Volume endpoints over the engine's volumes: create, list, inspect, remove, prune (local driver only)."""

from __future__ import annotations

from vessel.api import filters as F
from vessel.api.body import Fields
from vessel.api.messages import Request, Response, json_response, no_content
from vessel.engine.volumes import dir_size
from vessel.errors import Unsupported

VOLUME_FILTERS = ("dangling", "driver", "label", "name")


def _used(engine) -> set[str]:
    return {v.get("source") for rec in engine.db.all() for v in rec.options.get("volumes") or []
            if v.get("kind") in ("volume", "anonymous")}


def _doc(engine, name: str) -> dict:
    doc = engine.volumes.inspect(name)
    doc["Labels"] = doc.get("Labels") or {}
    return doc



def create(req: Request) -> Response:
    body = Fields(req.json_object(), "VolumeCreateRequest")
    driver = body.str("Driver") or "local"
    if driver != "local":
        raise Unsupported(f"volume driver {driver!r} is not supported: vessel has the local driver only",
                          field="Driver")
    if body.map("DriverOpts"):
        raise Unsupported("local driver options (type, device, o) are not supported by vessel",
                          field="DriverOpts")
    engine = req.ctx.engine
    name = engine.volumes.create(body.str("Name") or None, labels=body.map("Labels"))
    req.ctx.events.publish("volume", "create", name, {"driver": "local"})
    return json_response(_doc(engine, name), 201)


def list_volumes(req: Request) -> Response:
    engine = req.ctx.engine
    flt = F.parse(req.arg("filters"), VOLUME_FILTERS)
    dangling = F.bool_filter(flt, "dangling")
    used = _used(engine) if dangling is not None else set()
    out = []
    for vol in engine.volumes.db.volumes():
        name = vol["name"]
        if flt.get("name") and not any(v in name for v in flt["name"]):
            continue
        if flt.get("driver") and "local" not in flt["driver"]:
            continue
        if flt.get("label") and not F.label_match(vol["labels"], flt["label"]):
            continue
        if dangling is not None and dangling == (name in used):
            continue
        out.append(_doc(engine, name))
    return json_response({"Volumes": out, "Warnings": None})


def inspect(req: Request) -> Response:
    return json_response(_doc(req.ctx.engine, req.params["name"]))


def remove(req: Request) -> Response:
    engine = req.ctx.engine
    name = req.params["name"]
    engine.volumes.remove(name, force=req.flag("force"))
    req.ctx.events.publish("volume", "destroy", name, {"driver": "local"})
    return no_content()


def prune(req: Request) -> Response:
    """API 1.42: anonymous volumes only, unless the filter all=true."""
    engine = req.ctx.engine
    flt = F.parse(req.arg("filters"), ("label", "label!", "all"))
    every = F.bool_filter(flt, "all") is True or not req.at_least(42)
    used = _used(engine)
    deleted, reclaimed = [], 0
    for vol in engine.volumes.db.volumes():
        name = vol["name"]
        if name in used or not (vol["anonymous"] or every):
            continue
        if flt.get("label") and not F.label_match(vol["labels"], flt["label"]):
            continue
        if any(F.label_match(vol["labels"], [spec]) for spec in flt.get("label!", [])):
            continue
        size = dir_size(engine.volumes.path(name))
        engine.volumes.remove(name)
        req.ctx.events.publish("volume", "destroy", name, {"driver": "local"})
        deleted.append(name)
        reclaimed += size
    req.ctx.events.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
    return json_response({"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


ROUTES = [
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/create", create),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
]
