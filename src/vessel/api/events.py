"""Engine events (`GET /events`): recorded by the daemon, kept in an append-only log under the root.

Where events come from (the choice documented in docs/api.md):
  * the daemon's own actions publish them as they happen (create, start,
    kill, stop, attach, exec_create, pull, tag, network create, ...);
  * a watcher thread notices what happened outside the daemon: a container
    exiting under conmon (`die`, with its exit code), or containers created,
    started or removed by the daemonless `vessel` CLI or by conmon's exit
    command (`--rm`).  It compares the engine's table with what it last knew,
    so an action the daemon already published is not reported twice.

Every event is appended to `<root>/events.log` (JSON lines, rotated at 8 MiB
to `events.log.1`), so `since`/`until` reach back past a daemon restart.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vessel.api.filters import Filters

log = logging.getLogger("vessel.api")

LOG_NAME = "events.log"
MAX_LOG = 8 << 20
WATCH_INTERVAL = 0.2
TYPES = ("container", "image", "volume", "network", "daemon", "plugin", "node", "service", "secret", "config",
         "builder")


def make_event(kind: str, action: str, actor_id: str, attributes: dict[str, str] | None = None,
               now_ns: int | None = None) -> dict:
    """One event in dockerd's shape (the legacy status/id/from fields for containers and images)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    attrs = {k: str(v) for k, v in (attributes or {}).items()}
    event: dict = {}
    if kind in ("container", "image"):
        event["status"] = action
        event["id"] = actor_id
        if kind == "container" and "image" in attrs:
            event["from"] = attrs["image"]
    event.update({"Type": kind, "Action": action, "Actor": {"ID": actor_id, "Attributes": attrs},
                  "scope": "local", "time": now_ns // 1_000_000_000, "timeNano": now_ns})
    return event


def parse_time(text: str | None, now: float) -> float | None:
    """`since`/`until`: unix seconds (with an optional .nanoseconds part), RFC 3339, or a duration (10m)."""
    if text is None or text == "":
        return None
    from vessel.engine.logs import parse_since

    return parse_since(text, now)


def matches(event: dict, filters: Filters) -> bool:
    attrs = event["Actor"]["Attributes"]
    kind = event["Type"]
    checks = {
        "type": lambda v: kind == v,
        "event": lambda v: event["Action"] == v or event["Action"].split(":")[0] == v,
        "container": lambda v: kind == "container" and (event["Actor"]["ID"].startswith(v) or attrs.get("name") == v),
        "image": lambda v: (kind == "image" and (event["Actor"]["ID"] == v or attrs.get("name") == v))
        or (kind == "container" and attrs.get("image") == v),
        "network": lambda v: kind == "network" and (event["Actor"]["ID"].startswith(v) or attrs.get("name") == v),
        "volume": lambda v: kind == "volume" and event["Actor"]["ID"] == v,
        "label": lambda v: _label_match(attrs, v),
        "scope": lambda v: v == "local",
        "daemon": lambda v: kind == "daemon",
    }
    for key, values in filters.items():
        check = checks.get(key)
        if check is not None and not any(check(v) for v in values):
            return False
    return True


def _label_match(attrs: dict[str, str], spec: str) -> bool:
    key, sep, value = spec.partition("=")
    return key in attrs and (not sep or attrs[key] == value)


def check_filters(filters: Filters) -> None:
    from vessel.errors import InvalidArgument

    allowed = ("type", "event", "container", "image", "network", "volume", "label", "scope", "daemon", "config",
               "node", "plugin", "secret", "service")
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'", field="filters")
    for kind in filters.get("type", []):
        if kind not in TYPES:
            raise InvalidArgument(f"invalid filter 'type={kind}'", field="filters")


class EventBus:
    """Publish, remember (the log file), and fan out to subscribers."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOG_NAME
        self.lock = threading.Lock()
        self.subscribers: list[queue.Queue] = []
        self.known: dict[str, tuple[str, str, str]] = {}  # container id -> (status, name, image)

    def publish(self, kind: str, action: str, actor_id: str, attributes: dict[str, str] | None = None) -> dict:
        event = make_event(kind, action, actor_id, attributes)
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with self.lock:
            self._append(line)
            for q in self.subscribers:
                q.put(event)
        return event

    def _append(self, line: str) -> None:
        try:
            if self.path.exists() and self.path.stat().st_size > MAX_LOG:
                os.replace(self.path, self.path.with_name(LOG_NAME + ".1"))
            with open(self.path, "a") as f:
                f.write(line)
        except OSError as err:
            log.warning("cannot record an event in %s: %s", self.path, err)

    def history(self, since: float | None, until: float | None) -> list[dict]:
        out = []
        for path in (self.path.with_name(LOG_NAME + ".1"), self.path):
            try:
                text = path.read_text()
            except OSError:
                continue
            for line in text.splitlines():
                try:
                    event = json.loads(line)
                    t = event["timeNano"] / 1e9
                except (ValueError, KeyError, TypeError):
                    continue
                if (since is None or t >= since) and (until is None or t <= until):
                    out.append(event)
        return out

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=10000)
        with self.lock:
            self.subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self.lock:
            if q in self.subscribers:
                self.subscribers.remove(q)

    # -- containers: publish what changed since we last looked --------------------------------------
    def observe(self, rec, extra: dict[str, str] | None = None) -> None:
        """Compare a container's state with what was last known; publish create/start/die/pause/unpause."""
        with self.lock:
            before = self.known.get(rec.id, (None, "", ""))[0]
            self.known[rec.id] = (rec.status, rec.name, rec.image)
        for action in transitions(before, rec.status):
            attrs = container_attributes(rec)
            if action == "die":
                attrs["exitCode"] = str(rec.exit_code if rec.exit_code is not None else 0)
            attrs.update(extra or {})
            self.publish("container", action, rec.id, attrs)

    def observe_gone(self, cid: str) -> None:
        with self.lock:
            before = self.known.pop(cid, None)
        if before is not None:
            status, name, image = before
            if status in ("running", "paused", "restarting"):
                self.publish("container", "die", cid, {"name": name, "image": image, "exitCode": "137"})
            self.publish("container", "destroy", cid, {"name": name, "image": image})

    def forget_unseen(self, present: set[str]) -> None:
        for cid in [c for c in list(self.known) if c not in present]:
            self.observe_gone(cid)


def transitions(before: str | None, after: str) -> list[str]:
    """The events between two observed statuses of a container (pure)."""
    running = ("running", "restarting")
    if before == after:
        return []
    out = []
    if before is None:
        out.append("create")
        before = "created"
    if after in running and before not in running and before != "paused":
        out.append("start")
    elif after == "paused" and before != "paused":
        if before not in running:
            out.append("start")
        out.append("pause")
    elif after in running and before == "paused":
        out.append("unpause")
    elif after not in running and after != "paused" and (before in running or before == "paused"):
        out.append("die")
    return out


def container_attributes(rec) -> dict[str, str]:
    attrs = {"image": rec.image, "name": rec.name}
    for k, v in (rec.options.get("labels") or {}).items():
        attrs.setdefault(k, v)
    return attrs


@dataclass
class Watcher:
    """Notices container changes made outside the daemon (exits under conmon, the daemonless CLI)."""

    bus: EventBus
    new_engine: Callable[[], object]
    stopping: threading.Event
    exits: object = None  # an ExitWatch: wakes the watcher as soon as conmon writes an exit file
    interval: float = WATCH_INTERVAL

    def signature(self, engine) -> tuple:
        out = []
        for path in (engine.root / "engine.db", engine.root / "engine.db-wal", engine.exit_dir):
            try:
                st = os.stat(path)
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def run(self) -> None:
        engine = self.new_engine()
        try:
            self.sweep(engine, announce=False)
            last = self.signature(engine)
            generation = 0
            while not self.stopping.is_set():
                if self.exits is not None:
                    generation = self.exits.wait_change(generation, self.interval)
                elif self.stopping.wait(self.interval):
                    return
                sig = self.signature(engine)
                if sig != last:
                    last = sig
                    self.sweep(engine, announce=True)
        finally:
            engine.db.close()

    def sweep(self, engine, announce: bool) -> None:
        """Read the table as it is (no reconciling writes: those belong to the requests and conmon's
        exit command); a running row whose exit file is there is reported as exited."""
        import sqlite3

        from vessel.errors import VesselError

        try:
            recs = [observed(engine, r) for r in engine.db.all()]
        except (VesselError, sqlite3.Error) as err:
            log.warning("event watcher: cannot read the containers: %s", err)
            return
        if not announce:
            with self.bus.lock:
                self.bus.known = {r.id: (r.status, r.name, r.image) for r in recs}
            return
        for rec in recs:
            self.bus.observe(rec)
        self.bus.forget_unseen({r.id for r in recs})


def observed(engine, rec):
    from dataclasses import replace

    from vessel.engine import monitor

    if rec.status in ("running", "paused", "restarting"):
        code = monitor.read_exit(engine.exit_dir, rec.id)
        if code is not None:
            return replace(rec, status="exited", exit_code=code)
    return rec


def stream(bus: EventBus, filters: Filters, since: float | None, until: float | None,
           client_gone: Callable[[], bool], clock: Callable[[], float] = time.time) -> Iterator[dict | None]:
    """History since `since`, then live events until `until` (or until the client leaves)."""
    sub = bus.subscribe()
    try:
        last_ns = 0
        if since is not None:
            for event in bus.history(since, until):
                last_ns = max(last_ns, event["timeNano"])
                if matches(event, filters):
                    yield event
        yield None  # the head goes out now, even with nothing to say yet
        while until is None or clock() <= until:
            try:
                event = sub.get(timeout=0.5)
            except queue.Empty:
                yield None
                if client_gone():
                    return
                continue
            if event["timeNano"] <= last_ns:
                continue
            if until is not None and event["timeNano"] / 1e9 > until:
                return
            if matches(event, filters):
                yield event
    finally:
        bus.unsubscribe(sub)
