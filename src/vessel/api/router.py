"""Routes: (method, path pattern) -> handler, versioned paths, errors mapped to statuses at this edge.

A pattern's `{name}` matches one path segment, `{name:.*}` any text (image
names hold slashes). `/v1.41/containers/json` and `/containers/json` are the
same route; the version is kept on the request. Versions above ours are
served as ours (as podman does), below the minimum are refused with dockerd's
message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable

from vessel.api import API_VERSION, MIN_API_VERSION, version_tuple
from vessel.api.messages import Request, Response, json_response
from vessel.api.wire import HttpError
from vessel.errors import Conflict, InvalidArgument, NotFound, ResourceExhausted, SystemFailure, Unsupported, \
    VesselError

log = logging.getLogger("vessel.api")

_VERSIONED = re.compile(r"^/v(\d{1,4})\.(\d{1,4})(/.*)$")
_PARAM = re.compile(r"\{(\w+)(:\.\*)?\}")

# vessel.errors -> HTTP status; anything else a handler raises is a 500
STATUS = ((NotFound, 404), (Conflict, 409), (InvalidArgument, 400), (Unsupported, 501),
          (ResourceExhausted, 503), (SystemFailure, 500), (VesselError, 500))

Handler = Callable[[Request], object]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    regex: re.Pattern


def compile_pattern(pattern: str) -> re.Pattern:
    out, pos = "^", 0
    for m in _PARAM.finditer(pattern):
        out += re.escape(pattern[pos:m.start()])
        out += f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    return re.compile(out + re.escape(pattern[pos:]) + "$")


def split_version(path: str) -> tuple[tuple[int, int] | None, str]:
    m = _VERSIONED.match(path)
    if not m:
        return None, path
    return (int(m.group(1)), int(m.group(2))), m.group(3)


def negotiate(requested: tuple[int, int] | None) -> tuple[int, int]:
    """The version a request is served at; refuses those below the minimum (400, dockerd's text)."""
    ours, minimum = version_tuple(API_VERSION), version_tuple(MIN_API_VERSION)
    if requested is None or requested > ours:
        return ours
    if requested < minimum:
        shown = f"{requested[0]}.{requested[1]}"
        raise HttpError(400, f"client version {shown} is too old. Minimum supported API version is "
                             f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    return requested


def status_of(err: VesselError) -> int:
    explicit = getattr(type(err), "http_status", None)      # e.g. a registry's 401 (image.registry.Unauthorized)
    if isinstance(explicit, int):
        return explicit
    for cls, status in STATUS:
        if isinstance(err, cls):
            return status
    return 500


def error_response(err: VesselError) -> Response:
    return json_response({"message": err.message}, status_of(err))


class Router:
    def __init__(self, routes: list[tuple[str, str, Handler]]) -> None:
        self.routes = [Route(m, p, h, compile_pattern(p)) for m, p, h in routes]

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """HEAD routes first (archive stat), then GET routes serve HEAD too."""
        if method == "HEAD":
            for route in self.routes:
                if route.method == "HEAD":
                    m = route.regex.match(path)
                    if m:
                        return route, m.groupdict()
        for route in self.routes:
            if route.method == ("GET" if method == "HEAD" else method):
                m = route.regex.match(path)
                if m:
                    return route, m.groupdict()
        return None

    def dispatch(self, req: Request) -> object:
        found = self.find(req.method, req.path)
        if found is None:
            return json_response({"message": "page not found"}, 404)
        route, params = found
        req.params = params
        try:
            return route.handler(req)
        except VesselError as err:
            return error_response(err)


def default_routes() -> list[tuple[str, str, Handler]]:
    from vessel.api import containers, execs, images, networks, system, volumes

    return [*system.ROUTES, *containers.ROUTES, *execs.ROUTES, *images.ROUTES, *networks.ROUTES, *volumes.ROUTES]
