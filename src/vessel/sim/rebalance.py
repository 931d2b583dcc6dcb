"""ReBalancer: periodic consolidation that empties lightly used machines.

After arrivals and departures have fragmented the cluster, many machines
hold a few small tasks.  One round looks at the machines in use from the
least used up (use = the largest share of any resource in use), and for each
one below ``threshold`` tries to move all its tasks onto other machines
already in use (best-fit, constraints re-checked).  A machine is freed only
if every one of its tasks can move; otherwise its moves are undone.  A
round stops at ``max_migrations`` moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vessel.errors import InvalidArgument
from vessel.placement.engine import Placer
from vessel.placement.policies import get_policy


@dataclass(frozen=True, slots=True)
class RebalanceConfig:
    interval: float = 3600.0       # simulated seconds between rounds
    threshold: float = 0.5         # drain machines whose dominant use is below this
    max_migrations: int = 1000     # moves per round at most

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise InvalidArgument(f"rebalance interval {self.interval} must be > 0")
        if not 0 < self.threshold <= 1:
            raise InvalidArgument(f"rebalance threshold {self.threshold} must be in (0, 1]")
        if self.max_migrations < 1:
            raise InvalidArgument(f"rebalance budget {self.max_migrations} must be >= 1")


@dataclass(frozen=True, slots=True)
class RebalanceRound:
    machines_freed: int
    migrations: int
    attempted: int


def rebalance(placer: Placer, config: RebalanceConfig) -> RebalanceRound:
    """One consolidation round over the placer's table (mutates it)."""
    table = placer.table
    used = np.flatnonzero(table.ntasks > 0)
    if used.size < 2:
        return RebalanceRound(0, 0, 0)
    share = 1.0 - table.free[:, used] * table.inv_cap[:, used]
    share[table.cap[:, used] == 0] = 0.0
    use = share.max(axis=0)
    order = used[np.argsort(use, kind="stable")]
    order = order[np.sort(use)[: order.size] < config.threshold]
    best_fit = get_policy("best-fit")
    draining = np.zeros(table.n, dtype=bool)
    freed = moved = attempted = 0
    for j in order:
        tasks = list(table.on_machine[j])
        if not tasks or moved + len(tasks) > config.max_migrations:
            continue
        attempted += 1
        draining[j] = True
        tasks.sort(key=lambda t: -float(table.tasks[t].size @ table.inv_cap[:, j]))
        done: list[str] = []
        for task in tasks:
            if placer.move(task, exclude=draining, only_used=True, policy=best_fit) < 0:
                break
            done.append(task)
        if len(done) == len(tasks):
            freed += 1
            moved += len(done)
        else:
            for task in done:
                placer.put_back(task, int(j))
            draining[j] = False
    return RebalanceRound(freed, moved, attempted)
