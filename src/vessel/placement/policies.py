"""Placement policies: a cost per feasible machine, lowest cost wins.

Every policy is a cost vector over the whole machine table (vectorised),
masked by feasibility, then argmin; ties go to the lowest machine index, so
decisions are deterministic for a given seed.  Costs use resources
normalised by each machine's capacity, so cpu and memory weigh alike.

=============  ===============================================================
first-fit      lowest machine index (cost = index)
ffd            first-fit, batches sorted by decreasing size
best-fit       least normalised room left after placing: sum_d (free-s)/cap
bfd            best-fit, batches sorted by decreasing size
worst-fit      most room left: -sum_d (free-s)/cap, among machines in use
next-fit       first fit searching from the machine used last, wrapping around
dot-product    Tetris alignment: -sum_d (s/cap)(free/cap), among machines in use
l2-norm        smallest L2 norm of the normalised room left: sum_d ((free-s)/cap)^2
random         uniformly random feasible machine, among machines in use
=============  ===============================================================

"Among machines in use" is the classic bin-packing rule for worst-fit (an
empty machine is opened only when no machine in use fits): without it
worst-fit, dot-product and random spread over the whole cluster, which is
the opposite of consolidation.  Pass ``open_first=False`` to the placer to
get the spreading variants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from vessel.errors import InvalidArgument
from vessel.placement.filters import Compiled
from vessel.placement.table import MachineTable


@dataclass(slots=True)
class PolicyContext:
    """What a policy may remember between decisions (injected RNG, cursor)."""

    rng: np.random.Generator
    cursor: int = 0
    _arange: np.ndarray | None = field(default=None)

    def arange(self, n: int) -> np.ndarray:
        if self._arange is None or self._arange.size != n:
            self._arange = np.arange(n, dtype=np.float64)
        return self._arange


CostFn = Callable[[MachineTable, Compiled, PolicyContext], np.ndarray]


def _first_fit(table: MachineTable, req: Compiled, ctx: PolicyContext) -> np.ndarray:
    return ctx.arange(table.n)


def _next_fit(table: MachineTable, req: Compiled, ctx: PolicyContext) -> np.ndarray:
    return (ctx.arange(table.n) - ctx.cursor) % table.n


def _size_term(table: MachineTable, size: np.ndarray, weights: np.ndarray) -> np.ndarray | float:
    """sum_d size_d * weights_d per machine; a scalar when every machine has one shape."""
    if table.uniform:
        return float(size @ weights[:, 0])
    return size.astype(np.float64) @ weights


def _room_left(table: MachineTable, req: Compiled) -> np.ndarray:
    return table.free_norm_sum - _size_term(table, req.size, table.inv_cap)


def _best_fit(table: MachineTable, req: Compiled, ctx: PolicyContext) -> np.ndarray:
    return _room_left(table, req)


def _worst_fit(table: MachineTable, req: Compiled, ctx: PolicyContext) -> np.ndarray:
    return -_room_left(table, req)


def _dot_product(table: MachineTable, req: Compiled, ctx: PolicyContext) -> np.ndarray:
    return -(req.size.astype(np.float64) @ table.weighted_free)


def _l2_norm(table: MachineTable, req: Compiled, ctx: PolicyContext) -> np.ndarray:
    s = req.size.astype(np.float64)
    return table.free_sq_sum - 2.0 * (s @ table.weighted_free) + _size_term(table, s * s, table.inv_cap2)


def _random(table: MachineTable, req: Compiled, ctx: PolicyContext) -> np.ndarray:
    return ctx.rng.random(table.n)


@dataclass(frozen=True, slots=True)
class Policy:
    """A named placement policy."""

    name: str
    cost: CostFn
    summary: str
    decreasing: bool = False    # sort batches by decreasing size first (FFD, BFD)
    open_first: bool = False    # prefer machines already in use (classic bin packing)

    def choose(self, table: MachineTable, req: Compiled, mask: np.ndarray,
               ctx: PolicyContext) -> tuple[int, float]:
        """The machine (index) to use and its cost; mask must have a True."""
        if self.cost is _first_fit:
            j = int(mask.argmax())
            return j, float(j)
        if self.cost is _random:
            idx = np.flatnonzero(mask)
            return int(idx[ctx.rng.integers(idx.size)]), 0.0
        if self.cost is _next_fit:
            tail = mask[ctx.cursor:]
            k = int(tail.argmax())
            j = ctx.cursor + k if tail.size and tail[k] else int(mask.argmax())
            return j, float((j - ctx.cursor) % table.n)
        cost = np.where(mask, self.cost(table, req, ctx), np.inf)
        j = int(cost.argmin())
        return j, float(cost[j])


POLICIES: dict[str, Policy] = {p.name: p for p in (
    Policy("first-fit", _first_fit, "lowest-index machine that fits"),
    Policy("ffd", _first_fit, "first-fit on batches sorted by decreasing size", decreasing=True),
    Policy("best-fit", _best_fit, "least normalised room left after placing"),
    Policy("bfd", _best_fit, "best-fit on batches sorted by decreasing size", decreasing=True),
    Policy("worst-fit", _worst_fit, "most room left, among machines in use", open_first=True),
    Policy("next-fit", _next_fit, "first fit from the machine used last, wrapping"),
    Policy("dot-product", _dot_product, "Tetris alignment of demand and free, among machines in use",
           open_first=True),
    Policy("l2-norm", _l2_norm, "smallest L2 norm of the normalised room left"),
    Policy("random", _random, "uniformly random feasible machine, among machines in use", open_first=True),
)}

ALIASES = {
    "first-fit-decreasing": "ffd",
    "best-fit-decreasing": "bfd",
    "tetris": "dot-product",
    "dot": "dot-product",
    "l2": "l2-norm",
    "firstfit": "first-fit",
    "bestfit": "best-fit",
    "worstfit": "worst-fit",
    "nextfit": "next-fit",
}


def get_policy(name: str) -> Policy:
    """A policy by name or alias; InvalidArgument names the known ones."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    try:
        return POLICIES[key]
    except KeyError:
        raise InvalidArgument(f"unknown placement policy {name!r}",
                              hint=f"choose from: {', '.join(POLICIES)}") from None


def size_key(table: MachineTable, size: np.ndarray) -> float:
    """Scalar size used to sort batches for FFD/BFD: sum of size / mean capacity."""
    mean_cap = table.cap.mean(axis=1)
    scale = np.divide(1.0, mean_cap, out=np.zeros_like(mean_cap, dtype=np.float64), where=mean_cap > 0)
    return float(size @ scale)
