"""The engine's state: containers and volumes in SQLite (WAL), safe for concurrent `vessel` commands.

Every mutation is one transaction (`BEGIN IMMEDIATE`), so a CLI killed at any
point leaves either the old or the new row.  Live facts (is the process still
there? what was its exit code?) are reconciled from conmon's exit files by
the engine, not stored by the monitor.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from vessel.errors import Conflict, NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    image TEXT NOT NULL,
    image_id TEXT NOT NULL,
    created REAL NOT NULL,
    options TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    started_at REAL,
    finished_at REAL,
    restart_count INTEGER NOT NULL DEFAULT 0,
    oom_killed INTEGER NOT NULL DEFAULT 0,
    isolation TEXT NOT NULL DEFAULT 'container',
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    anonymous INTEGER NOT NULL DEFAULT 0
);
"""

STATUSES = ("created", "running", "paused", "restarting", "exited", "dead", "removing")


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    name: str
    image: str
    image_id: str
    created: float
    options: dict
    status: str = "created"
    pid: int = 0
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    restart_count: int = 0
    oom_killed: bool = False
    isolation: str = "container"
    extra: dict = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def can_start(self) -> bool:
        return self.status in ("created", "exited", "dead")

    def is_running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


def _row(row: sqlite3.Row) -> ContainerRecord:
    data = dict(row)
    data["options"] = json.loads(data["options"])
    data["extra"] = json.loads(data["extra"])
    data["oom_killed"] = bool(data["oom_killed"])
    return ContainerRecord(**data)


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self):
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # containers
    def insert(self, rec: ContainerRecord) -> None:
        data = asdict(rec)
        data["options"] = json.dumps(rec.options)
        data["extra"] = json.dumps(rec.extra)
        data["oom_killed"] = int(rec.oom_killed)
        cols = ", ".join(data)
        marks = ", ".join(f":{k}" for k in data)
        try:
            with self.tx() as c:
                c.execute(f"INSERT INTO containers ({cols}) VALUES ({marks})", data)
        except sqlite3.IntegrityError:
            raise Conflict(f'the container name "/{rec.name}" is already in use',
                           name=rec.name, hint="remove that container or choose another --name") from None

    def update(self, container_id: str, **fields) -> ContainerRecord:
        if "extra" in fields:
            fields["extra"] = json.dumps(fields["extra"])
        if "options" in fields:
            fields["options"] = json.dumps(fields["options"])
        if "oom_killed" in fields:
            fields["oom_killed"] = int(fields["oom_killed"])
        sets = ", ".join(f"{k} = :{k}" for k in fields)
        try:
            with self.tx() as c:
                cur = c.execute(f"UPDATE containers SET {sets} WHERE id = :id", {**fields, "id": container_id})
        except sqlite3.IntegrityError:
            raise Conflict(f'the container name "/{fields.get("name")}" is already in use') from None
        if cur.rowcount == 0:
            raise NotFound(f"No such container: {container_id}")
        return self.get_by_id(container_id)

    def delete(self, container_id: str) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    def get_by_id(self, container_id: str) -> ContainerRecord:
        row = self.conn.execute("SELECT * FROM containers WHERE id = ?", (container_id,)).fetchone()
        if row is None:
            raise NotFound(f"No such container: {container_id}")
        return _row(row)

    def lookup(self, ref: str) -> ContainerRecord:
        """By full id, name (with or without a leading /), or unique id prefix, as docker resolves them."""
        ref = ref.lstrip("/") if not ref.startswith("/") or len(ref) > 1 else ref
        row = self.conn.execute("SELECT * FROM containers WHERE id = ? OR name = ?", (ref, ref)).fetchone()
        if row is not None:
            return _row(row)
        if ref and all(ch in "0123456789abcdef" for ch in ref):
            rows = self.conn.execute("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",)).fetchall()
            if len(rows) == 1:
                return _row(rows[0])
            if len(rows) > 1:
                raise Conflict(f"multiple containers match the prefix {ref!r}", hint="give more characters of the id")
        raise NotFound(f"No such container: {ref}", hint="see `vessel ps -a` for the containers that exist")

    def all(self) -> list[ContainerRecord]:
        return [_row(r) for r in self.conn.execute("SELECT * FROM containers ORDER BY created DESC")]

    def names(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT name FROM containers")}

    # volumes
    def add_volume(self, name: str, labels: dict | None = None, anonymous: bool = False) -> bool:
        with self.tx() as c:
            cur = c.execute("INSERT OR IGNORE INTO volumes (name, created, labels, anonymous) VALUES (?, ?, ?, ?)",
                            (name, time.time(), json.dumps(labels or {}), int(anonymous)))
        return cur.rowcount == 1

    def volumes(self) -> list[dict]:
        return [dict(r, labels=json.loads(r["labels"])) for r in self.conn.execute("SELECT * FROM volumes ORDER BY name")]

    def get_volume(self, name: str) -> dict:
        row = self.conn.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"get {name}: no such volume")
        return dict(row, labels=json.loads(row["labels"]))

    def remove_volume(self, name: str) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM volumes WHERE name = ?", (name,))


__all__ = ["ContainerRecord", "Database", "STATUSES", "replace"]
