"""Image config changes (`--change 'CMD ["sh"]'`) and derived configs for new layers (pure)."""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import re
import shlex
from dataclasses import replace
from typing import Sequence

from vessel.errors import InvalidArgument
from vessel.oci.image import ContainerConfig, History, ImageConfig, RootFS

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR", "STOPSIGNAL",
                "SHELL")


def _json_list(value: str) -> list[str] | None:
    if not value.startswith("["):
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        return parsed
    return None


def _command(value: str, shell: list[str]) -> list[str]:
    parsed = _json_list(value)
    return parsed if parsed is not None else [*shell, value]


def _pairs(value: str, what: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` (or the legacy ``k v`` form) as pairs."""
    try:
        words = shlex.split(value)
    except ValueError as err:
        raise InvalidArgument(f"{what} {value!r}: {err}", value=value) from err
    if words and "=" not in words[0]:
        if len(words) < 2:
            raise InvalidArgument(f"{what} {value!r}: expected NAME=VALUE", value=value)
        return [(words[0], value.split(None, 1)[1])]
    out = []
    for word in words:
        name, sep, val = word.partition("=")
        if not sep or not name:
            raise InvalidArgument(f"{what} {value!r}: expected NAME=VALUE, got {word!r}", value=value)
        out.append((name, val))
    return out


def _set_env(env: list[str], name: str, value: str) -> list[str]:
    return [e for e in env if e.partition("=")[0] != name] + [f"{name}={value}"]


def _port(word: str) -> str:
    if not re.fullmatch(r"\d{1,5}(-\d{1,5})?(/(tcp|udp|sctp))?", word):
        raise InvalidArgument(f"EXPOSE: invalid port {word!r}", value=word)
    return word if "/" in word else f"{word}/tcp"


def apply_change(cfg: ContainerConfig, change: str) -> ContainerConfig:
    """Apply one Dockerfile-style instruction to a container config."""
    keyword, _, value = change.strip().partition(" ")
    keyword, value = keyword.upper(), value.strip()
    if keyword not in INSTRUCTIONS:
        raise InvalidArgument(f"{keyword or change!r} is not a valid change command",
                              hint=f"use one of {', '.join(INSTRUCTIONS)}", value=change)
    shell = cfg.shell or DEFAULT_SHELL
    if keyword == "CMD":
        return replace(cfg, cmd=_command(value, shell))
    if keyword == "ENTRYPOINT":
        return replace(cfg, entrypoint=_command(value, shell) if value else None)
    if keyword == "SHELL":
        parsed = _json_list(value)
        if not parsed:
            raise InvalidArgument(f"SHELL requires a JSON array, got {value!r}", value=value)
        return replace(cfg, shell=parsed)
    if keyword == "ENV":
        env = list(cfg.env or [])
        for name, val in _pairs(value, "ENV"):
            env = _set_env(env, name, val)
        return replace(cfg, env=env)
    if keyword == "LABEL":
        return replace(cfg, labels={**(cfg.labels or {}), **dict(_pairs(value, "LABEL"))})
    if keyword == "EXPOSE":
        return replace(cfg, exposed_ports={**(cfg.exposed_ports or {}), **{_port(w): {} for w in value.split()}})
    if keyword == "VOLUME":
        paths = _json_list(value) or value.split()
        return replace(cfg, volumes={**(cfg.volumes or {}), **{p: {} for p in paths}})
    if keyword == "WORKDIR":
        return replace(cfg, working_dir=posixpath.normpath(posixpath.join(cfg.working_dir or "/", value)))
    if keyword == "USER":
        return replace(cfg, user=value)
    if keyword == "STOPSIGNAL":
        return replace(cfg, stop_signal=value)
    return replace(cfg, on_build=[*(cfg.on_build or []), value])  # ONBUILD


def apply_changes(cfg: ContainerConfig | None, changes: Sequence[str]) -> ContainerConfig:
    out = cfg or ContainerConfig()
    for change in changes:
        out = apply_change(out, change)
    return out


def derive_config(parent: ImageConfig | None, *, created: str, created_by: str, diff_id: str | None = None,
                  container_config: ContainerConfig | None = None, comment: str | None = None,
                  author: str | None = None) -> ImageConfig:
    """The config of an image made from ``parent`` (None: from scratch) plus one layer (or none)."""
    base = parent or ImageConfig(config=ContainerConfig(env=[DEFAULT_PATH]))
    diff_ids = [*base.rootfs.diff_ids, *([diff_id] if diff_id else [])]
    history = History(created=created, created_by=created_by, author=author, comment=comment,
                      empty_layer=None if diff_id else True)
    return replace(base, created=created, author=author or base.author, rootfs=RootFS("layers", diff_ids),
                   config=container_config if container_config is not None else base.config,
                   history=[*base.history, history])


def format_time(epoch: float) -> str:
    """RFC 3339 in UTC, as image configs write ``created``."""
    whole = int(epoch)
    frac = round((epoch - whole) * 1_000_000_000)
    text = dt.datetime.fromtimestamp(whole, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{frac:09d}Z" if frac else f"{text}Z"


_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds allowed); None if absent or malformed."""
    if not text:
        return None
    match = _TIME.match(text)
    if not match:
        return None
    base, frac, zone = match.groups()
    stamp = dt.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return stamp.timestamp() + (float(frac) if frac else 0.0)
