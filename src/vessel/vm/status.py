"""The VM life cycle as an explicit state machine, and the guest's status-port protocol.

::

    created --start--> running --(process exits)--> exited --start--> running
                         |  ^                          |
                 suspend |  | resume                   +--delete
                         v  |
                       suspended            running --migrate--> (moved to another root)

``state.json`` in the VM folder holds a ``VmState``; whether QEMU still runs is
checked against its pid whenever the state is read.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, replace

from vessel.errors import Conflict


class Status(str, enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    SUSPENDED = "suspended"
    EXITED = "exited"

    def can_start(self) -> bool:
        return self in (Status.CREATED, Status.EXITED)

    def can_suspend(self) -> bool:
        return self is Status.RUNNING

    def can_resume(self) -> bool:
        return self is Status.SUSPENDED

    def can_signal(self) -> bool:
        return self is Status.RUNNING

    def can_migrate(self) -> bool:
        return self is Status.RUNNING

    def can_export(self) -> bool:
        return self in (Status.CREATED, Status.EXITED, Status.SUSPENDED)

    def can_delete(self, force: bool) -> bool:
        return force or self is not Status.RUNNING


def require(vm_id: str, status: Status, allowed: bool, action: str, hint: str | None = None) -> None:
    if not allowed:
        raise Conflict(f"cannot {action} VM {vm_id}: it is {status.value}", hint=hint, vm=vm_id, status=status.value)


@dataclass(frozen=True, slots=True)
class VmState:
    status: Status = Status.CREATED
    pid: int = 0
    exit_code: int | None = None
    error: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    accel: str = ""
    killed_by: int = 0   # signal number when the host ended QEMU itself

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "VmState":
        data = json.loads(text)
        data["status"] = Status(data["status"])
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def update(self, **changes: object) -> "VmState":
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class GuestReport:
    """What the guest's init wrote to the status port (one line per event)."""

    started_pid: int | None = None
    exit_code: int | None = None
    failure: str = ""


def parse_status(text: str) -> GuestReport:
    """Parse the status file: ``started PID``, ``exit CODE``, ``fail MESSAGE`` lines (later wins)."""
    started = code = None
    failure = ""
    for line in text.splitlines():
        verb, _, rest = line.strip().partition(" ")
        if verb == "started" and rest.isdigit():
            started = int(rest)
        elif verb == "exit" and rest.split(" ")[0].lstrip("-").isdigit():
            code = int(rest.split(" ")[0])
        elif verb == "fail":
            failure = rest
    return GuestReport(started, code, failure)


def final_exit_code(report: GuestReport, killed_by: int) -> tuple[int, str]:
    """The exit code the engine reports once QEMU is gone, and an error text if any.

    The guest's own report wins; a VM the host killed exits 128+signal like a
    container; a guest that failed during setup exits 127 (the process never ran);
    a guest that vanished without a word is 255.
    """
    if report.exit_code is not None:
        return report.exit_code, ""
    if killed_by:
        return 128 + killed_by, ""
    if report.failure:
        return 127, f"guest setup failed: {report.failure}"
    return 255, "the guest stopped without reporting an exit code (kernel panic or crash?)"
