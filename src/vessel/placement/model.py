"""The placement engine's vocabulary: machines, requests, constraints, decisions.

All sizes and capacities are non-negative integers in the resource's base
unit (millicores, MiB, GiB, counts...).  Integers keep the bookkeeping exact:
placing and then removing a task restores a machine's free capacity to the
very same value, which floats cannot promise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from vessel.errors import InvalidArgument


class MachineState(enum.Enum):
    """Where a machine stands.  Only FREE and ASSIGNED machines take tasks."""

    FREE = "free"                # in the shared pool: any request may use it
    ASSIGNED = "assigned"        # owned by one entitlement: only its requests
    MAINTENANCE = "maintenance"  # drained for maintenance: takes nothing new
    FAILED = "failed"            # down: takes nothing new

    def can_host(self) -> bool:
        return self in (MachineState.FREE, MachineState.ASSIGNED)


def _frozen_map(value: Mapping | None) -> Mapping:
    return MappingProxyType(dict(value or {}))


def _check_amounts(what: str, name: str, amounts: Mapping[str, int]) -> None:
    for dim, amount in amounts.items():
        if not isinstance(dim, str) or not dim:
            raise InvalidArgument(f"{what} {name!r}: resource name {dim!r} is not a non-empty string")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise InvalidArgument(
                f"{what} {name!r}: {dim}={amount!r} is not a non-negative integer",
                hint="express resources in integer base units (millicores, MiB, GiB)")


@dataclass(frozen=True, slots=True)
class Machine:
    """One server: its capacity per resource, its labels, its state."""

    name: str
    capacity: Mapping[str, int]
    labels: Mapping[str, str] = field(default_factory=dict)
    state: MachineState = MachineState.FREE
    entitlement: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidArgument("machine name is empty")
        _check_amounts("machine", self.name, self.capacity)
        object.__setattr__(self, "capacity", _frozen_map(self.capacity))
        object.__setattr__(self, "labels", _frozen_map(self.labels))
        if self.state is MachineState.ASSIGNED and not self.entitlement:
            raise InvalidArgument(f"machine {self.name!r} is 'assigned' but names no entitlement")
        if self.state is MachineState.FREE and self.entitlement:
            raise InvalidArgument(
                f"machine {self.name!r} is 'free' but names entitlement {self.entitlement!r}",
                hint="use state=MachineState.ASSIGNED for a machine owned by an entitlement")


@dataclass(frozen=True, slots=True)
class Entitlement:
    """A quota owner (Twine): the most its tasks may hold, per resource.

    A resource missing from ``quota`` is unlimited.
    """

    name: str
    quota: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidArgument("entitlement name is empty")
        _check_amounts("entitlement", self.name, self.quota)
        object.__setattr__(self, "quota", _frozen_map(self.quota))


@dataclass(frozen=True, slots=True)
class Spread:
    """Spread a job's tasks over the values of a label (zone, rack...).

    Hard constraint in the style of topology spread: placing a task in
    domain D is allowed only if, afterwards, D holds at most ``max_skew``
    more of the job's tasks than the least-loaded domain.
    """

    key: str
    max_skew: int = 1

    def __post_init__(self) -> None:
        if not self.key:
            raise InvalidArgument("spread key is empty", hint="use a label name such as 'zone' or 'rack'")
        if self.max_skew < 1:
            raise InvalidArgument(f"spread over {self.key!r}: max_skew={self.max_skew} must be >= 1")


@dataclass(frozen=True, slots=True)
class Constraints:
    """Hard constraints of a request.

    labels: each key must have one of the listed values on the machine.
    spread: spread the job's tasks over a label's values.
    anti_affinity: no two tasks of the job on one machine (same as max_per_machine=1).
    max_per_machine: at most K tasks of the job on one machine.
    """

    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    spread: Spread | None = None
    anti_affinity: bool = False
    max_per_machine: int | None = None

    def __post_init__(self) -> None:
        norm = {}
        for key, values in dict(self.labels).items():
            vals = (values,) if isinstance(values, str) else tuple(values)
            if not vals:
                raise InvalidArgument(f"label constraint {key!r} lists no value")
            norm[key] = vals
        object.__setattr__(self, "labels", _frozen_map(norm))
        if self.max_per_machine is not None and self.max_per_machine < 1:
            raise InvalidArgument(f"max_per_machine={self.max_per_machine} must be >= 1")

    @property
    def per_machine_limit(self) -> int | None:
        """The effective 'at most K per machine' (anti-affinity means K=1)."""
        if self.anti_affinity:
            return 1 if self.max_per_machine is None else min(1, self.max_per_machine)
        return self.max_per_machine

    @property
    def needs_job(self) -> bool:
        return self.spread is not None or self.per_machine_limit is not None


NO_CONSTRAINTS = Constraints()


@dataclass(frozen=True, slots=True)
class Request:
    """A task or VM to place."""

    id: str
    size: Mapping[str, int]
    job: str | None = None
    entitlement: str | None = None
    constraints: Constraints = NO_CONSTRAINTS
    priority: int = 0
    policy: str | None = None   # overrides the job's and the placer's policy

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidArgument("request id is empty")
        _check_amounts("request", self.id, self.size)
        object.__setattr__(self, "size", _frozen_map(self.size))
        if self.constraints.needs_job and not self.job:
            raise InvalidArgument(
                f"request {self.id!r} has job-level constraints but no job",
                hint="set job= so spread/anti-affinity know which tasks belong together")


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a request went where it went (or nowhere), as Nomad's AllocMetric.

    evaluated: machines looked at.
    filtered: machines ruled out by a non-capacity reason, counted per
        reason ("state: failed", "label: zone", "anti-affinity"...).
    exhausted: machines ruled out for capacity, counted per first
        dimension found short.
    feasible: machines that could take the request.
    Every evaluated machine is counted exactly once, so
    evaluated == feasible + sum(filtered) + sum(exhausted).
    scores: the best few (machine, score) pairs, best first; lower scores
        are better for every policy.
    """

    policy: str
    evaluated: int
    feasible: int
    filtered: Mapping[str, int]
    exhausted: Mapping[str, int]
    scores: tuple[tuple[str, float], ...] = ()
    refused: str | None = None

    def summary(self) -> str:
        parts = [f"policy={self.policy}", f"evaluated={self.evaluated}", f"feasible={self.feasible}"]
        parts += [f"filtered[{k}]={v}" for k, v in sorted(self.filtered.items())]
        parts += [f"exhausted[{k}]={v}" for k, v in sorted(self.exhausted.items())]
        if self.scores:
            parts.append("top=" + ",".join(f"{m}:{s:.4g}" for m, s in self.scores))
        if self.refused:
            parts.append(f"refused: {self.refused}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one placement: a machine, or a reason there is none."""

    request_id: str
    machine: str | None
    score: float | None = None
    reason: str | None = None
    explanation: Explanation | None = None

    @property
    def placed(self) -> bool:
        return self.machine is not None
