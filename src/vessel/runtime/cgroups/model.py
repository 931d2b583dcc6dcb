"""The data a cgroup plan is made of: writes, warnings, and the target they aim at."""

from __future__ import annotations

from dataclasses import dataclass, field

from vessel.runtime.cgroups.layout import UNIFIED


@dataclass(frozen=True)
class Write:
    """Write `value` to `directory`/`file`.

    alternatives: (file, value) pairs tried in order when `file` does not exist
                  (e.g. blkio.bfq.weight on kernels without CFQ's blkio.weight).
    if_missing:   None: a missing file is an error; "": skip silently; text: skip with that warning.
    """

    directory: str
    file: str
    value: str
    alternatives: tuple[tuple[str, str], ...] = ()
    if_missing: str | None = None

    @property
    def path(self) -> str:
        return f"{self.directory}/{self.file}"


@dataclass(frozen=True)
class Plan:
    writes: tuple[Write, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Current:
    """Values read from a live cgroup that decide the order of writes (None: unlimited or unknown)."""

    memory_limit: int | None = None
    memsw_limit: int | None = None


@dataclass(frozen=True)
class Target:
    """Where the writes go: the container's directories and what each hierarchy can do there.

    paths:               v1 controller or "unified" -> directory (as Manager.paths).
    unified_controllers: controllers usable in the unified directory.
    memsw:               v1 swap accounting is available.
    current:             live values, for ordering (default: a fresh cgroup, everything unlimited).
    """

    paths: dict[str, str]
    unified_controllers: frozenset[str] = frozenset()
    memsw: bool = False
    current: Current = field(default_factory=Current)

    def locate(self, controller: str) -> tuple[str, int] | None:
        """(directory, cgroup version) handling `controller`, or None when it is missing."""
        d = self.paths.get(controller)
        if d is not None and controller != UNIFIED:
            return d, 1
        u = self.paths.get(UNIFIED)
        if u is not None and controller in self.unified_controllers:
            return u, 2
        return None

    @property
    def v1_host(self) -> bool:
        """True when the host has no unified hierarchy at all."""
        return UNIFIED not in self.paths


class Collector:
    """Accumulates writes and warnings while a plan is made."""

    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.warnings: list[str] = []

    def write(self, directory: str, file: str, value: object, *, alternatives: tuple[tuple[str, str], ...] = (),
              if_missing: str | None = None) -> None:
        self.writes.append(Write(directory, file, str(value), alternatives, if_missing))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def missing(self, controller: str, what: str) -> None:
        self.warn(f"cgroup controller {controller!r} is not available on this host: {what} ignored")

    def plan(self) -> Plan:
        return Plan(tuple(self.writes), tuple(self.warnings))
