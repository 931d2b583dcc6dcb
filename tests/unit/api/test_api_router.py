"""Routes, versioned paths, and the mapping of vessel errors to Docker's statuses and bodies."""

from __future__ import annotations

import json

import pytest

from vessel.api import API_VERSION, version_tuple
from vessel.api.messages import Request, json_response
from vessel.api.router import Router, compile_pattern, default_routes, error_response, negotiate, split_version, \
    status_of
from vessel.api.wire import Body, Headers, HttpError
from vessel.errors import Conflict, InvalidArgument, NotFound, SystemFailure, Unsupported

pytestmark = pytest.mark.unit


def request(method: str, path: str) -> Request:
    return Request(method, path, (1, 42), {}, Headers(), Body(None, "none", 0), ctx=None)


def test_patterns_match_one_segment_or_any_text():
    assert compile_pattern("/containers/{id}/json").match("/containers/abc/json").group("id") == "abc"
    assert compile_pattern("/containers/{id}/json").match("/containers/a/b/json") is None
    m = compile_pattern("/images/{name:.*}/json").match("/images/localhost:5000/app:1/json")
    assert m.group("name") == "localhost:5000/app:1"


def test_split_version():
    assert split_version("/v1.41/containers/json") == ((1, 41), "/containers/json")
    assert split_version("/containers/json") == (None, "/containers/json")
    assert split_version("/v1/x") == (None, "/v1/x")


def test_negotiate_serves_lower_refuses_too_old_caps_newer():
    assert negotiate((1, 30)) == (1, 30)
    assert negotiate(None) == version_tuple(API_VERSION)
    assert negotiate((1, 99)) == version_tuple(API_VERSION)
    with pytest.raises(HttpError) as err:
        negotiate((1, 12))
    assert err.value.status == 400 and "too old" in err.value.message


@pytest.mark.parametrize("error,status", [(NotFound("No such container: x"), 404), (Conflict("busy"), 409),
                                          (InvalidArgument("bad"), 400), (Unsupported("no"), 501),
                                          (SystemFailure("boom"), 500)])
def test_errors_map_to_statuses_with_message_bodies(error, status):
    assert status_of(error) == status
    resp = error_response(error)
    assert resp.status == status and json.loads(resp.body) == {"message": error.message}


def test_error_bodies_keep_the_message_not_the_hint():
    resp = error_response(NotFound("No such image: busybox:latest", hint="vessel image bootstrap busybox"))
    assert json.loads(resp.body) == {"message": "No such image: busybox:latest"}


def test_dispatch_unknown_route_is_404_page_not_found():
    resp = Router([]).dispatch(request("GET", "/nope"))
    assert resp.status == 404 and json.loads(resp.body) == {"message": "page not found"}


def test_dispatch_passes_params_and_maps_raised_errors():
    def handler(req):
        if req.params["id"] == "missing":
            raise NotFound("No such container: missing")
        return json_response({"id": req.params["id"]})
    router = Router([("GET", "/containers/{id}/json", handler)])
    assert json.loads(router.dispatch(request("GET", "/containers/abc/json")).body) == {"id": "abc"}
    assert router.dispatch(request("GET", "/containers/missing/json")).status == 404
    assert router.dispatch(request("POST", "/containers/abc/json")).status == 404


def test_head_uses_a_head_route_first_then_the_get_route():
    router = Router([("GET", "/a", lambda r: json_response("get")), ("HEAD", "/b", lambda r: json_response("head")),
                     ("GET", "/b", lambda r: json_response("get-b"))])
    assert json.loads(router.dispatch(request("HEAD", "/a")).body) == "get"
    assert json.loads(router.dispatch(request("HEAD", "/b")).body) == "head"


def test_every_documented_route_is_registered_once():
    routes = default_routes()
    keys = [(m, p) for m, p, _ in routes]
    assert len(keys) == len(set(keys))
    for needed in [("GET", "/_ping"), ("GET", "/version"), ("GET", "/info"), ("GET", "/events"),
                   ("POST", "/containers/create"), ("POST", "/containers/{id}/attach"), ("POST", "/exec/{id}/start"),
                   ("GET", "/images/{name:.*}/get"), ("POST", "/build"), ("POST", "/networks/{id}/connect"),
                   ("POST", "/volumes/prune"), ("GET", "/system/df"), ("POST", "/auth"),
                   ("HEAD", "/containers/{id}/archive"), ("PUT", "/containers/{id}/archive")]:
        assert needed in keys


def test_fixed_paths_win_over_name_patterns():
    router = Router(default_routes())
    route, _ = router.find("GET", "/images/json")
    assert route.pattern == "/images/json"
    route, params = router.find("GET", "/images/get")
    assert route.pattern == "/images/get"
    route, params = router.find("DELETE", "/images/localhost:5000/app:1")
    assert params == {"name": "localhost:5000/app:1"}
