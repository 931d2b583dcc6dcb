"""The daemon's shared state and each connection's own view of the engine.

`Daemon` is shared by every connection thread: the root, the event bus, exec
instances, containers waiting for attached clients before they start.  It
holds no Engine: SQLite connections stay in the thread that made them, so
each connection gets its own `Context.engine`, closed with the connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from vessel.api.events import EventBus, Watcher
from vessel.api.exitwatch import ExitWatch


class Daemon:
    def __init__(self, root: Path, *, hosts: tuple[str, ...] = (), clock: Callable[[], float] = time.time) -> None:
        from vessel.api.attach import AttachHub
        from vessel.api.execs import ExecRegistry

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.hosts = hosts
        self.events = EventBus(self.root)
        self.exits = ExitWatch(self.root / "exits")
        self.execs = ExecRegistry()
        self.attaches = AttachHub()
        self.started = clock()
        self.stopping = threading.Event()
        self.df_lock = threading.Lock()
        self.id = _daemon_id(self.root)

    def new_engine(self):
        from vessel.engine.engine import Engine

        return Engine(self.root)

    def start_background(self) -> threading.Thread:
        """The exit watch (inotify) and the event watcher threads."""
        self.exits.start(self.stopping)
        watcher = Watcher(self.events, self.new_engine, self.stopping, self.exits)
        t = threading.Thread(target=watcher.run, name="event watcher", daemon=True)
        t.start()
        return t


def _daemon_id(root: Path) -> str:
    """A stable identity for `docker info` (kept in the root)."""
    path = root / "daemon-id"
    try:
        return path.read_text().strip()
    except OSError:
        import uuid

        ident = str(uuid.uuid4()).upper()
        try:
            path.write_text(ident + "\n")
        except OSError:
            pass
        return ident


class Context:
    """One connection's engine (made on first use) and a way to tell if its client left."""

    def __init__(self, daemon: Daemon, client_gone: Callable[[], bool] = lambda: False) -> None:
        self.daemon = daemon
        self.client_gone = client_gone
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            self._engine = self.daemon.new_engine()
        return self._engine

    @property
    def events(self) -> EventBus:
        return self.daemon.events

    def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            if engine._net is not None:
                engine._net.close()
            engine.db.close()

