"""Typed reads of a JSON request body (pure): a wrong type is a 400 naming the field, null is absent."""

from __future__ import annotations

from typing import Any

from vessel.errors import InvalidArgument

_NAMES = {str: "string", int: "integer", bool: "boolean", list: "array", dict: "object"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return _NAMES.get(type(value), "null" if value is None else type(value).__name__)


class Fields:
    def __init__(self, data: Any, where: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidArgument(f"json: cannot unmarshal {_kind(data)} into {where} of type object", field=where)
        self.data, self.where = data, where

    def _get(self, key: str, kind: type) -> Any:
        value = self.data.get(key)
        if value is None:
            return None
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InvalidArgument(f"json: cannot unmarshal {_kind(value)} into Go struct field {self.where}.{key} "
                                  f"of type {_NAMES[kind]}", field=f"{self.where}.{key}")
        return value

    def str(self, key: str) -> str | None:
        return self._get(key, str)

    def int(self, key: str) -> int | None:
        return self._get(key, int)

    def bool(self, key: str) -> bool:
        return bool(self._get(key, bool))

    def strs(self, key: str) -> list[str] | None:
        items = self._get(key, list)
        if items is None:
            return None
        for item in items:
            if not isinstance(item, str):
                raise InvalidArgument(f"json: cannot unmarshal {_kind(item)} into Go struct field "
                                      f"{self.where}.{key} of type string", field=f"{self.where}.{key}")
        return items

    def map(self, key: str) -> dict[str, str]:
        value = self._get(key, dict) or {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise InvalidArgument(f"json: cannot unmarshal {_kind(v)} into Go struct field {self.where}.{key} "
                                      "of type string", field=f"{self.where}.{key}.{k}")
        return value

    def obj(self, key: str) -> "Fields":
        return Fields(self.data.get(key), f"{self.where}.{key}")

    def objs(self, key: str) -> list["Fields"]:
        return [Fields(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(self._get(key, list) or [])]
