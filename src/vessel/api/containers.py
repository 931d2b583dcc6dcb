"""Container lifecycle endpoints: create, start, stop, restart, kill, wait, pause, rename, update, remove, prune.

Read-only views (list, inspect, top, changes, export, stats) are in
`ctrinfo.py`, streams (attach, logs, resize) in `attach.py`, `docker cp` in
`archive.py`.  Every handler mirrors what the daemonless CLI does
(`vessel.cli.container`) through the same Engine, and publishes the events
dockerd would.
"""

from __future__ import annotations

import time

from vessel.api import archive, attach, ctrinfo, stats
from vessel.api.messages import Request, Response, Stream, json_lines, json_response, no_content
from vessel.api.views import check_wait_condition, removal_ready, wait_done
from vessel.errors import Conflict, InvalidArgument, NotFound, VesselError

NOT_MODIFIED = 304


def _rec(req: Request):
    return req.ctx.engine.get(req.params["id"])


def create(req: Request) -> Response:
    from vessel.engine import apibody

    body = req.json()
    if body is None:
        raise InvalidArgument("config cannot be empty in order to create a container")
    platform = req.arg("platform") or ""
    if platform and not platform.startswith("linux"):
        raise NotFound(f"image with reference for platform {platform} was found but does not match the host "
                       "platform (linux/amd64)")
    opts = apibody.options_from_api(body, req.arg("name") or None)
    rec = req.ctx.engine.create(opts)
    req.ctx.events.observe(rec)
    return json_response({"Id": rec.id, "Warnings": []}, 201)


def start(req: Request) -> Response:
    rec = _rec(req)
    if rec.status in ("running", "paused", "restarting"):
        return no_content(NOT_MODIFIED)
    try:
        rec = attach.start_container(req.ctx, rec)
    except VesselError:
        if rec.options.get("remove"):  # as dockerd: an AutoRemove container that cannot start is removed
            _auto_remove(req.ctx, rec, lock=False)  # no exit command will come; a waiting client holds the lock
        raise
    req.ctx.events.observe(rec)
    return no_content()


def _stop(req: Request, rec, timeout: int | None, signal: str | None):
    engine, events = req.ctx.engine, req.ctx.events
    attrs = {"name": rec.name, "image": rec.image}
    if signal:
        from vessel.runtime.ops import parse_signal

        parse_signal(signal)
        engine.db.update(rec.id, extra={**rec.extra, "stopped_by_user": True})
        events.publish("container", "kill", rec.id, {**attrs, "signal": signal})
        engine.kill(rec.id, signal)
        if engine.wait_exit(rec.id, 10 if timeout is None else timeout) is None:
            engine.kill(rec.id, "KILL")
            engine.wait_exit(rec.id, 10)
        rec = engine.get(rec.id)
    else:
        events.publish("container", "kill", rec.id, {**attrs, "signal": rec.options.get("stop_signal") or "15"})
        rec = engine.stop(rec.id, timeout)
    events.observe(rec)
    events.publish("container", "stop", rec.id, attrs)
    return rec


def stop(req: Request) -> Response:
    rec = _rec(req)
    timeout = req.int_arg("t", None)
    if timeout is None:
        timeout = req.int_arg("timeout", None)
    if not rec.is_running():
        return no_content(NOT_MODIFIED)
    _stop(req, rec, timeout if timeout is None or timeout >= 0 else None, req.arg("signal"))
    return no_content()


def restart(req: Request) -> Response:
    rec = _rec(req)
    timeout = req.int_arg("t", None)
    if rec.is_running():
        rec = _stop(req, rec, timeout if timeout is None or timeout >= 0 else None, req.arg("signal"))
    rec = attach.start_container(req.ctx, req.ctx.engine.get(rec.id))
    req.ctx.events.observe(rec)
    req.ctx.events.publish("container", "restart", rec.id, {"name": rec.name, "image": rec.image})
    return no_content()


def kill(req: Request) -> Response:
    rec = _rec(req)
    sig = req.arg("signal") or "KILL"
    if not rec.is_running():
        raise Conflict(f"Cannot kill container: {req.params['id']}: Container {rec.id} is not running",
                       status=rec.status)
    req.ctx.engine.kill(rec.id, sig)
    req.ctx.events.publish("container", "kill", rec.id, {"name": rec.name, "image": rec.image, "signal": sig})
    return no_content()


def wait(req: Request) -> Stream:
    """POST /containers/{id}/wait: the head goes out at once, the exit code when the condition holds."""
    condition = check_wait_condition(req.arg("condition"))
    engine = req.ctx.engine
    rec = _rec(req)
    began = time.time()
    running_at_start = rec.is_running()
    client_gone = req.ctx.client_gone
    auto_remove = bool(rec.options.get("remove"))
    exits = req.ctx.daemon.exits

    def chunks():
        last = rec
        # held while we read the exit code: conmon's exit command (--rm) waits for it before removing
        with engine.attach_lock(rec.id, exclusive=False):
            yield None
            last = yield from _poll(engine, exits, rec.id, condition, began, running_at_start, client_gone, last)
        if last is None:
            return
        if condition == "removed":
            if auto_remove:
                _auto_remove(req.ctx, last)
            last = yield from _poll_removed(engine, exits, rec.id, client_gone, last)
            if last is None:
                return
        if condition != "removed":
            req.ctx.events.observe(last)
        yield from json_lines(iter([{"StatusCode": last.exit_code if last.exit_code is not None else 0}]))
    return Stream(chunks())


TICK = 0.5  # how often a waiting stream checks that its client is still there
FALLBACK_POLL = 0.25  # without a wake-up from the exit watch


def _poll(engine, exits, cid, condition, began, running_at_start, client_gone, last):
    """Generator: ticks until the condition (the part decided before removal); the last record seen."""
    generation, ticked = exits.generation, time.monotonic()
    while True:
        try:
            rec = engine.refresh(engine.db.get_by_id(cid))
        except NotFound:
            return last
        last = rec
        if condition == "removed":
            if removal_ready(rec.status, rec.started_at, began, running_at_start):
                return rec
        elif wait_done(condition, rec.status, rec.started_at, began, running_at_start):
            return rec
        if time.monotonic() - ticked > TICK:
            ticked = time.monotonic()
            yield None
            if client_gone():
                return None
        generation = exits.wait_change(generation, FALLBACK_POLL)


def _poll_removed(engine, exits, cid, client_gone, last):
    generation, ticked = exits.generation, time.monotonic()
    while True:
        try:
            rec = engine.db.get_by_id(cid)
        except NotFound:
            return last
        if rec.status == "exited":
            last = rec
        if time.monotonic() - ticked > TICK:
            ticked = time.monotonic()
            yield None
            if client_gone():
                return None
        generation = exits.wait_change(generation, 0.05)


def _auto_remove(ctx, rec, lock: bool = True) -> None:
    """--rm: remove now rather than wait for conmon's exit command (it finds nothing left to do)."""
    engine = ctx.engine
    try:
        if lock:
            with engine.attach_lock(rec.id, exclusive=True):
                engine.remove(rec.id, force=True, volumes=True)
        else:
            engine.remove(rec.id, force=True, volumes=True)
    except NotFound:
        pass
    ctx.daemon.exits.poke()
    ctx.events.observe(rec)
    ctx.events.observe_gone(rec.id)


def pause(req: Request) -> Response:
    req.ctx.events.observe(req.ctx.engine.pause(_rec(req).id))
    return no_content()


def unpause(req: Request) -> Response:
    req.ctx.events.observe(req.ctx.engine.unpause(_rec(req).id))
    return no_content()


def rename(req: Request) -> Response:
    from vessel.engine import ops

    rec = _rec(req)
    new = (req.arg("name") or "").lstrip("/")
    if not new:
        raise InvalidArgument("Neither old nor new names may be empty", field="name")
    ops.rename(req.ctx.engine, rec, new)
    req.ctx.events.publish("container", "rename", rec.id, {"name": new, "image": rec.image, "oldName": "/" + rec.name})
    with req.ctx.events.lock:
        req.ctx.events.known[rec.id] = (rec.status, new, rec.image)
    return no_content()


_UPDATE_FIELDS = {"Memory": "memory", "MemorySwap": "memory_swap", "MemoryReservation": "memory_reservation",
                  "PidsLimit": "pids_limit", "CpuShares": "cpu_share", "CpuQuota": "cpu_quota",
                  "CpuPeriod": "cpu_period", "CpusetCpus": "cpuset_cpus", "CpusetMems": "cpuset_mems"}


def update(req: Request) -> Response:
    from vessel.api.body import Fields
    from vessel.engine import ops
    from vessel.engine.flags import check_restart
    from vessel.engine.options import RestartPolicy

    engine = req.ctx.engine
    rec = _rec(req)
    body = Fields(req.json_object(), "HostConfig")
    flags = {}
    for key, flag in _UPDATE_FIELDS.items():
        value = body.str(key) if key.startswith("Cpuset") else body.int(key)
        if value not in (None, 0, ""):
            flags[flag] = str(value)
    nano = body.int("NanoCpus")
    if nano:
        period = int(flags.get("cpu_period") or 100000)
        flags["cpu_quota"], flags["cpu_period"] = str(nano * period // 1_000_000_000), str(period)
    if body.int("BlkioWeight"):
        raise InvalidArgument("BlkioWeight cannot be updated by vessel", field="BlkioWeight")
    warnings = ops.update(engine, rec, **flags) if flags else []
    policy = body.obj("RestartPolicy")
    if policy.str("Name") is not None:
        restart = check_restart(RestartPolicy(policy.str("Name") or "no", policy.int("MaximumRetryCount") or 0))
        rec = engine.db.get_by_id(rec.id)
        engine.db.update(rec.id, options={**rec.options, "restart": {"name": restart.name,
                                                                     "max_retries": restart.max_retries}})
    req.ctx.events.publish("container", "update", rec.id, {"name": rec.name, "image": rec.image})
    return json_response({"Warnings": warnings})


def remove(req: Request) -> Response:
    engine = req.ctx.engine
    rec = _rec(req)
    if req.flag("link"):
        raise InvalidArgument("links are not supported by vessel", field="link")
    force, volumes = req.flag("force"), req.flag("v")
    if rec.is_running() and not force:
        raise Conflict(f"cannot remove container \"/{rec.name}\": container is {rec.status}: stop the container "
                       "before removing or force remove")
    if rec.is_running():
        req.ctx.events.publish("container", "kill", rec.id, {"name": rec.name, "image": rec.image, "signal": "9"})
    removed = engine.remove(rec.id, force=force, volumes=volumes)
    req.ctx.daemon.exits.poke()
    req.ctx.events.observe_gone(removed.id)
    return no_content()


def prune(req: Request) -> Response:
    from vessel.api import filters as F

    engine = req.ctx.engine
    flt = F.parse(req.arg("filters"), ("until", "label", "label!"))
    now = time.time()
    until = _until(flt.get("until"), now)
    deleted, reclaimed = [], 0
    for rec in engine.list(all_containers=True):
        if rec.is_running() or (until is not None and rec.created >= until):
            continue
        labels = rec.options.get("labels") or {}
        if not F.label_match(labels, flt.get("label", [])) or \
                any(F.label_match(labels, [spec]) for spec in flt.get("label!", [])):
            continue
        size = ctrinfo.upper_size(engine, rec)
        try:
            engine.remove(rec.id)
        except VesselError:
            continue
        req.ctx.events.observe_gone(rec.id)
        deleted.append(rec.id)
        reclaimed += size
    req.ctx.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
    return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})


def _until(values: list[str] | None, now: float) -> float | None:
    if not values:
        return None
    from vessel.engine.logs import parse_since

    return parse_since(values[-1], now)


ROUTES = [
    ("GET", "/containers/json", ctrinfo.list_containers),
    ("POST", "/containers/create", create),
    ("POST", "/containers/prune", prune),
    ("GET", "/containers/{id}/json", ctrinfo.inspect),
    ("GET", "/containers/{id}/top", ctrinfo.top),
    ("GET", "/containers/{id}/logs", attach.container_logs),
    ("GET", "/containers/{id}/changes", ctrinfo.changes),
    ("GET", "/containers/{id}/export", ctrinfo.export),
    ("GET", "/containers/{id}/stats", stats.container_stats),
    ("POST", "/containers/{id}/resize", attach.resize),
    ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop),
    ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/update", update),
    ("POST", "/containers/{id}/rename", rename),
    ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause),
    ("POST", "/containers/{id}/attach", attach.attach),
    ("POST", "/containers/{id}/wait", wait),
    ("DELETE", "/containers/{id}", remove),
    ("HEAD", "/containers/{id}/archive", archive.stat_path),
    ("GET", "/containers/{id}/archive", archive.get_archive),
    ("PUT", "/containers/{id}/archive", archive.put_archive),
]
