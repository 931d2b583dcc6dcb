"""`POST /build` (the legacy builder's API): a tar context in, `{"stream": ...}` lines out.

The context is unpacked safely (the image layer extractor: nothing escapes
the directory) under `<root>/api-build/`, then the build runs in a child
process (`python -m vessel.api.buildjob`), as `vessel build` does: it needs
its own mount namespace, which a threaded daemon must not take for itself.
Its JSON lines are passed through; a client that goes away cancels it.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import subprocess
import sys
from pathlib import Path

from vessel.api.messages import Request, Response, Stream, dumps, json_response
from vessel.errors import InvalidArgument, Unsupported, VesselError

CONTEXTS = "api-build"


def _json_map(req: Request, name: str) -> dict[str, str]:
    raw = req.arg(name)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"{name} must be a JSON object of strings", field=name) from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"{name} must be a JSON object of strings", field=name)
    out = {}
    for k, v in data.items():
        if v is None:
            continue  # an unset build arg: the Dockerfile's default applies
        if not isinstance(v, str):
            raise InvalidArgument(f"{name}[{k!r}] must be a string", field=name)
        out[k] = v
    return out


def build_spec(req: Request, root: Path, context: Path) -> dict:
    """The child's instructions, from the query parameters (validated here, before any work)."""
    from vessel.build.options import parse_tags

    if req.arg("remote"):
        raise Unsupported("remote build contexts are not supported: send the context as the request body",
                          field="remote")
    tags = req.args("t")
    parse_tags(tags)
    network = req.arg("networkmode") or "default"
    if network not in ("default", "host", "none", "bridge"):
        raise InvalidArgument(f"network mode {network!r} is not supported for builds", field="networkmode",
                              hint="use default, host or none")
    platform = req.arg("platform") or "linux/amd64"
    return {"root": str(root), "context": str(context), "dockerfile": req.arg("dockerfile") or "Dockerfile",
            "tags": tags, "build_args": _json_map(req, "buildargs"), "labels": _json_map(req, "labels"),
            "target": req.arg("target") or None, "no_cache": req.flag("nocache"), "quiet": req.flag("q"),
            "network": "default" if network == "bridge" else network, "platform": platform}


def _unpack(req: Request, target: Path) -> None:
    from vessel.image.extract import OverlayWhiteouts, extract_layer

    try:
        extract_layer(req.body, target, layer="build context", is_root=os.geteuid() == 0,
                      whiteouts=OverlayWhiteouts())
    except VesselError as err:
        raise InvalidArgument(f"cannot read the build context: {err.message}") from None


def build(req: Request) -> Stream:
    root = req.ctx.engine.root
    context = root / CONTEXTS / secrets.token_hex(8)
    context.mkdir(parents=True)
    try:
        spec = build_spec(req, root, context)
        _unpack(req, context)
    except BaseException:
        shutil.rmtree(context, ignore_errors=True)
        raise
    events, client_gone = req.ctx.events, req.ctx.client_gone
    return Stream(_run(spec, context, events, client_gone), content_type="application/json")


def _run(spec: dict, context: Path, events, client_gone):
    proc = subprocess.Popen([sys.executable, "-m", "vessel.api.buildjob"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    saw_error = False
    try:
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
        yield None
        pending = b""
        fd = proc.stdout.fileno()
        while True:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                yield None
                if client_gone():
                    return
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                out, error = pass_through(line)
                saw_error = saw_error or error
                yield out
        if pending:
            yield pass_through(pending)[0]
        code = proc.wait()
        if code != 0 and not saw_error:
            message = f"the build failed (exit status {code})"
            yield dumps({"errorDetail": {"message": message}, "error": message}) + b"\n"
        elif code == 0:
            events.publish("builder", "build", "", {})
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(context, ignore_errors=True)


def pass_through(line: bytes) -> tuple[bytes, bool]:
    """A line of the child's output as a JSON message (non-JSON text becomes a stream line); is it an error."""
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        return dumps({"stream": line.decode("utf-8", "replace") + "\n"}) + b"\n", False
    return dumps(obj) + b"\n", "error" in obj


def prune(req: Request) -> Response:
    from vessel.build import memo
    from vessel.build.cache import LayerCache

    build_dir = req.ctx.engine.root / "build"
    records = LayerCache(build_dir / "steps").clear() if (build_dir / "steps").is_dir() else 0
    memo.clear(build_dir)
    req.ctx.events.publish("builder", "prune", "", {"reclaimed": "0"})
    return json_response({"CachesDeleted": [f"step-{i}" for i in range(records)] or None, "SpaceReclaimed": 0})
