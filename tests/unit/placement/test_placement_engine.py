"""Placer behaviour: policies, constraints, states, quotas, explanations."""

from __future__ import annotations

import numpy as np
import pytest

from vessel.errors import Conflict, InvalidArgument, NotFound, ResourceExhausted
from vessel.placement import (
    POLICIES, Constraints, Entitlement, Machine, MachineState, MachineTable, Placer, Request, Spread,
    get_policy,
)

pytestmark = pytest.mark.unit


def machines(n: int = 4, cpu: int = 10, mem: int = 100, zones: int = 2) -> list[Machine]:
    return [Machine(f"m{i}", {"cpu": cpu, "mem": mem}, {"zone": f"z{i % zones}", "rack": f"r{i}"})
            for i in range(n)]


def req(rid: str, cpu: int, mem: int = 0, **kw) -> Request:
    return Request(rid, {"cpu": cpu, "mem": mem}, **kw)


# ----------------------------------------------------------------- model checks
def test_model_rejects_bad_input():
    with pytest.raises(InvalidArgument, match="cpu=-1"):
        Machine("m", {"cpu": -1})
    with pytest.raises(InvalidArgument, match="non-negative integer"):
        Request("r", {"cpu": 1.5})
    with pytest.raises(InvalidArgument, match="names no entitlement"):
        Machine("m", {"cpu": 1}, state=MachineState.ASSIGNED)
    with pytest.raises(InvalidArgument, match="no job"):
        Request("r", {"cpu": 1}, constraints=Constraints(anti_affinity=True))
    with pytest.raises(Conflict, match="'m0' appears twice"):
        MachineTable([Machine("m0", {"cpu": 1}), Machine("m0", {"cpu": 1})])
    placer = Placer(MachineTable(machines()))
    with pytest.raises(InvalidArgument, match="'gpu'"):
        placer.place(Request("r", {"gpu": 1}))
    with pytest.raises(InvalidArgument, match="unknown placement policy 'bogus'"):
        get_policy("bogus")


def test_duplicate_and_unknown_task_ids():
    placer = Placer(MachineTable(machines()))
    assert placer.place(req("a", 1)).placed
    with pytest.raises(Conflict, match="'a' is already placed"):
        placer.place(req("a", 1))
    with pytest.raises(NotFound, match="'zz'"):
        placer.remove("zz")


# ---------------------------------------------------------------------- policies
def loaded_placer(policy: str) -> Placer:
    """m0 has 2 cpu free, m1 has 6 free, m2 has 4 free, m3 empty (10 free)."""
    placer = Placer(MachineTable(machines()), policy="first-fit")
    for rid, j, cpu in (("f0", 0, 8), ("f1", 1, 4), ("f2", 2, 6)):
        placer.table.commit(rid, j, np.array([cpu, 0]), None, None, Constraints())
    placer.policy = get_policy(policy)
    return placer


@pytest.mark.parametrize("policy,expected", [
    ("first-fit", "m0"), ("ffd", "m0"), ("best-fit", "m0"), ("bfd", "m0"),
    ("worst-fit", "m1"), ("l2-norm", "m0"), ("dot-product", "m1"),
])
def test_policy_choice_for_small_request(policy, expected):
    assert loaded_placer(policy).place(req("x", 2)).machine == expected


def test_best_fit_skips_machines_too_small():
    placer = loaded_placer("best-fit")
    assert placer.place(req("x", 3)).machine == "m2"     # m2 leaves 1, m1 leaves 3
    assert placer.place(req("y", 6)).machine == "m1"


def test_worst_fit_opens_empty_machine_only_when_needed():
    placer = loaded_placer("worst-fit")
    assert placer.place(req("x", 7)).machine == "m3"     # no machine in use fits 7
    spread = Placer(loaded_placer("worst-fit").table, "worst-fit", open_first=False)
    assert spread.place(req("y", 1)).machine == "m3"     # spreading variant picks the empty one


def test_next_fit_continues_from_last_machine():
    placer = Placer(MachineTable(machines()), "next-fit")
    assert [placer.place(req(f"a{i}", 6)).machine for i in range(3)] == ["m0", "m1", "m2"]
    assert placer.place(req("b", 3)).machine == "m2"     # m0 fits too but the cursor is on m2
    assert placer.place(req("c", 7)).machine == "m3"
    assert placer.place(req("d", 4)).machine == "m0"     # m3 has 3 left: wraps around


def test_l2_prefers_balanced_leftover():
    ms = [Machine("a", {"cpu": 10, "mem": 10}), Machine("b", {"cpu": 10, "mem": 10})]
    placer = Placer(MachineTable(ms), "l2-norm")
    placer.table.commit("x", 0, np.array([5, 0]), None, None, Constraints())
    placer.table.commit("y", 1, np.array([2, 3]), None, None, Constraints())
    # leftover after (1,1): a=(4,9) -> 0.97, b=(7,6) -> 0.85: b is smaller
    assert placer.place(Request("r", {"cpu": 1, "mem": 1})).machine == "b"


def test_random_is_seeded_and_feasible():
    picks = []
    for _ in range(2):
        placer = Placer(MachineTable(machines(8)), "random", seed=7, open_first=False)
        picks.append([placer.place(req(f"r{i}", 3)).machine for i in range(20)])
    assert picks[0] == picks[1]
    assert len(set(picks[0])) > 1
    assert all(v >= 0 for v in Placer(MachineTable(machines(8))).table.free.ravel())


def test_every_policy_fills_a_cluster_without_overcommit():
    for name in POLICIES:
        placer = Placer(MachineTable(machines(5)), name, seed=3)
        placed = sum(placer.place(req(f"r{i}", 3, 10)).placed for i in range(40))
        assert placed == 15, name      # 3 per machine (9 of 10 cpu), then refusals
        assert (placer.table.free >= 0).all()


def test_ffd_batch_orders_by_priority_then_size():
    placer = Placer(MachineTable(machines(2)), "ffd")
    decisions = placer.place_batch([req("s", 2), req("l", 9), req("m", 5), req("p", 1, priority=5)])
    assert [d.request_id for d in decisions] == ["p", "l", "m", "s"]
    assert [d.machine for d in decisions] == ["m0", "m0", "m1", "m1"]
    plain = Placer(MachineTable(machines(2)), "first-fit")
    assert [d.request_id for d in plain.place_batch([req("s", 2), req("l", 9)])] == ["s", "l"]


def test_policy_per_request_and_per_job():
    placer = loaded_placer("first-fit")
    assert placer.place(req("x", 1, policy="worst-fit")).machine == "m1"
    placer.set_job_policy("web", "worst-fit")
    assert placer.place(req("y", 1, job="web")).machine == "m1"
    assert placer.place(req("z", 1)).machine == "m0"


# ------------------------------------------------------------------- constraints
def test_label_constraint():
    placer = Placer(MachineTable(machines(4)), "first-fit")
    d = placer.place(req("x", 1, constraints=Constraints(labels={"zone": "z1"})), explain=True)
    assert d.machine == "m1"
    assert d.explanation.filtered == {"label: zone": 2}
    d = placer.place(req("y", 1, constraints=Constraints(labels={"zone": ("z9", "z0")})))
    assert d.machine == "m0"
    assert not placer.place(req("z", 1, constraints=Constraints(labels={"gpu": "yes"}))).placed


def test_anti_affinity_and_max_per_machine():
    placer = Placer(MachineTable(machines(3)), "first-fit")
    anti = Constraints(anti_affinity=True)
    got = [placer.place(req(f"a{i}", 1, job="db", constraints=anti)).machine for i in range(4)]
    assert got == ["m0", "m1", "m2", None]
    two = Constraints(max_per_machine=2)
    got = [placer.place(req(f"b{i}", 1, job="web", constraints=two)).machine for i in range(7)]
    assert got == ["m0", "m0", "m1", "m1", "m2", "m2", None]
    d = placer.place(req("b9", 1, job="web", constraints=two), explain=True)
    assert d.explanation.filtered == {"max-per-machine": 3}
    placer.remove("b1")
    assert placer.place(req("b10", 1, job="web", constraints=two)).machine == "m0"


def test_spread_over_zones_keeps_skew():
    placer = Placer(MachineTable(machines(6, zones=3)), "first-fit")
    spread = Constraints(spread=Spread("zone"))
    zones = []
    for i in range(9):
        d = placer.place(req(f"t{i}", 1, job="j", constraints=spread))
        zones.append(placer.table.labels["zone"].values[placer.table.labels["zone"].codes[
            placer.table.index[d.machine]]])
    assert sorted(zones) == ["z0"] * 3 + ["z1"] * 3 + ["z2"] * 3
    skew2 = Constraints(spread=Spread("zone", max_skew=2))
    p2 = Placer(MachineTable(machines(6, zones=3)), "first-fit")
    got = [p2.place(req(f"u{i}", 1, job="k", constraints=skew2)).machine for i in range(3)]
    assert got == ["m0", "m0", "m1"]      # z0 may lead by 2 before z1 must be used


def test_spread_ignores_domains_without_usable_machines():
    ms = machines(4, zones=2)
    ms[1] = Machine("m1", ms[1].capacity, ms[1].labels, MachineState.FAILED)
    ms[3] = Machine("m3", ms[3].capacity, ms[3].labels, MachineState.MAINTENANCE)
    placer = Placer(MachineTable(ms), "first-fit")
    spread = Constraints(spread=Spread("zone"))
    assert [placer.place(req(f"t{i}", 1, job="j", constraints=spread)).machine for i in range(2)] == ["m0", "m0"]


# ------------------------------------------------------------ states and quotas
def test_states_and_entitlement_ownership():
    ms = [Machine("free", {"cpu": 10}), Machine("gold", {"cpu": 10}, state=MachineState.ASSIGNED,
                                                   entitlement="gold"),
          Machine("down", {"cpu": 10}, state=MachineState.FAILED),
          Machine("maint", {"cpu": 10}, state=MachineState.MAINTENANCE)]
    table = MachineTable(ms, [Entitlement("gold"), Entitlement("silver")])
    placer = Placer(table, "worst-fit", open_first=False)
    assert placer.place(Request("g1", {"cpu": 10}, entitlement="gold")).machine in ("free", "gold")
    assert placer.place(Request("g2", {"cpu": 10}, entitlement="gold")).placed
    d = placer.place(Request("s1", {"cpu": 1}, entitlement="silver"), explain=True)
    assert not d.placed
    assert d.explanation.filtered == {"state: failed": 1, "state: maintenance": 1,
                                      "entitlement: owned by another": 1}
    assert d.explanation.exhausted == {"cpu": 1}
    table.set_state("maint", MachineState.FREE)
    assert placer.place(Request("s2", {"cpu": 1}, entitlement="silver")).machine == "maint"
    table.set_state("gold", MachineState.ASSIGNED, entitlement="silver")
    placer.remove("g1")
    placer.remove("g2")
    assert placer.place(Request("s3", {"cpu": 10}, entitlement="silver")).placed


def test_quota_refusal_names_dimension_and_recovers_on_remove():
    table = MachineTable(machines(4), [Entitlement("team", {"mem": 150})])
    placer = Placer(table, "best-fit")
    assert placer.place(req("a", 1, 100, entitlement="team")).placed
    d = placer.place(req("b", 1, 60, entitlement="team"))
    assert not d.placed
    assert d.reason == "quota: entitlement 'team' would hold 160 mem, over its quota of 150"
    with pytest.raises(ResourceExhausted, match="quota"):
        placer.require(req("b", 1, 60, entitlement="team"))
    assert not placer.place(req("c", 1, entitlement="nobody")).placed
    placer.remove("a")
    assert placer.place(req("b", 1, 60, entitlement="team")).placed
    assert list(table.ent_used["team"]) == [1, 60]


# ------------------------------------------------------------------ explanations
def test_explanation_counts_add_up_and_scores_rank():
    placer = loaded_placer("best-fit")
    placer.table.set_state("m3", MachineState.FAILED)
    d = placer.place(req("x", 5, 1), explain=True)
    exp = d.explanation
    assert d.machine == "m1"
    assert exp.evaluated == exp.feasible + sum(exp.filtered.values()) + sum(exp.exhausted.values())
    assert exp.filtered == {"state: failed": 1} and exp.exhausted == {"cpu": 2}
    assert exp.scores[0] == ("m1", d.score)
    assert "policy=best-fit" in exp.summary()
    refused = placer.place(req("y", 1, 101))
    assert refused.explanation.exhausted == {"mem": 3}
    assert "mem exhausted on 3" in refused.reason


def test_remove_and_move():
    placer = loaded_placer("best-fit")
    before = placer.table.free.copy()
    placer.place(req("x", 2, 7))
    assert placer.remove("x") == "m0"
    assert (placer.table.free == before).all()
    placer.place(req("y", 1))                     # best-fit: m0
    assert placer.move("y", exclude=np.array([True, False, False, False])) == 2
    assert placer.table.tasks["y"].index == 2
    full = np.array([True, True, True, True])
    assert placer.move("y", exclude=full) == -1 and placer.table.tasks["y"].index == 2
    assert placer.table.machine_free("m2") == {"cpu": 3, "mem": 100}
    assert placer.table.tasks_on("m2") == ["f2", "y"]
