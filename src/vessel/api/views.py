"""Docker's JSON shapes for containers (pure): list entries, status text, filters, wait conditions."""

from __future__ import annotations

import time
from dataclasses import dataclass

from vessel.api.filters import Filters, label_match, name_match
from vessel.engine.health import suffix as health_suffix
from vessel.errors import InvalidArgument
from vessel.humanize import human_duration, status_text  # noqa: F401  (re-exported)

CONTAINER_FILTERS = ("ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label",
                     "name", "network", "publish", "since", "status", "volume")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


@dataclass(frozen=True)
class PortView:
    private: int
    proto: str
    ip: str = ""
    public: int = 0

    def to_json(self) -> dict:
        out: dict = {"PrivatePort": self.private, "Type": self.proto}
        if self.public:
            out = {"IP": self.ip or "0.0.0.0", "PrivatePort": self.private, "PublicPort": self.public,
                   "Type": self.proto}
        return out


def container_summary(rec, *, command: str, ports: list[PortView], networks: dict, mounts: list[dict],
                      labels: dict[str, str], now: float | None = None) -> dict:
    """One entry of `GET /containers/json`."""
    now = time.time() if now is None else now
    return {
        "Id": rec.id, "Names": ["/" + rec.name], "Image": rec.image, "ImageID": rec.image_id,
        "Command": command, "Created": int(rec.created), "Ports": [p.to_json() for p in ports],
        "Labels": labels, "State": rec.status,
        "Status": status_text(rec.status, rec.exit_code, rec.started_at, rec.finished_at, now)
        + (health_suffix(rec.extra.get("health")) if rec.status == "running" else ""),
        "HostConfig": {"NetworkMode": rec.options.get("network") or "bridge"},
        "NetworkSettings": {"Networks": networks}, "Mounts": mounts,
    }


def check_container_filters(filters: Filters) -> None:
    for key in filters:
        if key not in CONTAINER_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'", field="filters")
    for value in filters.get("status", []):
        if value not in STATUSES:
            raise InvalidArgument(f"invalid filter 'status={value}'", field="filters",
                                  hint=f"one of {', '.join(STATUSES)}")
    for value in filters.get("exited", []):
        if not value.lstrip("-").isdigit():
            raise InvalidArgument(f"invalid filter 'exited={value}'", field="filters", hint="an exit code")


@dataclass(frozen=True)
class FilterFacts:
    """What the container filters look at, gathered by the caller."""

    labels: dict[str, str]
    image_ids: tuple[str, ...]  # the image's id and names, for `ancestor`
    networks: tuple[str, ...]
    volumes: tuple[str, ...]  # volume names and mount targets
    ports: tuple[PortView, ...]
    exposed: tuple[str, ...]


def container_matches(rec, facts: FilterFacts, filters: Filters, created_bounds: tuple[float | None, float | None]
                      ) -> bool:
    before, since = created_bounds
    checks = {
        "id": lambda vs: any(rec.id.startswith(v) for v in vs),
        "name": lambda vs: name_match(rec.name, vs),
        "status": lambda vs: rec.status in vs,
        "exited": lambda vs: rec.status == "exited" and str(rec.exit_code) in vs,
        "label": lambda vs: label_match(facts.labels, vs),
        "ancestor": lambda vs: any(v in facts.image_ids for v in vs),
        "network": lambda vs: any(v in facts.networks for v in vs),
        "volume": lambda vs: any(v in facts.volumes for v in vs),
        "health": lambda vs: ((rec.extra.get("health") or {}).get("Status") or "none") in vs,
        "is-task": lambda vs: "false" in [v.lower() for v in vs] or "0" in vs,
        "isolation": lambda vs: any(v in (rec.isolation, "default") for v in vs),
        "publish": lambda vs: any(_port_in(v, [p for p in facts.ports if p.public], public=True) for v in vs),
        "expose": lambda vs: any(_port_in(v, [PortView(int(e.split("/")[0]), (e.split("/") + ["tcp"])[1])
                                              for e in facts.exposed if e.split("/")[0].isdigit()]) for v in vs),
        "before": lambda vs: before is None or rec.created < before,
        "since": lambda vs: since is None or rec.created > since,
    }
    return all(checks[key](values) for key, values in filters.items() if values and key in checks)


def _port_in(spec: str, ports: list[PortView], public: bool = False) -> bool:
    number, _, proto = spec.partition("/")
    for p in ports:
        if str(p.public if public else p.private) == number and (not proto or proto == p.proto):
            return True
    return False


def check_wait_condition(condition: str | None) -> str:
    condition = condition or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise InvalidArgument(f"invalid condition: \"{condition}\"", field="condition",
                              hint=f"one of {', '.join(WAIT_CONDITIONS)}")
    return condition


def exit_seen(status: str, started_at: float | None, began: float, running_at_start: bool) -> bool:
    """An exit after the wait began: the container was running then, or has started since, and is not now."""
    running = status in ("running", "paused", "restarting")
    return not running and (running_at_start or (started_at or 0) >= began)


def wait_done(condition: str, status: str | None, started_at: float | None, began: float,
              running_at_start: bool) -> bool:
    """Whether a wait registered at `began` is over, given the container's status now (None: removed)."""
    if status is None:
        return True
    if condition == "removed":
        return False
    if condition == "not-running":
        return status not in ("running", "paused", "restarting")
    return exit_seen(status, started_at, began, running_at_start)


def removal_ready(status: str, started_at: float | None, began: float, running_at_start: bool) -> bool:
    """For condition=removed: the exit code is known (it exited since, or had exited before the wait)."""
    return exit_seen(status, started_at, began, running_at_start) or status in ("exited", "dead")
