"""The machine table: one numpy row per machine, updated in place.

Columns are stored dimension-major (shape ``(d, n)``) so that a test over
one resource touches contiguous memory.  Integer columns (capacity, free)
are the truth; the float columns the policies score with (normalised free
sums, squares, weighted free) are re-derived from the integers of the one
machine that changed on every place and remove, so they never drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from vessel.errors import Conflict, InvalidArgument, NotFound
from vessel.placement.model import Constraints, Entitlement, Machine, MachineState

STATE_CODES = {s: i for i, s in enumerate(MachineState)}
_HOSTING = np.array([s.can_host() for s in MachineState], dtype=bool)
UNLIMITED = np.iinfo(np.int64).max // 4


@dataclass(slots=True)
class Task:
    """A placed task, as the table remembers it."""

    id: str
    index: int
    size: np.ndarray
    job: str | None
    entitlement: str | None
    spread_key: str | None = None


@dataclass(slots=True)
class JobState:
    """Where one job's tasks are: per machine, and per domain of each spread key."""

    per_machine: dict[int, int] = field(default_factory=dict)
    per_domain: dict[str, np.ndarray] = field(default_factory=dict)
    tasks: int = 0


@dataclass(slots=True)
class LabelColumn:
    """One label key: a code per machine (-1 = label missing) and its vocabulary."""

    codes: np.ndarray
    vocab: dict[str, int]
    values: list[str]


class MachineTable:
    """Mutable state of a cluster: machines, placed tasks, quotas in use."""

    def __init__(self, machines: Sequence[Machine], entitlements: Iterable[Entitlement] = (),
                 dims: Sequence[str] | None = None) -> None:
        if not machines:
            raise InvalidArgument("the machine table is empty", hint="give at least one machine")
        names = [m.name for m in machines]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise Conflict(f"machine name {dup!r} appears twice")
        if dims is None:
            seen: dict[str, None] = {}
            for m in machines:
                seen.update(dict.fromkeys(m.capacity))
            dims = list(seen)
        self.dims: tuple[str, ...] = tuple(dims)
        self.dim_index = {d: i for i, d in enumerate(self.dims)}
        self.names = names
        self.index = {n: i for i, n in enumerate(names)}
        n, d = len(machines), len(self.dims)
        self.n = n
        self.cap = np.zeros((d, n), dtype=np.int64)
        for j, m in enumerate(machines):
            for dim, amount in m.capacity.items():
                if dim not in self.dim_index:
                    raise InvalidArgument(f"machine {m.name!r} has resource {dim!r} outside dims {self.dims}")
                self.cap[self.dim_index[dim], j] = amount
        self.free = self.cap.copy()
        capf = self.cap.astype(np.float64)
        self.inv_cap = np.divide(1.0, capf, out=np.zeros_like(capf), where=capf > 0)
        self.inv_cap2 = self.inv_cap * self.inv_cap
        # One machine shape for all (the common case): size-only terms of the
        # policies' costs are then scalars instead of a product over all machines.
        self.uniform = bool((self.cap == self.cap[:, :1]).all())
        self.ntasks = np.zeros(n, dtype=np.int64)
        self.used_machines = 0
        self.state = np.array([STATE_CODES[m.state] for m in machines], dtype=np.int8)
        self.entitlements: dict[str, Entitlement] = {}
        self.ent_code: dict[str, int] = {}
        self.quota: dict[str, np.ndarray] = {}
        self.ent_used: dict[str, np.ndarray] = {}
        for e in entitlements:
            self.add_entitlement(e)
        self.owner = np.full(n, -1, dtype=np.int32)
        for j, m in enumerate(machines):
            if m.entitlement:
                self.owner[j] = self._code_for(m.entitlement)
        self.labels: dict[str, LabelColumn] = {}
        for j, m in enumerate(machines):
            for key, value in m.labels.items():
                col = self.labels.get(key) or self._new_label(key)
                code = col.vocab.setdefault(value, len(col.values))
                if code == len(col.values):
                    col.values.append(value)
                col.codes[j] = code
        self.tasks: dict[str, Task] = {}
        self.on_machine: list[dict[str, None]] = [{} for _ in range(n)]   # insertion-ordered sets
        self.jobs: dict[str, JobState] = {}
        self.demand = np.zeros(d, dtype=np.int64)
        # Float columns the policies score with (see module docstring).
        self.free_norm_sum = np.zeros(n)   # sum_d free/cap        (L1 of free, normalised)
        self.free_sq_sum = np.zeros(n)     # sum_d (free/cap)^2    (squared L2)
        self.weighted_free = np.zeros((d, n))  # free/cap^2, so s @ weighted_free = sum s/cap*free/cap
        self._refresh_all()
        self._masks: dict[tuple, np.ndarray] = {}
        self.version = 0

    # ----------------------------------------------------------------- setup
    def _new_label(self, key: str) -> LabelColumn:
        col = LabelColumn(np.full(self.n, -1, dtype=np.int32), {}, [])
        self.labels[key] = col
        return col

    def _code_for(self, name: str) -> int:
        if name not in self.ent_code:
            self.ent_code[name] = len(self.ent_code)
        return self.ent_code[name]

    def add_entitlement(self, ent: Entitlement) -> None:
        """Register (or replace the quota of) an entitlement."""
        for dim in ent.quota:
            if dim not in self.dim_index:
                raise InvalidArgument(f"entitlement {ent.name!r}: quota on unknown resource {dim!r}",
                                      hint=f"known resources: {', '.join(self.dims)}")
        self._code_for(ent.name)
        self.entitlements[ent.name] = ent
        q = np.full(len(self.dims), UNLIMITED, dtype=np.int64)
        for dim, amount in ent.quota.items():
            q[self.dim_index[dim]] = amount
        self.quota[ent.name] = q
        self.ent_used.setdefault(ent.name, np.zeros(len(self.dims), dtype=np.int64))

    def _refresh_all(self) -> None:
        fn = self.free * self.inv_cap
        self.free_norm_sum[:] = fn.sum(axis=0)
        self.free_sq_sum[:] = (fn * fn).sum(axis=0)
        self.weighted_free[:] = self.free * self.inv_cap2

    def _refresh(self, j: int) -> None:
        free = self.free[:, j]
        fn = free * self.inv_cap[:, j]
        self.free_norm_sum[j] = fn.sum()
        self.free_sq_sum[j] = fn @ fn
        self.weighted_free[:, j] = free * self.inv_cap2[:, j]

    # ------------------------------------------------------------ conversion
    def vector(self, size: Mapping[str, int], what: str) -> np.ndarray:
        """A request's size as a vector over the table's dims."""
        vec = np.zeros(len(self.dims), dtype=np.int64)
        for dim, amount in size.items():
            i = self.dim_index.get(dim)
            if i is None:
                if amount:
                    raise InvalidArgument(f"{what} asks for {amount} of {dim!r}, which no machine has",
                                          hint=f"known resources: {', '.join(self.dims)}")
                continue
            vec[i] = amount
        return vec

    def machine_index(self, name: str) -> int:
        try:
            return self.index[name]
        except KeyError:
            raise NotFound(f"machine {name!r} is not in the table") from None

    # ----------------------------------------------------------- base masks
    def hosting_mask(self, entitlement: str | None) -> np.ndarray:
        """Machines whose state lets this entitlement's tasks in (cached)."""
        key = ("host", entitlement)
        mask = self._masks.get(key)
        if mask is None:
            mask = _HOSTING[self.state] & (self.owner == -1)
            code = self.ent_code.get(entitlement) if entitlement else None
            if code is not None:
                mask |= _HOSTING[self.state] & (self.owner == code)
            self._masks[key] = mask
        return mask

    def label_mask(self, labels: Mapping[str, tuple[str, ...]]) -> np.ndarray:
        """Machines whose labels satisfy every (key, allowed values) pair (cached)."""
        key = ("labels", tuple(sorted(labels.items())))
        mask = self._masks.get(key)
        if mask is None:
            mask = np.ones(self.n, dtype=bool)
            for lkey, allowed in labels.items():
                col = self.labels.get(lkey)
                if col is None:
                    mask[:] = False
                    break
                ok = np.zeros(len(col.values) + 1, dtype=bool)   # last slot: label missing (-1)
                for v in allowed:
                    if v in col.vocab:
                        ok[col.vocab[v]] = True
                mask &= ok[col.codes]
            self._masks[key] = mask
        return mask

    # -------------------------------------------------------- state changes
    def set_state(self, name: str, state: MachineState, entitlement: str | None = None) -> None:
        """Move a machine to a state; ASSIGNED needs the owning entitlement.

        Tasks already on the machine stay (the caller evicts them if it wants).
        """
        j = self.machine_index(name)
        if state is MachineState.ASSIGNED:
            if not entitlement:
                raise InvalidArgument(f"assigning machine {name!r} needs an entitlement")
            self.owner[j] = self._code_for(entitlement)
        elif state is MachineState.FREE:
            self.owner[j] = -1
        elif entitlement:
            self.owner[j] = self._code_for(entitlement)
        self.state[j] = STATE_CODES[state]
        self._masks.clear()
        self.version += 1

    # ---------------------------------------------------------- commit/undo
    def job(self, name: str) -> JobState:
        js = self.jobs.get(name)
        if js is None:
            js = self.jobs[name] = JobState()
        return js

    def domain_counts(self, job: str, key: str) -> np.ndarray:
        """How many of the job's tasks sit in each value of label ``key``."""
        col = self.labels.get(key)
        js = self.jobs.get(job)
        if js is None:   # no task yet: nothing to track, and no state to leak
            return np.zeros(len(col.values) if col else 0, dtype=np.int64)
        counts = js.per_domain.get(key)
        if counts is None:
            counts = np.zeros(len(col.values) if col else 0, dtype=np.int64)
            if col is not None:
                for j, c in js.per_machine.items():
                    if col.codes[j] >= 0:
                        counts[col.codes[j]] += c
            js.per_domain[key] = counts
        return counts

    def commit(self, task_id: str, j: int, size: np.ndarray, job: str | None,
               entitlement: str | None, constraints: Constraints) -> Task:
        """Record a task on machine j.  The caller has checked feasibility."""
        if task_id in self.tasks:
            raise Conflict(f"task {task_id!r} is already placed on {self.names[self.tasks[task_id].index]!r}")
        self.free[:, j] -= size
        self._refresh(j)
        if self.ntasks[j] == 0:
            self.used_machines += 1
        self.ntasks[j] += 1
        self.demand += size
        if entitlement is not None:
            used = self.ent_used.get(entitlement)
            if used is None:
                used = self.ent_used[entitlement] = np.zeros(len(self.dims), dtype=np.int64)
            used += size
        task = Task(task_id, j, size, job, entitlement)
        if job is not None:
            js = self.job(job)
            if constraints.spread is not None:
                self.domain_counts(job, constraints.spread.key)   # start tracking before counting
            js.per_machine[j] = js.per_machine.get(j, 0) + 1
            js.tasks += 1
            for key, counts in js.per_domain.items():
                code = self.labels[key].codes[j] if key in self.labels else -1
                if code >= 0:
                    counts[code] += 1
        self.tasks[task_id] = task
        self.on_machine[j][task_id] = None
        self.version += 1
        return task

    def release(self, task_id: str) -> Task:
        """Forget a task and give its resources back, exactly."""
        task = self.tasks.pop(task_id, None)
        if task is None:
            raise NotFound(f"task {task_id!r} is not placed")
        j = task.index
        del self.on_machine[j][task_id]
        self.free[:, j] += task.size
        self._refresh(j)
        self.ntasks[j] -= 1
        if self.ntasks[j] == 0:
            self.used_machines -= 1
        self.demand -= task.size
        if task.entitlement is not None:
            self.ent_used[task.entitlement] -= task.size
        if task.job is not None:
            js = self.jobs[task.job]
            left = js.per_machine[j] - 1
            if left:
                js.per_machine[j] = left
            else:
                del js.per_machine[j]
            js.tasks -= 1
            for key, counts in js.per_domain.items():
                code = self.labels[key].codes[j] if key in self.labels else -1
                if code >= 0:
                    counts[code] -= 1
            if js.tasks == 0:
                del self.jobs[task.job]
        self.version += 1
        return task

    # ------------------------------------------------------------- queries
    def tasks_on(self, name: str) -> list[str]:
        return list(self.on_machine[self.machine_index(name)])

    def machine_free(self, name: str) -> dict[str, int]:
        j = self.machine_index(name)
        return {d: int(self.free[i, j]) for i, d in enumerate(self.dims)}

    def quota_overrun(self, entitlement: str | None, size: np.ndarray) -> str | None:
        """Why this size would break the entitlement's quota, or None if it fits."""
        if entitlement is None:
            return None
        quota = self.quota.get(entitlement)
        if quota is None:
            return f"entitlement {entitlement!r} is not registered"
        after = self.ent_used[entitlement] + size
        over = np.flatnonzero(after > quota)
        if over.size == 0:
            return None
        i = int(over[0])
        return (f"quota: entitlement {entitlement!r} would hold {int(after[i])} {self.dims[i]}, "
                f"over its quota of {int(quota[i])}")
