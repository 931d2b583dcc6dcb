"""Image endpoints over the image store: list, pull (registries; docker.io names also from the store or
bootstrapped), inspect, history, tag, push, remove, prune, search (empty), save, load, import, commit."""

from __future__ import annotations

import time
from typing import Iterator

from vessel.api import build, filters as F
from vessel.api.messages import Request, Response, Stream, Writer, json_lines, json_response
from vessel.errors import InvalidArgument, NotFound, Unsupported, VesselError

IMAGE_FILTERS = ("dangling", "label", "before", "since", "reference", "until")


def _store(req: Request):
    return req.ctx.engine.store


def _matches(store, image, flt: F.Filters, bounds: tuple[float | None, float | None], now: float) -> bool:
    from vessel.image.changes import parse_time

    dangling = F.bool_filter(flt, "dangling")
    if dangling is not None and dangling != (not image.tags):
        return False
    labels = (image.config.config.labels if image.config.config else None) or {}
    if flt.get("label") and not F.label_match(labels, flt["label"]):
        return False
    if flt.get("reference"):
        names = [t.familiar for t in image.tags] + [t.familiar_name for t in image.tags]
        if not any(F.glob_match(p, n) or F.glob_match(p + ":*", n) for p in flt["reference"] for n in names):
            return False
    created = parse_time(image.config.created) or 0
    before, since = bounds
    if before is not None and created >= before:
        return False
    if since is not None and created <= since:
        return False
    until = flt.get("until")
    if until:
        from vessel.engine.logs import parse_since

        if created > parse_since(until[-1], now):
            return False
    return True


def _created(store, refs: list[str] | None) -> float | None:
    from vessel.image.changes import parse_time

    if not refs:
        return None
    return parse_time(store.get(refs[-1]).config.created) or 0


def list_images(req: Request) -> Response:
    from vessel.image.inspect import summary

    store = _store(req)
    flt = F.parse(req.arg("filters"), IMAGE_FILTERS)
    bounds = (_created(store, flt.get("before")), _created(store, flt.get("since")))
    users = {}
    for rec in req.ctx.engine.db.all():
        users[rec.image_id] = users.get(rec.image_id, 0) + 1
    now, out = time.time(), []
    for image in store.images():
        if flt and not _matches(store, image, flt, bounds, now):
            continue
        entry = summary(image, store.image_size(image))
        entry["Containers"] = users.get(image.id, 0)
        if not req.flag("shared-size"):
            entry["SharedSize"] = -1
        out.append(entry)
    out.sort(key=lambda e: -e["Created"])
    return json_response(out)


def _reference(image: str, tag: str | None) -> str:
    if not tag:
        return image
    if tag.startswith("sha256:"):
        return f"{image}@{tag}"
    return f"{image}:{tag}"


def create(req: Request) -> Stream:
    """POST /images/create: `fromImage` (a registry; docker.io names from the store or a base vessel builds),
    or `fromSrc=-` (import)."""
    if req.arg("fromSrc") is not None:
        return _import(req)
    name = req.arg("fromImage")
    if not name:
        raise InvalidArgument("fromImage or fromSrc is required", field="fromImage")
    from vessel.image.bootstrap import auto_bootstrap_name
    from vessel.image.reference import DEFAULT_DOMAIN, parse_reference

    text = _reference(name, req.arg("tag"))
    ref = parse_reference(text)
    store = _store(req)
    if ref.domain != DEFAULT_DOMAIN:
        return _registry_pull(req, text)
    found = store.find(text)
    base = None if found is not None else auto_bootstrap_name(text)
    if found is None and base is None:
        from vessel.image.registry import offline

        if offline():
            raise NotFound(f"image {ref.familiar} is not in the local store, and VESSEL_OFFLINE forbids pulling it "
                           "from docker.io", image=ref.familiar,
                           hint="vessel load / import / build it, or unset VESSEL_OFFLINE")
        return _registry_pull(req, text)
    events = req.ctx.events

    def items():
        yield {"status": f"Pulling from {ref.familiar_name}", "id": ref.tag or ref.digest or "latest"}
        image = found
        if image is None:
            yield {"status": f"Building {base} locally (no registry needed)", "id": ref.tag or "latest"}
            image = store.ensure_base(base)
        yield {"status": f"Digest: {image.manifest_digest}"}
        word = "Image is up to date for" if found is not None else "Downloaded newer image for"
        yield {"status": f"Status: {word} {ref.familiar}"}
        events.publish("image", "pull", ref.familiar, {"name": ref.familiar})
    return Stream(json_lines(items()))


def _session(req: Request):
    """Credentials from X-Registry-Auth, else those `vessel login` stored under the engine's root."""
    from vessel.image.credentials import CredentialStore, decode_registry_auth
    from vessel.image.registry import Session

    given = decode_registry_auth(req.headers.get("X-Registry-Auth"))
    stored = CredentialStore.under(req.ctx.engine.root)
    return Session(credentials=lambda domain: given if given else stored.get(domain))


def _progress(steps, first, done) -> Iterator[dict]:
    """The messages of a pull/push already started; a later failure becomes docker's error message."""
    from vessel.image.distribution import error_msg

    yield first
    try:
        while True:
            try:
                yield next(steps)
            except StopIteration as stop:
                done(stop.value)
                return
    except VesselError as err:
        yield error_msg(err.message + (f" ({err.hint})" if err.hint else ""))


def _registry_pull(req: Request, text: str) -> Stream:
    from vessel.image.reference import parse_reference
    from vessel.image.registry import pull

    steps = pull(_store(req), text, _session(req))
    first = next(steps)  # the manifest is fetched: unknown image, refused login... are a proper HTTP error
    name = parse_reference(text).familiar
    done = lambda image: req.ctx.events.publish("image", "pull", name, {"name": name})  # noqa: E731
    return Stream(json_lines(_progress(steps, first, done)))


def _import(req: Request) -> Stream:
    src = req.arg("fromSrc")
    if src != "-":
        raise Unsupported(f"importing from {src!r} is not supported: vessel reads the archive from the request body",
                          hint="use fromSrc=- and send the tar", field="fromSrc")
    repo = req.arg("repo") or ""
    reference = _reference(repo, req.arg("tag")) if repo else None
    image = _store(req).import_rootfs(req.body, reference, changes=req.args("changes"),
                                      message=req.arg("message") or None)
    req.ctx.events.publish("image", "import", image.id, {"name": reference or image.id})
    return Stream(json_lines(iter([{"status": image.id}])))


def inspect(req: Request) -> Response:
    return json_response(_store(req).inspect(req.params["name"]))


def history(req: Request) -> Response:
    return json_response(_store(req).history(req.params["name"]))


def tag(req: Request) -> Response:
    repo = req.arg("repo")
    if not repo:
        raise InvalidArgument("repository name must have at least one component", field="repo")
    target = _reference(repo, req.arg("tag") or "latest")
    ref = _store(req).tag(req.params["name"], target)
    req.ctx.events.publish("image", "tag", _store(req).get(target).id, {"name": ref.familiar})
    return Response(201, b"", None)


def push(req: Request) -> Stream:
    """POST /images/{name}/push?tag=: every blob the registry lacks, then the manifest (docker's progress)."""
    from vessel.image.registry import push as push_image

    text = _reference(req.params["name"], req.arg("tag"))
    steps = push_image(_store(req), text, _session(req))
    first = next(steps)  # an image missing locally is a 404 before the stream starts
    done = lambda result: req.ctx.events.publish("image", "push", str(result.reference),  # noqa: E731
                                                 {"name": result.reference.familiar})
    return Stream(json_lines(_progress(steps, first, done)))


def remove(req: Request) -> Response:
    store = _store(req)
    image = store.get(req.params["name"])
    result = store.remove(req.params["name"], force=req.flag("force"))
    out = [{"Untagged": t} for t in result.untagged] + [{"Deleted": d} for d in result.deleted]
    for t in result.untagged:
        req.ctx.events.publish("image", "untag", image.id, {"name": t})
    for d in result.deleted:
        req.ctx.events.publish("image", "delete", d, {"name": d})
    return json_response(out)


def prune(req: Request) -> Response:
    store = _store(req)
    flt = F.parse(req.arg("filters"), ("dangling", "until", "label", "label!"))
    dangling = F.bool_filter(flt, "dangling")
    every = dangling is False
    if not (set(flt) - {"dangling"}):
        deleted, freed = store.prune(all=every)
    else:
        deleted, freed = _prune_matching(store, flt, every)
    req.ctx.events.publish("image", "prune", "", {"reclaimed": str(freed)})
    return json_response({"ImagesDeleted": [{"Deleted": d} for d in deleted] or None, "SpaceReclaimed": freed})


def _prune_matching(store, flt: F.Filters, every: bool) -> tuple[list[str], int]:
    now, deleted, freed = time.time(), [], 0
    for image in store.images():
        if image.tags and not every:
            continue
        labels = (image.config.config.labels if image.config.config else None) or {}
        if any(F.label_match(labels, [spec]) for spec in flt.get("label!", [])):
            continue
        if not _matches(store, image, {k: v for k, v in flt.items() if k in ("label", "until")}, (None, None), now):
            continue
        if store.in_use and list(store.in_use(image.id)):
            continue
        size = store.image_size(image)
        try:
            store.remove(image.id, force=True)
        except VesselError:
            continue
        deleted.append(image.id)
        freed += size
    return deleted, freed


def search(req: Request) -> Response:
    if not req.arg("term"):
        raise InvalidArgument("term is required", field="term")
    return json_response([])


def _save(req: Request, names: list[str]) -> Writer:
    if not names:
        raise InvalidArgument("no image names given", field="names")
    store = _store(req)
    for name in names:
        store.get(name)

    def write(out) -> None:
        store.save(names, out)
        for name in names:
            req.ctx.events.publish("image", "save", name, {"name": name})
    return Writer(write, content_type="application/x-tar")


def get_one(req: Request) -> Writer:
    return _save(req, [req.params["name"]])


def get_many(req: Request) -> Writer:
    return _save(req, req.args("names"))


def load(req: Request) -> Stream:
    loaded = _store(req).load(req.body)
    lines = []
    for item in loaded:
        if item.tags:
            lines += [{"stream": f"Loaded image: {t.familiar}\n"} for t in item.tags]
        else:
            lines.append({"stream": f"Loaded image ID: {item.image.id}\n"})
        req.ctx.events.publish("image", "load", item.image.id, {"name": item.tags[0].familiar if item.tags
                                                                  else item.image.id})
    return Stream(json_lines(iter(lines)))


def commit(req: Request) -> Response:
    from vessel.engine import ops

    engine = req.ctx.engine
    ref = req.arg("container")
    if not ref:
        raise InvalidArgument("container is required", field="container")
    rec = engine.get(ref)
    req.json()  # a container config may come along; vessel takes changes from `changes` only
    repo = req.arg("repo") or ""
    reference = _reference(repo, req.arg("tag") or "latest") if repo else None
    image = ops.commit(engine, rec, reference, req.args("changes"), req.arg("comment") or None,
                       req.arg("author") or None, pause=req.flag("pause", True))
    req.ctx.events.publish("container", "commit", rec.id, {"name": rec.name, "image": rec.image,
                                                           "comment": req.arg("comment") or ""})
    return json_response({"Id": image.id}, 201)


ROUTES = [
    ("GET", "/images/json", list_images),
    ("POST", "/images/create", create),
    ("POST", "/images/load", load),
    ("POST", "/images/prune", prune),
    ("GET", "/images/search", search),
    ("GET", "/images/get", get_many),
    ("GET", "/images/{name:.*}/json", inspect),
    ("GET", "/images/{name:.*}/history", history),
    ("GET", "/images/{name:.*}/get", get_one),
    ("POST", "/images/{name:.*}/tag", tag),
    ("POST", "/images/{name:.*}/push", push),
    ("DELETE", "/images/{name:.*}", remove),
    ("POST", "/commit", commit),
    ("POST", "/build", build.build),
    ("POST", "/build/prune", build.prune),
]
