"""Datacenter simulator: workloads, traces, lower bound, stranding, ReBalancer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vessel.errors import InvalidArgument, NotFound
from vessel.placement import Machine, MachineState, MachineTable, Placer, Request
from vessel.sim import datacenter, workload
from vessel.sim.metrics import LowerBound, stranded
from vessel.sim.rebalance import RebalanceConfig, rebalance

pytestmark = pytest.mark.unit


def test_synthetic_stream_shape_and_determinism():
    a = workload.synthetic(4000, 200, seed=3)
    b = workload.synthetic(4000, 200, seed=3)
    assert np.array_equal(a.sizes, b.sizes) and np.array_equal(a.arrival, b.arrival)
    assert not np.array_equal(a.sizes, workload.synthetic(4000, 200, seed=4).sizes)
    assert len(a) == 4000 and a.dims == ("cpu", "memory", "ssd")
    assert (np.diff(a.arrival) >= 0).all()
    shapes, probs = workload.shape_vectors()
    assert {tuple(s) for s in a.sizes} <= {tuple(s) for s in shapes}
    small = np.isin(a.sizes[:, 0], (1000, 2000)).mean()          # 1-2 cores dominate the mix
    assert abs(small - probs[np.isin(shapes[:, 0], (1000, 2000))].sum()) < 0.03
    life = a.lifetime
    assert abs(np.median(life) / life.mean() - 0.41) < 0.15       # heavy tail: median well below mean
    assert life.max() > 20 * life.mean()


def test_synthetic_deployments_are_anti_affine_groups():
    wl = workload.synthetic(3000, 100, seed=1, anti_affinity=0.3)
    assert 0.15 < wl.anti_affinity.mean() < 0.45
    for job in np.unique(wl.job[wl.job >= 0])[:20]:
        rows = np.flatnonzero(wl.job == job)
        assert len(rows) >= 2 and len({tuple(wl.sizes[r]) for r in rows}) == 1
    with pytest.raises(InvalidArgument):
        workload.synthetic(0, 10, seed=1)


def test_trace_round_trip_and_errors(tmp_path):
    wl = workload.synthetic(300, 20, seed=5, anti_affinity=0.2)
    wl = workload.Workload(wl.dims, wl.ids, wl.arrival, np.where(np.arange(300) % 7 == 0, np.inf, wl.lifetime),
                           wl.sizes, wl.job, wl.anti_affinity, wl.priority)
    path = tmp_path / "t.csv"
    workload.write_trace(wl, path)
    back = workload.read_trace(path, dims=wl.dims)
    assert back.ids == wl.ids and np.array_equal(back.sizes, wl.sizes)
    assert np.array_equal(back.arrival, wl.arrival) and np.array_equal(back.lifetime, wl.lifetime)
    assert np.array_equal(back.anti_affinity, wl.anti_affinity)
    assert np.array_equal(back.job >= 0, wl.job >= 0)
    (tmp_path / "bad.csv").write_text("arrival,lifetime,cpu\n1,2,x\n")
    with pytest.raises(InvalidArgument, match="line 2"):
        workload.read_trace(tmp_path / "bad.csv")
    (tmp_path / "gpu.csv").write_text("arrival,lifetime,gpu\n1,2,1\n")
    with pytest.raises(InvalidArgument, match="gpu"):
        workload.read_trace(tmp_path / "gpu.csv", dims=("cpu", "memory"))
    with pytest.raises(NotFound):
        workload.read_trace(tmp_path / "missing.csv")


def test_trace_sorted_by_arrival_and_partial_dims(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,arrival,lifetime,cpu\nb,5,1,2000\na,1,,1000\n")
    wl = workload.read_trace(path, dims=("cpu", "memory", "ssd"))
    assert wl.ids == ("a", "b") and math.isinf(wl.lifetime[0])
    assert wl.sizes.tolist() == [[1000, 0, 0], [2000, 0, 0]]


def test_lower_bound_homogeneous_and_mixed():
    same = MachineTable([Machine(f"m{i}", {"cpu": 10, "mem": 100}) for i in range(5)])
    lb = LowerBound(same)
    assert lb(np.array([0, 0])) == 0
    assert lb(np.array([10, 1])) == 1 and lb(np.array([11, 1])) == 2
    assert lb(np.array([5, 301])) == 4
    mixed = MachineTable([Machine("big", {"cpu": 30}), Machine("s1", {"cpu": 10}), Machine("s2", {"cpu": 10}),
                          Machine("down", {"cpu": 100}, state=MachineState.FAILED)])
    assert LowerBound(mixed)(np.array([31])) == 2 and LowerBound(mixed)(np.array([45])) == 3


def test_stranded_counts_idle_resources_on_full_machines():
    table = MachineTable([Machine(f"m{i}", {"cpu": 10, "mem": 100}) for i in range(3)])
    placer = Placer(table, "first-fit")
    placer.place(Request("a", {"cpu": 10, "mem": 20}))   # m0 full on cpu, 80 mem stranded
    placer.place(Request("b", {"cpu": 2, "mem": 20}))    # m1 not full
    got = stranded(table, np.array([1, 1]))
    assert got == {"cpu": 0.0, "mem": pytest.approx(80 / 200)}


def test_rebalancer_frees_machines_and_keeps_books():
    table = MachineTable([Machine(f"m{i}", {"cpu": 10}) for i in range(4)])
    placer = Placer(table, "first-fit")
    for j, cpu in enumerate((6, 6, 2, 1)):              # one task per machine: 6, 6, 2, 1 cpu
        placer.put_back(f"t{j}", j, placer.compile(Request(f"t{j}", {"cpu": cpu})))
    result = rebalance(placer, RebalanceConfig(threshold=0.5))   # m3 (10%) and m2 (20%) drain
    assert (result.machines_freed, result.migrations) == (2, 2)
    assert table.used_machines == 2 and (table.free >= 0).all()
    assert int(table.cap.sum() - table.free.sum()) == 15
    with pytest.raises(InvalidArgument):
        RebalanceConfig(threshold=0)


def test_rebalancer_undoes_a_partial_drain():
    table = MachineTable([Machine(f"m{i}", {"cpu": 10}) for i in range(2)])
    placer = Placer(table, "first-fit")
    for rid, cpu in (("a", 8), ("b", 3), ("c", 3)):
        placer.place(Request(rid, {"cpu": cpu}))         # m0: a(8); m1: b, c
    result = rebalance(placer, RebalanceConfig(threshold=1.0))
    assert result.machines_freed == 0 and result.attempted == 2
    assert sorted(table.tasks_on("m1")) == ["b", "c"] and table.tasks_on("m0") == ["a"]


def test_run_policy_metrics_are_consistent():
    wl = workload.synthetic(3000, 150, seed=2)
    ms = datacenter.build_machines(150, workload.DEFAULT_MACHINE)
    results = datacenter.compare(wl, ms, ["best-fit", "next-fit", "bfd"], batch=64)
    for r in results:
        assert r.placed + r.rejected == 3000
        assert (r.used >= r.bound).all(), r.policy          # never below the bound
        assert r.machines_used_peak == r.used.max() and r.lower_bound_peak == r.bound.max()
        doc = r.to_json()
        assert {"placements_per_s", "machines_used_peak", "lower_bound_peak", "ratio_to_lower_bound",
                "rejected"} <= set(doc)
        assert doc["ratio_to_lower_bound"] >= 1.0
    by = {r.policy: r for r in results}
    assert by["bfd"].ratio_to_lower_bound < by["next-fit"].ratio_to_lower_bound
    assert by["bfd"].ratio_to_lower_bound < 1.1


def test_run_policy_rejects_when_cluster_is_too_small_and_rebalances():
    wl = workload.synthetic(2000, 10, seed=1, load=1.5)
    ms = datacenter.build_machines(10, workload.DEFAULT_MACHINE)
    r = datacenter.run_policy(wl, ms, "best-fit", batch=1, rebalance_config=RebalanceConfig(interval=600))
    assert r.rejected > 0 and r.used.max() <= 10
    assert r.rebalance["rounds"] > 0
    with pytest.raises(InvalidArgument):
        datacenter.run_policy(wl, ms, "best-fit", batch=0)
