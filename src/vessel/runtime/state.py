"""The runtime's per-container state directory, and the status it implies.

<root>/<id>/state.json   what `create` recorded (pid, its start time, bundle, cgroup paths...)
<root>/<id>/config.json  the config the container was created from (hooks, exec defaults)
<root>/<id>/exec.fifo    exists between create and start; init blocks opening it

Status is derived, never stored: the pid is alive (same start time, not a
zombie) -> created if exec.fifo still exists, paused if frozen, else running;
otherwise stopped.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vessel.errors import Conflict, InvalidArgument, NotFound

OCI_VERSION = "1.2.0"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$")


@dataclass(frozen=True)
class ContainerState:
    id: str
    bundle: str
    rootfs: str
    pid: int = 0
    pid_start: int = 0  # /proc/<pid>/stat field 22, guards against pid reuse
    created: str = ""
    owner: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    cgroup_paths: dict[str, str] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)  # type -> path joined, or "" for new
    creating: bool = False

    def to_oci(self, status: str) -> dict:
        out = {"ociVersion": OCI_VERSION, "id": self.id, "status": status, "bundle": self.bundle}
        if status in ("created", "running", "paused") or self.pid:
            out["pid"] = self.pid if status != "stopped" else 0
        out["rootfs"] = self.rootfs
        out["created"] = self.created
        out["owner"] = self.owner
        if self.annotations:
            out["annotations"] = self.annotations
        return out


def check_id(container_id: str) -> None:
    if not _ID.match(container_id) or container_id in (".", ".."):
        raise InvalidArgument(f"invalid container id {container_id!r}",
                              hint="use letters, digits, '_', '.', '+' and '-' (up to 1024 characters)")


class StateDir:
    """One container's directory under the runtime root."""

    def __init__(self, root: Path, container_id: str) -> None:
        check_id(container_id)
        self.id = container_id
        self.path = root / container_id
        self.state_file = self.path / "state.json"
        self.config_file = self.path / "config.json"
        self.fifo = self.path / "exec.fifo"

    def make(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
        try:
            self.path.mkdir(mode=0o711)
        except FileExistsError:
            raise Conflict(f"container with id {self.id!r} already exists", id=self.id,
                           hint=f"delete it first: vessel-runtime delete {self.id}") from None

    def exists(self) -> bool:
        return self.state_file.exists()

    def load(self) -> ContainerState:
        try:
            data = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            raise NotFound(f"container {self.id!r} does not exist", id=self.id) from None
        return ContainerState(**data)

    def save(self, state: ContainerState) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state)))
        os.replace(tmp, self.state_file)

    def remove(self) -> None:
        if not self.path.exists():
            return
        for child in self.path.iterdir():
            child.unlink()
        self.path.rmdir()


def process_start_time(pid: int) -> int | None:
    """Start time of pid (clock ticks since boot), or None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def is_alive(state: ContainerState) -> bool:
    return state.pid > 0 and process_start_time(state.pid) == state.pid_start


def status(sd: StateDir, state: ContainerState, frozen: bool = False) -> str:
    if state.creating:
        return "creating" if is_alive(state) or state.pid == 0 else "stopped"
    if not is_alive(state):
        return "stopped"
    if sd.fifo.exists():
        return "created"
    return "paused" if frozen else "running"
