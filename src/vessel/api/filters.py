"""Docker's `filters` query parameter (pure).

It is JSON: `{"status": {"running": true}}` (the current form, a set as a map
to true) or `{"status": ["running"]}` (the legacy form). Both become
`{"status": ["running"]}`. A key not in the endpoint's list is refused with
dockerd's message (`invalid filter 'x'`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from vessel.errors import InvalidArgument

Filters = dict[str, list[str]]


def parse(raw: str | None, allowed: Iterable[str] | None = None) -> Filters:
    if raw is None or raw.strip() == "":
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidArgument(f"invalid filters: {raw[:200]!r} is not JSON",
                              hint='filters are JSON, e.g. {"status":["running"]}', field="filters") from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filters: a JSON object is required", field="filters")
    out: Filters = {}
    for key, value in data.items():
        if isinstance(value, dict):
            if not all(isinstance(v, bool) for v in value.values()):
                raise InvalidArgument(f"invalid filter '{key}': values must be true or false", field="filters")
            values = [k for k, on in value.items() if on]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            values = list(value)
        elif isinstance(value, str):
            values = [value]
        else:
            raise InvalidArgument(f"invalid filter '{key}': expected a list of strings or a map to booleans",
                                  field="filters")
        out[key] = values
    if allowed is not None:
        allowed = set(allowed)
        for key in out:
            if key not in allowed:
                raise InvalidArgument(f"invalid filter '{key}'", field="filters")
    return out


def bool_filter(filters: Filters, key: str) -> bool | None:
    """A true/false filter (dangling); None when absent; refused when neither."""
    values = filters.get(key)
    if not values:
        return None
    value = values[-1].lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidArgument(f"invalid filter '{key}={values[-1]}': use true or false", field="filters")


def label_match(labels: dict[str, str] | None, specs: list[str]) -> bool:
    """Every `key`, `key=value` or `key!=value` spec holds for `labels`."""
    labels = labels or {}
    for spec in specs:
        if "!=" in spec:
            key, value = spec.split("!=", 1)
            if labels.get(key) == value:
                return False
            continue
        key, sep, value = spec.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def name_match(name: str, patterns: list[str]) -> bool:
    """dockerd's name filter: a regular expression searched in the name (a bad one matches literally)."""
    for pattern in patterns:
        try:
            if re.search(pattern, name) or re.search(pattern, "/" + name):
                return True
        except re.error:
            if pattern in name:
                return True
    return False


def glob_match(pattern: str, text: str) -> bool:
    """A reference filter (`busybox`, `busy*:lat*`): path.Match-style wildcards, `/` not crossed by `*`."""
    regex = ""
    for ch in pattern:
        if ch == "*":
            regex += "[^/]*"
        elif ch == "?":
            regex += "[^/]"
        else:
            regex += re.escape(ch)
    return re.fullmatch(regex, text) is not None
