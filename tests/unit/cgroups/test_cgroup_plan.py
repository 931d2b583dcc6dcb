"""plan(): linux.resources -> ordered cgroup writes and warnings, on v1, v2 and hybrid fixture hosts."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, strategies as st

from vessel.errors import InvalidArgument
from vessel.oci.resources import (BlockIO, Cpu, DeviceRule, HugepageLimit, Memory, NetPriority, Network, Pids,
                                  Resources, ThrottleDevice, WeightDevice)
from vessel.runtime.cgroups import Current, Target, cpu_shares_to_weight, plan, plan_target
from vessel.runtime.cgroups.devices import DEFAULT_ALLOW, rule_lines

pytestmark = pytest.mark.unit

MiB = 1 << 20


def files(p, directory_suffix: str | None = None) -> list[tuple[str, str]]:
    """(file, value) pairs of a plan, optionally only those into directories ending with a suffix."""
    return [(w.file, w.value) for w in p.writes if directory_suffix is None or w.directory.endswith(directory_suffix)]


def by_file(p) -> dict[str, str]:
    return {w.file: w.value for w in p.writes}


FULL = Resources(
    memory=Memory(limit=256 * MiB, reservation=128 * MiB, swap=512 * MiB, swappiness=10, disable_oom_killer=True),
    cpu=Cpu(shares=512, quota=50000, period=100000, cpus="0-1", mems="0"),
    pids=Pids(limit=64),
    block_io=BlockIO(weight=300, throttle_read_bps_device=[ThrottleDevice(8, 0, 1048576)],
                     throttle_write_iops_device=[ThrottleDevice(8, 0, 100)]),
    hugepage_limits=[HugepageLimit("2MB", 4 * MiB)],
)


def test_v1_mapping(layout_of):
    p = plan(layout_of("v1"), "/vessel/c1", FULL)
    f = by_file(p)
    assert f["memory.limit_in_bytes"] == str(256 * MiB)
    assert f["memory.soft_limit_in_bytes"] == str(128 * MiB)
    assert "memory.memsw.limit_in_bytes" not in f  # the v1 fixture does not account swap...
    assert any("swap is not accounted" in w for w in p.warnings)  # ...which is said
    assert f["memory.swappiness"] == "10" and f["memory.oom_control"] == "1"
    assert f["cpu.shares"] == "512" and f["cpu.cfs_period_us"] == "100000" and f["cpu.cfs_quota_us"] == "50000"
    assert f["cpuset.cpus"] == "0-1" and f["cpuset.mems"] == "0"
    assert f["pids.max"] == "64"
    assert f["blkio.weight"] == "300"
    assert ("blkio.throttle.read_bps_device", "8:0 1048576") in files(p)
    assert ("blkio.throttle.write_iops_device", "8:0 100") in files(p)
    assert f["hugetlb.2MB.limit_in_bytes"] == str(4 * MiB)
    # every write lands in the container's directory of the right hierarchy
    dirs = {w.file.split(".")[0]: w.directory for w in p.writes}
    assert dirs["cpu"].endswith("/cpu,cpuacct/vessel/c1") and dirs["hugetlb"].endswith("/hugetlb/vessel/c1")


def test_v1_order_cpuset_first_period_before_quota(layout_of):
    p = plan(layout_of("v1"), "/vessel/c1", FULL)
    names = [w.file for w in p.writes]
    assert names[:2] == ["cpuset.cpus", "cpuset.mems"]
    assert names.index("cpu.cfs_period_us") < names.index("cpu.cfs_quota_us")


def test_v2_mapping(layout_of):
    p = plan(layout_of("v2"), "/vessel/c1", FULL)
    f = by_file(p)
    assert {w.directory for w in p.writes} == {layout_of("v2").unified + "/vessel/c1"}
    assert f["memory.max"] == str(256 * MiB) and f["memory.low"] == str(128 * MiB)
    assert f["memory.swap.max"] == str(256 * MiB)  # spec swap is memory+swap: 512 - 256
    assert f["cpu.weight"] == str(cpu_shares_to_weight(512)) == "59"
    assert f["cpu.max"] == "50000 100000"
    assert f["cpuset.cpus"] == "0-1" and f["pids.max"] == "64"
    assert f["hugetlb.2MB.max"] == str(4 * MiB)
    assert ("io.max", "8:0 rbps=1048576 wiops=100") in files(p)
    w = next(w for w in p.writes if w.file == "io.bfq.weight")
    assert w.value == "300" and w.alternatives == (("io.weight", "2930"),)
    warned = " ".join(p.warnings)
    assert "swappiness is ignored on cgroup v2" in warned and "disableOOMKiller is ignored on cgroup v2" in warned


def test_hybrid_uses_v1_and_unified_only_for_hugetlb(layout_of):
    L = layout_of("hybrid")
    p = plan(L, "/vessel/c1", FULL)
    f = by_file(p)
    assert f["memory.memsw.limit_in_bytes"] == str(512 * MiB)  # swap accounted on the hybrid fixture
    assert f["cpu.shares"] == "512" and "cpu.weight" not in f
    hug = next(w for w in p.writes if w.file.startswith("hugetlb."))
    assert hug.file == "hugetlb.2MB.max" and hug.directory == L.unified + "/vessel/c1"
    assert all(w.directory.startswith(L.unified) == w.file.startswith("hugetlb.") for w in p.writes)
    assert p.warnings == ()


def test_missing_controller_is_a_warning(layout_of):
    L = layout_of("hybrid")
    without = dataclasses.replace(L, v1={k: v for k, v in L.v1.items() if k not in ("pids", "cpuset")})
    p = plan(without, "/vessel/c1", FULL)
    assert not any(w.file.startswith(("pids.", "cpuset.")) for w in p.writes)
    assert "cgroup controller 'pids' is not available on this host: linux.resources.pids ignored" in p.warnings
    assert any("'cpuset'" in w for w in p.warnings)
    assert by_file(p)["memory.limit_in_bytes"] == str(256 * MiB)  # the rest still applies


def test_hugetlb_missing_on_a_host_without_it(layout_of):
    L = layout_of("hybrid")
    without = dataclasses.replace(L, offers={**L.offers, L.unified: frozenset()})
    p = plan(without, "/vessel/c1", Resources(hugepage_limits=[HugepageLimit("1GB", 1 << 30)]))
    assert p.writes == () and "'hugetlb'" in p.warnings[0]


def _mem_target(memsw=True, current=Current()):
    return Target(paths={"memory": "/m"}, memsw=memsw, current=current)


def test_v1_memsw_order_when_raising_and_lowering():
    up = plan_target(_mem_target(current=Current(100 * MiB, 200 * MiB)),
                     Resources(memory=Memory(limit=300 * MiB, swap=400 * MiB)))
    assert [w.file for w in up.writes] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    down = plan_target(_mem_target(current=Current(100 * MiB, 200 * MiB)),
                       Resources(memory=Memory(limit=50 * MiB, swap=80 * MiB)))
    assert [w.file for w in down.writes] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    fresh = plan_target(_mem_target(), Resources(memory=Memory(limit=50 * MiB, swap=80 * MiB)))
    assert [w.file for w in fresh.writes] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


@given(cur=st.tuples(st.integers(1, 64), st.integers(0, 64)), new=st.tuples(st.integers(1, 64), st.integers(0, 64)),
       unlimited=st.booleans())
def test_v1_memory_writes_never_break_limit_le_memsw(cur, new, unlimited):
    """Simulate the kernel rule limit <= memsw over the planned writes, from any valid state to any other."""
    state = [float("inf"), float("inf")] if unlimited else [cur[0], cur[0] + cur[1]]
    limit, swap = new[0], new[0] + new[1]
    current = Current() if unlimited else Current(cur[0], cur[0] + cur[1])
    p = plan_target(_mem_target(current=current), Resources(memory=Memory(limit=limit, swap=swap)))
    for w in p.writes:
        i = 0 if w.file == "memory.limit_in_bytes" else 1
        state[i] = int(w.value)
        assert state[0] <= state[1], (current, limit, swap, p.writes)
    assert state == [limit, swap]


def test_v1_raising_limit_above_existing_memsw_is_refused():
    with pytest.raises(InvalidArgument, match="update memory.swap at the same time"):
        plan_target(_mem_target(current=Current(100 * MiB, 200 * MiB)), Resources(memory=Memory(limit=300 * MiB)))


@pytest.mark.parametrize("mem", [Memory(limit=200, swap=100), Memory(limit=-1, swap=100),
                                 Memory(limit=10, swappiness=101)])
def test_memory_validation(mem):
    with pytest.raises(InvalidArgument):
        plan_target(_mem_target(), Resources(memory=mem))


def test_v2_swap_rules():
    t = Target(paths={"unified": "/u"}, unified_controllers=frozenset({"memory"}))
    assert by_file(plan_target(t, Resources(memory=Memory(limit=100, swap=-1))))["memory.swap.max"] == "max"
    assert by_file(plan_target(t, Resources(memory=Memory(limit=-1))))["memory.max"] == "max"
    assert by_file(plan_target(t, Resources(memory=Memory(limit=100, swap=100))))["memory.swap.max"] == "0"
    with pytest.raises(InvalidArgument, match="needs a memory.limit"):
        plan_target(t, Resources(memory=Memory(swap=100)))


def test_zero_means_unset_like_runc():
    p = plan_target(_mem_target(), Resources(memory=Memory(limit=0, reservation=0), cpu=Cpu(shares=0, quota=0)))
    assert p.writes == () and p.warnings == ()


def test_kernel_memory_is_warned_not_written():
    p = plan_target(_mem_target(), Resources(memory=Memory(kernel=64 * MiB, kernel_tcp=16 * MiB)))
    assert [w.file for w in p.writes] == ["memory.kmem.tcp.limit_in_bytes"]
    assert "deprecated" in p.warnings[0]


def test_cpu_v2_quota_forms_and_rt_warning():
    t = Target(paths={"unified": "/u"}, unified_controllers=frozenset({"cpu"}))
    assert by_file(plan_target(t, Resources(cpu=Cpu(quota=20000))))["cpu.max"] == "20000 100000"
    assert by_file(plan_target(t, Resources(cpu=Cpu(quota=-1, period=50000))))["cpu.max"] == "max 50000"
    p = plan_target(t, Resources(cpu=Cpu(realtime_runtime=1000, realtime_period=10000, burst=100)))
    assert by_file(p)["cpu.max.burst"] == "100"
    assert "real-time" in p.warnings[0]


def test_cpu_v1_rt_and_burst_are_optional_files():
    p = plan_target(Target(paths={"cpu": "/c"}), Resources(cpu=Cpu(realtime_period=1000000, realtime_runtime=5000,
                                                                     burst=1000, idle=1)))
    got = {w.file: w for w in p.writes}
    assert [w.file for w in p.writes] == ["cpu.cfs_burst_us", "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle"]
    assert all(w.if_missing for w in got.values())


@pytest.mark.parametrize("bad", [Cpu(shares=1), Cpu(shares=300000), Cpu(cpus="0-1;rm"), Cpu(mems="abc")])
def test_cpu_validation(bad):
    with pytest.raises(InvalidArgument):
        plan_target(Target(paths={"cpu": "/c", "cpuset": "/s"}), Resources(cpu=bad))


def test_shares_to_weight_curve():
    assert [cpu_shares_to_weight(s) for s in (0, 2, 1024, 262144)] == [0, 1, 100, 10000]
    weights = [cpu_shares_to_weight(s) for s in range(2, 262145, 97)]
    assert weights == sorted(weights) and 1 <= min(weights) and max(weights) <= 10000


def test_blkio_v1_weight_falls_back_to_bfq_and_devices():
    bio = BlockIO(weight=500, leaf_weight=200, weight_device=[WeightDevice(8, 16, weight=700, leaf_weight=100)])
    p = plan_target(Target(paths={"blkio": "/b"}), Resources(block_io=bio))
    w = {x.file: x for x in p.writes}
    assert w["blkio.weight"].alternatives == (("blkio.bfq.weight", "500"),)
    assert w["blkio.weight_device"].value == "8:16 700"
    assert w["blkio.weight_device"].alternatives == (("blkio.bfq.weight_device", "8:16 700"),)
    assert w["blkio.leaf_weight"].if_missing and w["blkio.leaf_weight_device"].value == "8:16 100"


def test_hugetlb_page_size_is_checked():
    with pytest.raises(InvalidArgument, match="pageSize"):
        plan_target(Target(paths={"hugetlb": "/h"}), Resources(hugepage_limits=[HugepageLimit("2M", 1)]))


def test_devices_v1_rules_in_order_then_defaults():
    rules = [DeviceRule(allow=False, access="rwm"), DeviceRule(allow=True, type="c", major=10, minor=200, access="rw"),
             DeviceRule(allow=False, type="b", major=8, access="w")]
    p = plan_target(Target(paths={"devices": "/d"}), Resources(devices=rules))
    lines = files(p)
    assert lines[:3] == [("devices.deny", "a"), ("devices.allow", "c 10:200 rw"), ("devices.deny", "b 8:* w")]
    assert ("devices.allow", "c 1:3 rwm") in lines[3:] and ("devices.allow", "c 136:* rwm") in lines[3:]
    assert len(lines) == 3 + len(DEFAULT_ALLOW)


def test_device_rule_lines():
    assert rule_lines(DeviceRule(allow=False)) == ["a"]
    # "a" would mean everything to the kernel: a partial all-types rule is one line per type
    assert rule_lines(DeviceRule(allow=False, access="w")) == ["c *:* w", "b *:* w"]
    assert rule_lines(DeviceRule(allow=True, type="c", major=1, minor=3, access="mwr")) == ["c 1:3 rwm"]
    with pytest.raises(InvalidArgument):
        rule_lines(DeviceRule(allow=True, type="x"))
    with pytest.raises(InvalidArgument):
        rule_lines(DeviceRule(allow=True, type="c", access="rwx"))


def test_devices_on_v2_are_reported_not_enforced(layout_of):
    p = plan(layout_of("v2"), "/vessel/c1", Resources(devices=[DeviceRule(allow=False, access="rwm")]))
    assert p.writes == () and "not enforced" in p.warnings[0]


def test_no_devices_controller_on_v1_is_missing():
    p = plan_target(Target(paths={"memory": "/m"}), Resources(devices=[DeviceRule(allow=False)]))
    assert p.writes == () and "'devices' is not available" in p.warnings[0]


def test_network_rdma_on_v1_and_v2(layout_of):
    net = Network(class_id=0x100001, priorities=[NetPriority("eth0", 5)])
    rdma = {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 10000}}
    p1 = plan(layout_of("v1"), "/c", Resources(network=net, rdma=rdma))
    assert files(p1) == [("net_cls.classid", str(0x100001)), ("net_prio.ifpriomap", "eth0 5")]
    assert any("'rdma'" in w for w in p1.warnings)
    p2 = plan(layout_of("v2"), "/c", Resources(network=net, rdma=rdma))
    assert files(p2) == [("rdma.max", "mlx5_0 hca_handle=3 hca_object=10000")]
    assert any("'net_cls'" in w for w in p2.warnings) and any("'net_prio'" in w for w in p2.warnings)


def test_unified_map(layout_of):
    u = {"memory.high": "100M", "cgroup.max.descendants": "10", "hugetlb.2MB.max": "0", "misc.max": "x 1"}
    p2 = plan(layout_of("v2"), "/c", Resources(unified=u))
    assert sorted(files(p2)) == sorted(u.items())  # verbatim on v2
    ph = plan(layout_of("hybrid"), "/c", Resources(unified=u))
    assert sorted(files(ph)) == [("cgroup.max.descendants", "10"), ("hugetlb.2MB.max", "0")]
    assert any("'memory' is on cgroup v1" in w for w in ph.warnings) and any("'misc'" in w for w in ph.warnings)
    p1 = plan(layout_of("v1"), "/c", Resources(unified=u))
    assert p1.writes == () and "no cgroup v2" in p1.warnings[0]
    with pytest.raises(InvalidArgument):
        plan(layout_of("v2"), "/c", Resources(unified={"../memory.max": "1"}))


def test_plan_is_pure(tmp_path, layout_of):
    # the plan never looks at the directories: a layout pointing nowhere plans the same writes
    L = layout_of("hybrid")
    nowhere = dataclasses.replace(L, v1={k: str(tmp_path / "absent" / k) for k in L.v1})
    p = plan(nowhere, "/vessel/c1", FULL)
    assert len(p.writes) == len(plan(L, "/vessel/c1", FULL).writes)
    assert not (tmp_path / "absent").exists()


def test_empty_resources_plan_nothing(layout_of):
    for kind in ("v1", "v2", "hybrid"):
        assert plan(layout_of(kind), "/c", Resources()).writes == ()
