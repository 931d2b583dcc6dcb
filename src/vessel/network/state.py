"""The network layer's state on disk: ``<root>/network/state.json`` under a file lock.

Writers take ``<root>/network/lock`` (``flock``, exclusive) for a whole
read-modify-write, including the kernel changes that go with it, so two
vessel processes never interleave.  The file is replaced atomically
(write a temporary file, then ``rename``), so readers without the lock (the
DNS resolver processes) always see a complete snapshot.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vessel.errors import InvalidArgument, SystemFailure
from vessel.network.model import State
from vessel.oci._codec import decode, encode

STATE_FILE = "state.json"
LOCK_FILE = "lock"


def load(path: Path) -> State:
    """Read a state file; a missing file is the empty state."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return State()
    except OSError as err:
        raise SystemFailure.from_os_error(f"reading network state {path}", err, path=str(path)) from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InvalidArgument(f"network state {path} is not valid JSON: {err}", path=str(path),
                              hint="restore it from a backup or remove it and run reconcile") from None
    return decode(State, data, str(path))


class Transaction:
    """The state as read under the lock; assign ``state`` to have it written back."""

    def __init__(self, state: State) -> None:
        self.original = state
        self.state = state


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.path = directory / STATE_FILE

    def read(self) -> State:
        return load(self.path)

    def _write(self, state: State) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(encode(state), indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.path)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Exclusive read-modify-write; written back only when the body succeeds and changed it."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise SystemFailure.from_os_error(f"opening network state lock in {self.dir}", err,
                                              path=str(self.dir), hint="is --root writable?") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            txn = Transaction(self.read())
            yield txn
            if txn.state != txn.original:
                self._write(txn.state)
        finally:
            os.close(fd)
