"""Feasibility: which machines may take a request, and why the others may not.

The fast path (`feasible_mask`) builds one boolean vector over the machine
table.  The explaining path (`explain_filters`) applies the same tests one
after the other and counts, for every machine ruled out, the first test it
failed, as Nomad's AllocMetric does (filtered per constraint, exhausted per
dimension).  Both use the same component masks, so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vessel.placement.model import Constraints, MachineState
from vessel.placement.table import STATE_CODES, MachineTable


@dataclass(slots=True)
class Compiled:
    """A request turned into vectors over one table's dims (internal form)."""

    id: str
    size: np.ndarray
    job: str | None = None
    entitlement: str | None = None
    constraints: Constraints = Constraints()
    priority: int = 0
    policy: str | None = None


def limit_reason(constraints: Constraints) -> str:
    return "anti-affinity" if constraints.anti_affinity else "max-per-machine"


def _limit_bad(table: MachineTable, req: Compiled) -> np.ndarray | None:
    """Indices of machines already holding the job's K tasks (None: no limit)."""
    limit = req.constraints.per_machine_limit
    if limit is None or req.job is None:
        return None
    js = table.jobs.get(req.job)
    if js is None:
        return np.empty(0, dtype=np.int64)
    return np.fromiter((j for j, c in js.per_machine.items() if c >= limit), dtype=np.int64)


def _spread_ok(table: MachineTable, req: Compiled, base: np.ndarray) -> np.ndarray | None:
    """Per-machine mask of domains where one more task keeps the skew allowed."""
    spread = req.constraints.spread
    if spread is None or req.job is None:
        return None
    col = table.labels.get(spread.key)
    if col is None:
        return np.zeros(table.n, dtype=bool)
    cache_key = ("domains", req.entitlement, tuple(sorted(req.constraints.labels.items())), spread.key)
    present = table._masks.get(cache_key)
    if present is None:
        codes = col.codes[base & (col.codes >= 0)]
        present = np.bincount(codes, minlength=len(col.values)) > 0
        table._masks[cache_key] = present
    counts = table.domain_counts(req.job, spread.key)
    ok = np.zeros(len(col.values) + 1, dtype=bool)   # last slot: label missing
    if present.any():
        low = counts[present].min()
        ok[:-1] = present & (counts + 1 - low <= spread.max_skew)
    return ok[col.codes]


def _base_mask(table: MachineTable, req: Compiled) -> np.ndarray:
    base = table.hosting_mask(req.entitlement)
    if req.constraints.labels:
        base = base & table.label_mask(req.constraints.labels)
    return base


def feasible_mask(table: MachineTable, req: Compiled, exclude: np.ndarray | None = None) -> np.ndarray:
    """Boolean vector: True where the request fits and every constraint holds."""
    size = req.size.tolist()
    free = table.free
    mask = None
    for i, amount in enumerate(size):
        if amount:
            ok = free[i] >= amount
            if mask is None:
                mask = ok
            else:
                mask &= ok
    base = _base_mask(table, req)
    if mask is None:
        mask = base.copy()
    else:
        mask &= base
    if exclude is not None:
        mask &= ~exclude
    bad = _limit_bad(table, req)
    if bad is not None and bad.size:
        mask[bad] = False
    spread_ok = _spread_ok(table, req, base)
    if spread_ok is not None:
        mask &= spread_ok
    return mask


def explain_filters(table: MachineTable, req: Compiled, exclude: np.ndarray | None = None
                    ) -> tuple[np.ndarray, dict[str, int], dict[str, int]]:
    """The feasible mask, plus machines ruled out counted per first failed test."""
    alive = np.ones(table.n, dtype=bool)
    filtered: dict[str, int] = {}

    def cut(bad: np.ndarray, reason: str, into: dict[str, int]) -> None:
        hit = alive & bad
        count = int(hit.sum())
        if count:
            into[reason] = into.get(reason, 0) + count
            alive[hit] = False

    for state in MachineState:
        if not state.can_host():
            cut(table.state == STATE_CODES[state], f"state: {state.value}", filtered)
    code = table.ent_code.get(req.entitlement, -2) if req.entitlement else -2
    cut((table.owner != -1) & (table.owner != code), "entitlement: owned by another", filtered)
    for key, allowed in req.constraints.labels.items():
        cut(~table.label_mask({key: allowed}), f"label: {key}", filtered)
    if exclude is not None:
        cut(exclude, "excluded", filtered)
    bad = _limit_bad(table, req)
    if bad is not None and bad.size:
        limit_mask = np.zeros(table.n, dtype=bool)
        limit_mask[bad] = True
        cut(limit_mask, limit_reason(req.constraints), filtered)
    spread_ok = _spread_ok(table, req, _base_mask(table, req))
    if spread_ok is not None:
        cut(~spread_ok, f"spread: {req.constraints.spread.key}", filtered)
    exhausted: dict[str, int] = {}
    for i in np.flatnonzero(req.size):
        cut(table.free[i] < req.size[i], table.dims[i], exhausted)
    return alive, filtered, exhausted
