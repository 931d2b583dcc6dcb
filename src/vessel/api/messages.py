"""What handlers receive and return: `Request`, and the four kinds of answer.

  Response  a complete body (JSON by default) with a Content-Length
  Stream    an iterator of byte chunks, sent chunked; a `None` item means
            "nothing yet": the server sends the head if it has not, and
            checks the client is still there (follow modes end when it left)
  Writer    a function writing to a file-like object (export, save, cp):
            the head goes out with the first byte, so an error raised
            before that still becomes a proper status
  Hijack    the connection is handed over after `101 UPGRADED` (or 200
            without Upgrade): attach and exec streams

Handlers validate before returning a Stream/Writer/Hijack where they can, so
a bad request gets its 4xx; generators validate before their first yield.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from vessel.api.wire import Body, Headers
from vessel.errors import InvalidArgument

MAX_JSON_BODY = 8 * 1024 * 1024
FALSE_WORDS = ("", "0", "no", "false", "none")


@dataclass
class Request:
    method: str
    path: str  # without the /v1.xx prefix
    api_version: tuple[int, int]
    query: dict[str, list[str]]
    headers: Headers
    body: Body
    ctx: Any  # vessel.api.context.Context
    params: dict[str, str] = field(default_factory=dict)
    upgrade: bool = False

    # -- query parameters, read the way dockerd reads them --------------------------------------
    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def flag(self, name: str, default: bool = False) -> bool:
        """dockerd's BoolValue: absent -> default; "", 0, no, false, none -> False; anything else True."""
        value = self.arg(name)
        if value is None:
            return default
        return value.strip().lower() not in FALSE_WORDS

    def int_arg(self, name: str, default: int | None = None, minimum: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {value!r} is not an integer", field=name) from None
        if minimum is not None and number < minimum:
            raise InvalidArgument(f"invalid value for {name}: {number} is below {minimum}", field=name)
        return number

    def json(self, *, required: bool = False, limit: int = MAX_JSON_BODY) -> Any:
        """The body as JSON; None when empty (an error if `required`)."""
        raw = self.body.read_all(limit)
        if not raw.strip():
            if required:
                raise InvalidArgument("request body is empty: a JSON object is required", hint="send a JSON body")
            return None
        return parse_json(raw)

    def json_object(self, *, required: bool = False, where: str = "body") -> dict:
        data = self.json(required=required)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise InvalidArgument(f"json: cannot unmarshal {type(data).__name__} into the {where}: an object is "
                                  "required", hint="send a JSON object")
        return data

    def at_least(self, minor: int) -> bool:
        """The client speaks API 1.<minor> or later."""
        return self.api_version >= (1, minor)


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except UnicodeDecodeError as err:
        raise InvalidArgument(f"invalid JSON: the body is not UTF-8 ({err.reason})") from None
    except json.JSONDecodeError as err:
        raise InvalidArgument(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except (ValueError, RecursionError) as err:
        raise InvalidArgument(f"invalid JSON: {err}"[:300]) from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Stream:
    chunks: Iterator[bytes | None]
    status: int = 200
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Writer:
    write_to: Callable[[Any], None]
    status: int = 200
    content_type: str = "application/x-tar"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Hijack:
    run: Callable[[Any], None]  # given a vessel.api.server.Hijacked
    content_type: str = "application/vnd.docker.raw-stream"
    headers: list[tuple[str, str]] = field(default_factory=list)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, dumps(obj) + b"\n", "application/json", list(headers or []))


def no_content(status: int = 204) -> Response:
    return Response(status, b"", None)


def json_lines(items: Iterator[dict]) -> Iterator[bytes | None]:
    """A stream of JSON messages, one per line (pull/load/build progress, events, stats)."""
    for item in items:
        yield None if item is None else dumps(item) + b"\n"
