"""The datacenter simulator: replay a workload through the placement engine.

Arrivals are taken in batches of ``batch`` consecutive requests (all placed
at the batch's last arrival time, in the policy's batch order: FFD and BFD
sort each batch by decreasing size); departures due by then are processed
first.  After each batch the simulator samples machines in use and the
lower bound.  The placement engine is the very code the cluster uses.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from vessel.errors import InvalidArgument
from vessel.placement.engine import Placer
from vessel.placement.filters import Compiled
from vessel.placement.model import Constraints, Machine
from vessel.placement.table import MachineTable
from vessel.sim.metrics import LowerBound, stranded
from vessel.sim.rebalance import RebalanceConfig, rebalance
from vessel.sim.workload import Workload

ANTI = Constraints(anti_affinity=True)
NONE = Constraints()


def build_machines(n: int, shape: Mapping[str, int], *, zones: int = 3, rack_size: int = 40) -> list[Machine]:
    """n identical machines, labelled with a zone (round robin) and a rack."""
    if n < 1:
        raise InvalidArgument(f"need at least one machine, got {n}")
    return [Machine(f"m{i}", shape, {"zone": f"z{i % zones}", "rack": f"r{i // rack_size}"})
            for i in range(n)]


@dataclass
class PolicyResult:
    """Metrics of one policy over one workload."""

    policy: str
    requests: int
    placed: int
    rejected: int
    placement_s: float
    wall_s: float
    machines_used_peak: int
    lower_bound_peak: int
    mean_ratio: float
    stranded_at_peak: dict[str, float]
    rebalance: dict[str, int] | None = None
    times: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    used: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False)
    bound: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False)

    @property
    def placements_per_s(self) -> float:
        return self.requests / self.placement_s if self.placement_s > 0 else float("inf")

    @property
    def ratio_to_lower_bound(self) -> float:
        return self.machines_used_peak / self.lower_bound_peak if self.lower_bound_peak else 1.0

    def to_json(self) -> dict:
        out = {
            "placements_per_s": round(self.placements_per_s, 1),
            "machines_used_peak": self.machines_used_peak,
            "lower_bound_peak": self.lower_bound_peak,
            "ratio_to_lower_bound": round(self.ratio_to_lower_bound, 4),
            "rejected": self.rejected,
            "placed": self.placed,
            "requests": self.requests,
            "mean_ratio_steady_state": round(self.mean_ratio, 4),
            "stranded_at_peak": {k: round(v, 4) for k, v in self.stranded_at_peak.items()},
            "placement_seconds": round(self.placement_s, 3),
            "wall_seconds": round(self.wall_s, 3),
        }
        if self.rebalance is not None:
            out["rebalance"] = dict(self.rebalance)
        return out


def _compiled(workload: Workload, i: int) -> Compiled:
    job = int(workload.job[i])
    return Compiled(workload.ids[i], workload.sizes[i], f"job{job}" if job >= 0 else None, None,
                    ANTI if workload.anti_affinity[i] else NONE, int(workload.priority[i]))


def run_policy(workload: Workload, machines: Sequence[Machine], policy: str, *, seed: int = 0,
               batch: int = 1, rebalance_config: RebalanceConfig | None = None) -> PolicyResult:
    """Replay the workload on a fresh table with one policy."""
    if batch < 1:
        raise InvalidArgument(f"batch={batch} must be >= 1")
    wall0 = time.perf_counter()
    table = MachineTable(machines, dims=workload.dims)
    placer = Placer(table, policy, seed=seed)
    bound = LowerBound(table)
    smallest = workload.sizes.min(axis=0)
    departures: list[tuple[float, int]] = []
    m = len(workload)
    n_samples = (m + batch - 1) // batch
    times, used, lbs = np.empty(n_samples), np.empty(n_samples, dtype=np.int64), np.empty(n_samples, dtype=np.int64)
    placed = rejected = 0
    place_s = 0.0
    peak_used, peak_stranded = -1, {d: 0.0 for d in table.dims}
    next_rebalance = (workload.arrival[0] + rebalance_config.interval) if rebalance_config else np.inf
    reb = {"rounds": 0, "machines_freed": 0, "migrations": 0}
    for s, start in enumerate(range(0, m, batch)):
        stop = min(m, start + batch)
        now = float(workload.arrival[stop - 1])
        while departures and departures[0][0] <= now:
            _, i = heapq.heappop(departures)
            placer.remove(workload.ids[i])
        if now >= next_rebalance:
            r = rebalance(placer, rebalance_config)
            reb["rounds"] += 1
            reb["machines_freed"] += r.machines_freed
            reb["migrations"] += r.migrations
            next_rebalance = now + rebalance_config.interval
        reqs = [_compiled(workload, i) for i in range(start, stop)]
        pos = {workload.ids[i]: i for i in range(start, stop)} if batch > 1 else None
        t0 = time.perf_counter()
        order = placer.order_batch(reqs) if batch > 1 else reqs
        chosen = [placer.place_compiled(r) for r in order]
        place_s += time.perf_counter() - t0
        for r, j in zip(order, chosen):
            if j < 0:
                rejected += 1
                continue
            placed += 1
            i = pos[r.id] if batch > 1 else start
            life = workload.lifetime[i]
            if np.isfinite(life):
                heapq.heappush(departures, (now + float(life), i))
        times[s], used[s], lbs[s] = now, table.used_machines, bound(table.demand)
        if used[s] > peak_used:
            peak_used, peak_stranded = int(used[s]), stranded(table, smallest)
    half = n_samples // 2
    ok = lbs[half:] > 0
    mean_ratio = float((used[half:][ok] / lbs[half:][ok]).mean()) if ok.any() else 1.0
    return PolicyResult(placer.policy.name, m, placed, rejected, place_s, time.perf_counter() - wall0,
                        int(used.max()), int(lbs.max()), mean_ratio, peak_stranded,
                        reb if rebalance_config else None, times, used, lbs)


def compare(workload: Workload, machines: Sequence[Machine], policies: Sequence[str], *, seed: int = 0,
            batch: int = 1, rebalance_config: RebalanceConfig | None = None) -> list[PolicyResult]:
    """Run several policies over the same workload and machines."""
    return [run_policy(workload, machines, p, seed=seed, batch=batch, rebalance_config=rebalance_config)
            for p in policies]
