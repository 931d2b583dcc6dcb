"""Decode JSON objects into frozen dataclasses and encode them back.

A field's JSON key is its name in lowerCamelCase unless the field's metadata
names it (``field(metadata=key("disableOOMKiller"))``).  Types are checked as
the dataclass declares them (int, float, str, bool, list[X], dict[str, X],
X | None, nested dataclasses).  Unknown keys are kept out of the value but
remembered by the caller if it asks (``unknown=``): the runtime spec says a
runtime MUST ignore properties it does not know.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from vessel.errors import InvalidArgument

_PLANS: dict[type, list[tuple[str, str, Any]]] = {}


def key(name: str) -> dict:
    """Field metadata naming the JSON key explicitly."""
    return {"json": name}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _plan(cls: type) -> list[tuple[str, str, Any]]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = [(f.name, f.metadata.get("json") or _camel(f.name), hints[f.name]) for f in dataclasses.fields(cls)]
        _PLANS[cls] = plan
    return plan


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except InvalidArgument as err:
                errors.append(err)
        raise errors[0] if errors else InvalidArgument(f"{where}: unexpected null")
    if origin is list or origin is tuple:
        if not isinstance(value, list):
            raise InvalidArgument(f"{where}: expected a list, got {type(value).__name__} {value!r:.60}")
        (item_tp, *_rest) = typing.get_args(tp)
        items = [_convert(item_tp, item, f"{where}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise InvalidArgument(f"{where}: expected an object, got {type(value).__name__} {value!r:.60}")
        _k, val_tp = typing.get_args(tp)
        return {str(k): _convert(val_tp, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return decode(tp, value, where)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported field type {tp!r} at {where}")
    raise InvalidArgument(
        f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r:.60}",
        path=where,
    )


def decode(cls: type, data: Any, where: str = "$", unknown: list[str] | None = None) -> Any:
    """Build ``cls`` from a JSON object, checking types; ``where`` names the place for errors."""
    if not isinstance(data, dict):
        raise InvalidArgument(f"{where}: expected an object, got {type(data).__name__} {data!r:.60}", path=where)
    kwargs = {}
    seen = set()
    for name, json_key, tp in _plan(cls):
        if json_key in data:
            seen.add(json_key)
            kwargs[name] = _convert(tp, data[json_key], f"{where}.{json_key}")
    if unknown is not None:
        unknown.extend(f"{where}.{k}" for k in data if k not in seen)
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required field is missing
        missing = [json_key for name, json_key, _ in _plan(cls) if name not in kwargs]
        raise InvalidArgument(f"{where}: missing required field(s) {', '.join(missing)}", path=where) from err


def encode(value: Any) -> Any:
    """The JSON form of a dataclass value; None fields and empty containers are left out."""
    if dataclasses.is_dataclass(value):
        out = {}
        for name, json_key, _tp in _plan(type(value)):
            item = getattr(value, name)
            if item is None or (isinstance(item, (list, tuple, dict)) and not item):
                continue
            out[json_key] = encode(item)
        return out
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value
