"""Manager against copies of the fixture trees (plain files stand in for cgroupfs; no root needed).

A plain directory does not grow interface files when made: the `cgroupfs` fixture plays
the kernel's part for writes (see conftest.FakeCgroupfs), `kernel_files` for values to read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vessel.errors import Conflict, SystemFailure, Unsupported
from vessel.oci.resources import BlockIO, Cpu, HugepageLimit, Memory, Pids, Resources
from vessel.runtime.cgroups import Manager

pytestmark = pytest.mark.unit

MiB = 1 << 20


def kernel_files(directory: str, **files: str) -> None:
    for name, text in files.items():
        Path(directory, name.replace("__", ".")).write_text(text)


def read(directory: str, name: str) -> str:
    return Path(directory, name).read_text()


def test_create_v1_makes_dirs_and_inherits_cpuset(host, cgroupfs):
    layout, root = host("v1")
    m = Manager.open(layout, "/vessel/c1")
    assert m.create() == []
    for d in m.paths.values():
        assert os.path.isdir(d)
    assert read(m.paths["cpuset"], "cpuset.cpus") == "0-3"  # copied down from the root through /vessel
    assert read(m.paths["cpuset"], "cpuset.mems") == "0-1"
    assert read(str(root / "sys/fs/cgroup/cpuset/vessel"), "cpuset.cpus") == "0-3"
    assert len(m._created) == 2 * len(set(m.paths.values()))  # /vessel and /vessel/c1 in each hierarchy


def test_create_v2_enables_controllers_top_down(host):
    layout, root = host("v2")
    m = Manager.open(layout, "/vessel/c1")
    m.create()
    top = root / "sys/fs/cgroup"
    # the root's subtree_control gets what it offers and has not enabled yet, in one write
    assert (top / "cgroup.subtree_control").read_text() == "+hugetlb +misc +rdma"
    # /vessel was just made: a real kernel would list what the root enabled; here the file is absent, so nothing
    assert not (top / "vessel/c1/cgroup.subtree_control").exists()  # never in the leaf


def test_create_v2_relative_path_enables_at_each_level(host):
    layout, root = host("v2")
    m = Manager.open(layout, "c1")
    m.create()
    scope = root / "sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope"
    assert m.paths["unified"] == str(scope / "c1")
    assert (scope.parent / "cgroup.subtree_control").read_text() == "+cpu +cpuset +io"
    assert (scope / "cgroup.subtree_control").read_text() == "+cpu +cpuset +io +memory +pids"


def test_apply_writes_the_plan(host, cgroupfs):
    layout, root = host("hybrid")
    m = Manager.open(layout, "/vessel/c1")
    m.create()
    kernel_files(m.paths["memory"], memory__limit_in_bytes="9223372036854771712",
                 memory__memsw__limit_in_bytes="9223372036854771712")
    cgroupfs.absent.add("blkio.weight")  # a kernel without CFQ: the BFQ file is used
    assert read(str(root / "sys/fs/cgroup/unified"), "cgroup.subtree_control") == "+hugetlb"
    kernel_files(m.paths["unified"], cgroup__controllers="hugetlb\n")  # what the kernel then shows in the leaf
    res = Resources(memory=Memory(limit=64 * MiB, swap=128 * MiB, reservation=32 * MiB),
                    cpu=Cpu(shares=256, quota=20000), pids=Pids(limit=7), block_io=BlockIO(weight=250),
                    hugepage_limits=[HugepageLimit("2MB", 2 * MiB)])
    assert m.apply(res) == []
    assert read(m.paths["memory"], "memory.limit_in_bytes") == str(64 * MiB)
    assert read(m.paths["memory"], "memory.memsw.limit_in_bytes") == str(128 * MiB)
    assert read(m.paths["memory"], "memory.soft_limit_in_bytes") == str(32 * MiB)
    assert read(m.paths["cpu"], "cpu.shares") == "256" and read(m.paths["cpu"], "cpu.cfs_quota_us") == "20000"
    assert read(m.paths["pids"], "pids.max") == "7"
    assert read(m.paths["blkio"], "blkio.bfq.weight") == "250"
    assert not os.path.exists(os.path.join(m.paths["blkio"], "blkio.weight"))
    assert read(m.paths["unified"], "hugetlb.2MB.max") == str(2 * MiB)


def test_apply_reads_live_limits_to_order_memsw(host, cgroupfs):
    layout, _root = host("hybrid")
    m = Manager.open(layout, "/vessel/c1")
    m.create()
    kernel_files(m.paths["memory"], memory__limit_in_bytes=str(100 * MiB), memory__memsw__limit_in_bytes=str(200 * MiB))
    t = m.target(Resources(memory=Memory(limit=300 * MiB, swap=400 * MiB)))
    assert (t.current.memory_limit, t.current.memsw_limit) == (100 * MiB, 200 * MiB)
    assert t.memsw and t.unified_controllers == frozenset()  # no cgroup.controllers in the fake leaf nor parent


def test_optional_missing_file_warns_and_required_missing_file_fails(host, cgroupfs):
    layout, _root = host("v1")
    m = Manager.open(layout, "/vessel/c1")
    m.create()
    cgroupfs.absent.update({"cpu.rt_runtime_us", "pids.max"})
    warnings = m.apply(Resources(cpu=Cpu(shares=300, realtime_runtime=1000)))
    assert warnings == ["linux.resources.cpu.realtimeRuntime is ignored: no RT group scheduling in this kernel"]
    with pytest.raises(SystemFailure) as err:
        m.apply(Resources(pids=Pids(limit=4)))
    assert "failed to write '4' to " + m.paths["pids"] + "/pids.max" in str(err.value)
    assert err.value.hint and "no such file" in str(err.value)


def test_write_error_names_file_and_value(host, cgroupfs):
    layout, _root = host("v1")
    m = Manager.open(layout, "/vessel/c1")
    m.create()
    os.mkdir(os.path.join(m.paths["pids"], "pids.max"))  # writing to a directory fails (EISDIR)
    with pytest.raises(SystemFailure, match=r"failed to write '9' to .*/pids\.max: Is a directory"):
        m.apply(Resources(pids=Pids(limit=9)))


def test_apply_to_a_removed_cgroup_says_so(tmp_path):
    m = Manager.from_paths({"pids": str(tmp_path / "gone")})
    with pytest.raises(SystemFailure, match="the cgroup does not exist"):
        m.apply(Resources(pids=Pids(limit=9)))


def test_add_writes_pid_to_every_directory_once(host, cgroupfs):
    layout, _root = host("v1")
    m = Manager.open(layout, "/vessel/c1")
    m.create()
    m.add(4242)
    for d in m.paths.values():
        assert read(d, "cgroup.procs") == "4242"
    assert len(m.directories()) == len(set(m.paths.values())) < len(m.paths)  # cpu,cpuacct shared
    assert len([w for w in cgroupfs.writes if w[0].endswith("/cgroup.procs")]) == len(m.directories())


def test_pids_are_collected_recursively(tmp_path):
    leaf = tmp_path / "u" / "c1"
    (leaf / "sub").mkdir(parents=True)
    (leaf / "cgroup.procs").write_text("10\n11\n")
    (leaf / "sub" / "cgroup.procs").write_text("12\n")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "cgroup.procs").write_text("11\n13\n")
    m = Manager.from_paths({"unified": str(leaf), "memory": str(tmp_path / "m")})
    assert m.pids() == [10, 11, 12, 13]


def test_freezer_v1(tmp_path):
    (tmp_path / "freezer.state").write_text("THAWED\n")
    m = Manager.from_paths({"freezer": str(tmp_path)})
    assert not m.frozen()
    m.freeze()  # the fake file reads back FROZEN at once, as a kernel with nothing to freeze would
    assert m.frozen() and (tmp_path / "freezer.state").read_text() == "FROZEN"
    m.thaw()
    assert not m.frozen()


def test_freezer_v2(tmp_path):
    (tmp_path / "cgroup.freeze").write_text("0\n")
    (tmp_path / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    m = Manager.from_paths({"unified": str(tmp_path)})
    m.freeze()
    assert (tmp_path / "cgroup.freeze").read_text() == "1" and m.frozen()
    m.thaw()
    assert not m.frozen()


def test_no_freezer(tmp_path):
    m = Manager.from_paths({"memory": str(tmp_path)})
    assert m.frozen() is False
    with pytest.raises(Unsupported, match="no freezer"):
        m.freeze()


def test_stats_v1(tmp_path):
    mem, acct, pids = tmp_path / "memory", tmp_path / "cpuacct", tmp_path / "pids"
    for d in (mem, acct, pids):
        d.mkdir()
    kernel_files(str(mem), memory__usage_in_bytes="4096\n", memory__max_usage_in_bytes="8192\n",
                 memory__limit_in_bytes="9223372036854771712\n",
                 memory__oom_control="oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    kernel_files(str(acct), cpuacct__usage="123456789\n", cpuacct__usage_user="100\n", cpuacct__usage_sys="200\n")
    kernel_files(str(pids), pids__current="3\n", pids__max="max\n")
    s = Manager.from_paths({"memory": str(mem), "cpuacct": str(acct), "pids": str(pids)}).stats()
    assert s["memory"] == {"usage": 4096, "max_usage": 8192, "limit": None, "swap_limit": None, "oom_kills": 2}
    assert s["cpu"]["usage_ns"] == 123456789 and s["cpu"]["user_ns"] == 100 and s["cpu"]["system_ns"] == 200
    assert s["pids"] == {"current": 3, "limit": None}


def test_stats_v2(tmp_path):
    kernel_files(str(tmp_path), cgroup__controllers="cpu memory pids\n", memory__current="1000\n",
                 memory__peak="5000\n", memory__max="65536\n", memory__swap__max="0\n",
                 memory__events="low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
                 cpu__stat="usage_usec 250\nuser_usec 200\nsystem_usec 50\nnr_periods 9\nnr_throttled 3\n"
                           "throttled_usec 70\n",
                 pids__current="2\n", pids__max="16\n")
    s = Manager.from_paths({"unified": str(tmp_path)}).stats()
    assert s["memory"] == {"usage": 1000, "max_usage": 5000, "limit": 65536, "swap_limit": 65536, "oom_kills": 1}
    assert s["cpu"] == {"usage_ns": 250000, "user_ns": 200000, "system_ns": 50000, "periods": 9,
                        "throttled_periods": 3, "throttled_ns": 70000}
    assert s["pids"] == {"current": 2, "limit": 16}


def test_paths_are_json_serialisable(host):
    import json

    layout, _root = host("hybrid")
    m = Manager.open(layout, "/vessel/c1")
    assert Manager.from_paths(json.loads(json.dumps(m.paths))).paths == m.paths


def test_create_refuses_a_cgroup_that_already_holds_processes(host):
    layout, _root = host("hybrid")
    m = Manager.open(layout, "/vessel/c1")
    os.makedirs(m.paths["unified"])
    kernel_files(m.paths["unified"], cgroup__procs="777\n")
    with pytest.raises(Conflict, match=r"already holds processes \(777\)"):
        m.create()
    assert not os.path.exists(m.paths["memory"])  # nothing made
    with pytest.raises(Conflict, match="will not signal"):
        m.kill_all(9)
    with pytest.raises(Conflict, match="will not remove"):
        m.destroy()
    assert os.path.isdir(m.paths["unified"])
