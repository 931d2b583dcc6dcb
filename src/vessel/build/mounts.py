"""``RUN --mount=...`` values, parsed as Docker's frontend parses them.

A mount is CSV ``key=value`` fields: ``type`` (bind, cache, tmpfs, secret,
ssh; default bind), ``target``/``dst``/``destination``, ``source``/``src``,
``from``, ``id``, ``ro``/``readonly``, ``rw``/``readwrite``, ``sharing``
(shared, private, locked), ``mode``, ``uid``, ``gid``, ``size``,
``required`` and ``env``.  At parse time (no expander) only the syntax is
checked; the planner parses again with the stage's variables expanded.
"""

from __future__ import annotations

import csv
import io
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_KEYS = ("type", "from", "source", "src", "target", "dst", "destination", "readonly", "ro", "readwrite", "rw",
         "required", "size", "id", "sharing", "mode", "uid", "gid", "env")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
               "tib": 1 << 40}


@dataclass(frozen=True, slots=True)
class Mount:
    """One RUN mount, with Docker's defaults filled in by :func:`resolve_mount`."""

    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    readonly: bool = True
    id: str = ""
    sharing: str = ""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int = 0
    required: bool = False
    env: str | None = None
    from_stage: int | None = None  # set by the planner when ``from_`` names a stage
    from_image: str | None = None  # ... or an image

    def as_dict(self) -> dict:
        out = {"type": self.type, "target": self.target, "source": self.source, "from": self.from_,
               "readonly": self.readonly, "id": self.id, "sharing": self.sharing, "mode": self.mode,
               "uid": self.uid, "gid": self.gid, "size": self.size, "required": self.required, "env": self.env,
               "fromStage": self.from_stage, "fromImage": self.from_image}
        return {k: v for k, v in out.items() if v not in ("", None)}


def _bool(key: str, value: str) -> bool:
    low = value.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise ValueError(f"invalid value for {key}: {value}")


def _size(value: str) -> int:
    text = value.strip().lower()
    num = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(num):]
    try:
        return int(float(num) * _SIZE_UNITS[unit])
    except (ValueError, KeyError):
        raise ValueError(f"invalid value for size: {value}") from None


def _uint(key: str, value: str, base: int) -> int:
    try:
        number = int(value, base)
    except ValueError:
        number = -1
    if not 0 <= number < 2**32:
        raise ValueError(f"invalid value {value} for {key}" if key == "mode" else f"invalid value for {key}: {value}")
    return number


def _fields(raw: str) -> list[str]:
    try:
        rows = list(csv.reader(io.StringIO(raw), strict=True))
    except csv.Error as err:
        raise ValueError(f"failed to parse csv mounts: {err}") from None
    return rows[0] if rows else []


def parse_mount(raw: str, expander: Callable[[str], str] | None) -> Mount:
    """Parse one ``--mount`` value; with ``expander`` None, values are only syntax-checked."""
    m: dict = {"type": "bind"}
    ro_auto = True
    for fld in _fields(raw):
        key, eq, value = fld.partition("=")
        key = key.lower()
        if not eq:
            if expander is None:
                continue
            if key in ("readonly", "ro", "readwrite", "rw"):
                m["readonly"] = key in ("readonly", "ro")
                ro_auto = False
            elif key == "required":
                _required_ok(m["type"], key)
                m["required"] = True
            else:
                raise ValueError(f"invalid field '{fld}' must be a key=value pair")
            continue
        if expander is not None:
            value = expander(value)
        elif key == "from":
            idx = value.find("$")
            if idx != -1 and idx != len(value) - 1:
                raise ValueError(f"'{key}' doesn't support variable expansion, define alias stage instead")
            continue
        else:
            continue
        ro_auto = _apply(m, key, value, fld) and ro_auto
    return _finish(m, ro_auto)


def mount_from(raw: str) -> str | None:
    """The raw ``from=`` value of a mount (for finding stage dependencies), if any."""
    for fld in _fields(raw):
        key, eq, value = fld.partition("=")
        if eq and key.lower() == "from":
            return value
    return None


def _required_ok(mount_type: str, key: str) -> None:
    if mount_type not in ("secret", "ssh"):
        raise ValueError(f"unexpected key '{key}' for mount type '{mount_type}'")


def _apply(m: dict, key: str, value: str, fld: str) -> bool:
    """Set one key; returns False when it decided read-only-ness explicitly."""
    if key == "type":
        if value.lower() not in MOUNT_TYPES:
            raise ValueError(f'unsupported mount type "{value}"')
        m["type"] = value.lower()
    elif key == "from":
        m["from_"] = value
    elif key in ("source", "src"):
        m["source"] = value
    elif key in ("target", "dst", "destination"):
        m["target"] = value
    elif key in ("readonly", "ro"):
        m["readonly"] = _bool(key, value)
        return False
    elif key in ("readwrite", "rw"):
        m["readonly"] = not _bool(key, value)
        return False
    elif key == "required":
        _required_ok(m["type"], key)
        m["required"] = _bool(key, value)
    elif key == "size":
        if m["type"] != "tmpfs":
            raise ValueError(f"unexpected key '{key}' for mount type '{m['type']}'")
        m["size"] = _size(value)
    elif key == "id":
        m["id"] = value
    elif key == "sharing":
        if m["type"] != "cache":
            raise ValueError(f"invalid cache sharing set for {m['type']} mount")
        if value.lower() not in ("shared", "private", "locked"):
            raise ValueError(f'unsupported sharing value "{value}"')
        m["sharing"] = value.lower()
    elif key in ("mode", "uid", "gid"):
        m[key] = _uint(key, value, 8 if key == "mode" else 10)
    elif key == "env":
        m["env"] = value
    else:
        raise ValueError(f"unexpected key '{key}' in '{fld}'")
    return True


def _finish(m: dict, ro_auto: bool) -> Mount:
    kind = m["type"]
    if kind not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if m.get(key) is not None:
                raise ValueError(f'{key} not allowed for "{kind}" type mounts')
    if ro_auto:
        m["readonly"] = kind not in ("cache", "tmpfs")
    if m.get("sharing") and kind != "cache":
        raise ValueError(f"invalid cache sharing set for {kind} mount")
    if kind == "secret":
        if m.get("from_"):
            raise ValueError("secret mount should not have a from")
        if not (m.get("source") or m.get("target") or m.get("id")):
            raise ValueError("one of source, target required")
        if m.get("source") and m.get("id"):
            raise ValueError("both source and id can't be set")
    return Mount(**m)


def resolve_mount(mount: Mount, workdir: str, ssh_index: int = 0) -> Mount:
    """Fill Docker's defaults: relative targets under the workdir, cache/secret ids, sharing."""
    from dataclasses import replace

    target = mount.target
    if mount.type == "secret":
        ident = mount.source or mount.id or posixpath.basename(target)
        target = target or ("" if mount.env and not target else "/run/secrets/" + posixpath.basename(ident))
        return replace(mount, id=ident, source="", target=target)
    if mount.type == "ssh":
        return replace(mount, id=mount.id or "default",
                       target=target or f"/run/buildkit/ssh_agent.{ssh_index}")
    if not target:
        raise ValueError("mount target required" if mount.type != "bind" else "mount target required for bind")
    if not posixpath.isabs(target):
        target = posixpath.normpath(posixpath.join("/", workdir, target))
    if mount.type == "cache":
        return replace(mount, target=target, id=mount.id or target, sharing=mount.sharing or "shared",
                       mode=0o755 if mount.mode is None else mount.mode)
    return replace(mount, target=target)
