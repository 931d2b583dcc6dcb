"""Wake waiters when a container exits: inotify on `<root>/exits`, where conmon writes exit codes.

`docker run` waits for its container on one connection while the output
streams on another; polling the exit file would add its period to every run.
One thread reads inotify events and bumps a generation counter under a
condition variable; waiters check their condition, then sleep until the
generation changes (or a fallback timeout passes, so nothing depends on
inotify alone: without it the waits simply poll).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import threading
from pathlib import Path

log = logging.getLogger("vessel.api")

IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x8, 0x80, 0x100, 0x200


class ExitWatch:
    def __init__(self, exit_dir: Path) -> None:
        self.exit_dir = Path(exit_dir)
        self.cond = threading.Condition()
        self.generation = 0
        self.fd = -1

    def start(self, stopping: threading.Event) -> bool:
        """Start watching; False (and waits fall back to polling) if inotify is unavailable."""
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
            self.exit_dir.mkdir(parents=True, exist_ok=True)
            wd = libc.inotify_add_watch(fd, os.fsencode(self.exit_dir), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)
            if wd < 0:
                err = ctypes.get_errno()
                os.close(fd)
                raise OSError(err, f"inotify_add_watch {self.exit_dir}")
        except (OSError, AttributeError) as err:
            log.warning("no inotify on %s (%s): container exits are noticed by polling", self.exit_dir, err)
            return False
        self.fd = fd
        threading.Thread(target=self._run, args=(stopping,), name="exit watch", daemon=True).start()
        return True

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            ready, _, _ = select.select([self.fd], [], [], 1.0)
            if not ready:
                continue
            try:
                while os.read(self.fd, 65536):
                    pass
            except OSError as err:
                if err.errno != errno.EAGAIN:
                    log.warning("exit watch stopped: %s", err)
                    return
            self.poke()

    def poke(self) -> None:
        """Something changed (an exit file, or the daemon removed a container): wake every waiter."""
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def wait_change(self, seen: int, timeout: float) -> int:
        """Sleep until the generation moves past `seen` or `timeout` passes; the generation now."""
        with self.cond:
            if self.generation == seen:
                self.cond.wait(timeout)
            return self.generation
