"""What the simulator measures: lower bound on machines, stranded resources."""

from __future__ import annotations

import numpy as np

from vessel.placement.table import _HOSTING, MachineTable


class LowerBound:
    """Fewest machines that could hold a demand vector, dimension by dimension.

    For each dimension, the smallest k such that the k largest usable
    machines together have at least the demand; the bound is the max over
    dimensions.  With identical machines that is max_d ceil(demand_d / cap_d).
    It ignores fragmentation and constraints, so no policy can beat it.
    """

    def __init__(self, table: MachineTable) -> None:
        usable = _HOSTING[table.state]
        caps = np.sort(table.cap[:, usable], axis=1)[:, ::-1]
        self._cum = np.cumsum(caps, axis=1)
        self._n = int(usable.sum())

    def __call__(self, demand: np.ndarray) -> int:
        best = 0
        for i, amount in enumerate(demand):
            if amount > 0:
                k = int(np.searchsorted(self._cum[i], amount, side="left")) + 1
                best = max(best, min(k, self._n))
        return best


def stranded(table: MachineTable, smallest: np.ndarray) -> dict[str, float]:
    """Share of the used machines' capacity left idle on machines that are full.

    A machine in use is full when even the smallest request of the workload
    no longer fits it (some dimension ran out); whatever it still has free
    in the other dimensions is stranded.
    """
    used = table.ntasks > 0
    if not used.any():
        return {d: 0.0 for d in table.dims}
    fits = np.ones(table.n, dtype=bool)
    for i in np.flatnonzero(smallest):
        fits &= table.free[i] >= smallest[i]
    full = used & ~fits
    cap_used = table.cap[:, used].sum(axis=1)
    idle = table.free[:, full].sum(axis=1)
    return {d: (float(idle[i] / cap_used[i]) if cap_used[i] else 0.0) for i, d in enumerate(table.dims)}
