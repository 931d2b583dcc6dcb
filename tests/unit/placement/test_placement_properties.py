"""Property tests: random clusters, random place/remove/state sequences.

Each decision is checked against a brute-force reference written
independently of the vectorised filters; the table's bookkeeping is
checked against a recount from the task list after every step.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vessel.placement import (
    POLICIES, Constraints, Entitlement, Machine, MachineState, MachineTable, Placer, Request, Spread,
)

pytestmark = pytest.mark.unit

# Raise for a longer hunt: VESSEL_HYPOTHESIS_EXAMPLES=2000 pytest ...
EXAMPLES = int(os.environ.get("VESSEL_HYPOTHESIS_EXAMPLES", "60"))

DIMS = ("cpu", "mem", "gpu")
ENTS = {"a": {"cpu": 30}, "b": {"mem": 40, "gpu": 2}, "c": {}}
JOB_CONSTRAINTS = {
    "free": Constraints(),
    "anti": Constraints(anti_affinity=True),
    "two": Constraints(max_per_machine=2),
    "zone": Constraints(spread=Spread("zone")),
    "rack2": Constraints(spread=Spread("rack", max_skew=2), labels={"zone": ("z0", "z1")}),
}


@st.composite
def clusters(draw):
    n = draw(st.integers(1, 8))
    machines = []
    for i in range(n):
        cap = {d: draw(st.integers(0, 12)) for d in DIMS}
        labels = {"zone": f"z{draw(st.integers(0, 2))}"}
        if draw(st.booleans()):
            labels["rack"] = f"r{draw(st.integers(0, 3))}"
        state = draw(st.sampled_from(list(MachineState)))
        ent = draw(st.sampled_from(sorted(ENTS))) if state is MachineState.ASSIGNED else None
        machines.append(Machine(f"m{i}", cap, labels, state, ent))
    return machines


def reference_feasible(table: MachineTable, placer: Placer, req: Request) -> list[int]:
    """Brute force, machine by machine, straight from the definitions."""
    c = req.constraints
    size = np.array([req.size.get(d, 0) for d in table.dims])

    def base(j: int) -> bool:
        state = list(MachineState)[table.state[j]]
        if not state.can_host():
            return False
        owner = table.owner[j]
        if owner != -1 and owner != table.ent_code.get(req.entitlement, -9):
            return False
        for key, allowed in c.labels.items():
            col = table.labels.get(key)
            if col is None or col.codes[j] < 0 or col.values[col.codes[j]] not in allowed:
                return False
        return True

    def label_of(j: int, key: str):
        col = table.labels.get(key)
        return None if col is None or col.codes[j] < 0 else col.values[col.codes[j]]

    job_tasks = [t for t in table.tasks.values() if t.job == req.job and req.job is not None]
    out = []
    for j in range(table.n):
        if not base(j) or (table.free[:, j] < size).any():
            continue
        limit = c.per_machine_limit
        if limit is not None and sum(t.index == j for t in job_tasks) >= limit:
            continue
        if c.spread is not None:
            key = c.spread.key
            domains = {label_of(k, key) for k in range(table.n) if base(k)} - {None}
            mine = label_of(j, key)
            if mine is None:
                continue
            count = {d: sum(label_of(t.index, key) == d for t in job_tasks) for d in domains}
            if count[mine] + 1 - min(count.values()) > c.spread.max_skew:
                continue
        out.append(j)
    return out


def check_books(table: MachineTable, quotas: dict) -> None:
    used = np.zeros_like(table.cap)
    ent_used = {e: np.zeros(len(table.dims), dtype=np.int64) for e in quotas}
    for t in table.tasks.values():
        used[:, t.index] += t.size
        if t.entitlement:
            ent_used[t.entitlement] += t.size
    assert (table.free == table.cap - used).all()
    assert (table.free >= 0).all(), "capacity exceeded"
    for e, q in quotas.items():
        assert (table.ent_used[e] == ent_used[e]).all()
        for dim, limit in q.items():
            assert ent_used[e][table.dim_index[dim]] <= limit, "quota exceeded"
    counts = np.bincount([t.index for t in table.tasks.values()], minlength=table.n)
    assert (table.ntasks == counts).all() and table.used_machines == int((counts > 0).sum())
    fn = table.free * table.inv_cap
    assert np.allclose(table.free_norm_sum, fn.sum(axis=0), rtol=0, atol=1e-12)
    assert np.allclose(table.free_sq_sum, (fn * fn).sum(axis=0), rtol=0, atol=1e-12)
    per_job: dict = {}
    for t in table.tasks.values():
        if t.job:
            per_job.setdefault((t.job, t.index), 0)
            per_job[(t.job, t.index)] += 1
    for job, js in table.jobs.items():
        for key, counts in js.per_domain.items():
            col = table.labels[key]
            recount = np.zeros_like(counts)
            for t in table.tasks.values():
                if t.job == job and col.codes[t.index] >= 0:
                    recount[col.codes[t.index]] += 1
            assert (counts == recount).all(), f"job {job}: {key} counts {counts} != {recount}"
    for (job, _), count in per_job.items():
        limit = JOB_CONSTRAINTS[job].per_machine_limit
        assert limit is None or count <= limit, f"job {job} has {count} tasks on one machine"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(machines=clusters(), policy=st.sampled_from(sorted(POLICIES)), data=st.data())
def test_random_operations_keep_every_invariant(machines, policy, data):
    table = MachineTable(machines, [Entitlement(e, q) for e, q in ENTS.items()], dims=DIMS)
    placer = Placer(table, policy, seed=data.draw(st.integers(0, 99)))
    pristine = table.free.copy()
    live: list[str] = []
    for step in range(data.draw(st.integers(1, 30))):
        op = data.draw(st.sampled_from(["place", "place", "place", "remove", "state"]))
        if op == "remove" and live:
            rid = live.pop(data.draw(st.integers(0, len(live) - 1)))
            placer.remove(rid)
        elif op == "state":
            j = data.draw(st.integers(0, table.n - 1))
            state = data.draw(st.sampled_from(list(MachineState)))
            table.set_state(f"m{j}", state, "a" if state is MachineState.ASSIGNED else None)
        else:
            job = data.draw(st.sampled_from(sorted(JOB_CONSTRAINTS)))
            r = Request(f"r{step}", {d: data.draw(st.integers(0, 5)) for d in DIMS}, job=job,
                        entitlement=data.draw(st.sampled_from([None, "a", "b", "c"])),
                        constraints=JOB_CONSTRAINTS[job])
            expected = reference_feasible(table, placer, r)
            over_quota = table.quota_overrun(r.entitlement, table.vector(r.size, "r"))
            d = placer.place(r, explain=data.draw(st.booleans()))
            if over_quota:
                assert not d.placed and d.reason.startswith("quota")
            elif not expected:
                assert not d.placed, f"placed on {d.machine} though no machine is feasible"
            else:
                assert d.placed, f"refused ({d.reason}) though {expected} are feasible"
                j = table.index[d.machine]
                assert j in expected
                if placer.policy.open_first:
                    in_use = [k for k in expected if table.ntasks[k] > 1 or (k != j and table.ntasks[k])]
                    assert not in_use or table.ntasks[j] > 1 or j in in_use
                live.append(r.id)
            if d.explanation is not None and d.explanation.evaluated:
                e = d.explanation
                assert e.evaluated == e.feasible + sum(e.filtered.values()) + sum(e.exhausted.values())
                assert e.feasible == len(expected)
        check_books(table, ENTS)
    for rid in live:
        placer.remove(rid)
    assert (table.free == pristine).all(), "removing every task did not restore capacity exactly"
    assert table.used_machines == 0 and not table.demand.any() and not table.jobs
