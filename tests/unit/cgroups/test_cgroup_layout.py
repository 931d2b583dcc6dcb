"""detect(): the cgroup layout read from mountinfo and /proc/self/cgroup fixtures."""

from __future__ import annotations

import pytest

from vessel.errors import SystemFailure, Unsupported
from vessel.runtime.cgroups import detect, parse_mountinfo, parse_proc_cgroup

pytestmark = pytest.mark.unit


def test_hybrid_host_like_ci(layout_of, fixtures_dir):
    L = layout_of("hybrid")
    root = str(fixtures_dir / "hybrid")
    assert L.mode == "hybrid"
    assert L.unified == root + "/sys/fs/cgroup/unified"
    assert L.v1["cpu"] == root + "/sys/fs/cgroup/cpu"
    assert L.v1["cpuacct"] == root + "/sys/fs/cgroup/cpuacct"  # separate mounts on this host
    assert L.v1["name=systemd"] == root + "/sys/fs/cgroup/systemd"
    assert "hugetlb" not in L.v1
    assert L.offers[L.unified] == frozenset({"hugetlb"})
    assert L.unified_controllers() == frozenset({"hugetlb"})
    assert L.own["memory"] == "/process_api/4b54" and L.own["cpu"] == "/" and L.own["unified"] == "/"
    assert L.memsw is True
    assert L.where("hugetlb") == "v2" and L.where("memory") == "v1" and L.where("rdma") is None


def test_v1_host_with_comounted_controllers(layout_of, fixtures_dir):
    L = layout_of("v1")
    base = str(fixtures_dir / "v1") + "/sys/fs/cgroup/"
    assert L.mode == "v1" and L.unified is None
    assert L.v1["cpu"] == L.v1["cpuacct"] == base + "cpu,cpuacct"
    assert L.v1["net_cls"] == L.v1["net_prio"] == base + "net_cls,net_prio"
    assert L.offers[base + "cpu,cpuacct"] == frozenset({"cpu", "cpuacct"})
    # release_agent= and xattr are mount options, not controllers
    assert L.offers[base + "systemd"] == frozenset({"name=systemd"})
    assert L.own["cpuacct"] == "/user.slice" and L.own["name=systemd"] == "/user.slice/user-0.slice/session-3.scope"
    assert L.memsw is False  # no memory.memsw.* in the fixture: swap not accounted
    assert L.unified_controllers() == frozenset()


def test_v2_host(layout_of, fixtures_dir):
    L = layout_of("v2")
    assert L.mode == "v2" and L.v1 == {}
    assert L.unified == str(fixtures_dir / "v2") + "/sys/fs/cgroup"
    assert L.unified_controllers() == frozenset({"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"})
    assert L.own == {"unified": "/user.slice/user-1000.slice/session-2.scope"}
    assert L.where("memory") == "v2" and L.where("devices") is None


def test_real_host_defaults_read_proc():
    # the defaults point at /proc/self; whatever this machine is, detect() must say something coherent
    L = detect()
    assert L.mode in ("v1", "v2", "hybrid")
    assert (L.unified is not None) == (L.mode != "v1")


def test_mountinfo_escapes_and_optional_fields():
    text = ("30 25 0:26 / /sys/fs/cgroup/my\\040memory rw,relatime shared:12 master:3 - cgroup cgroup rw,memory\n"
            "31 25 0:27 /docker/abc /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset,clone_children\n"
            "32 25 0:28 / /mnt/x rw - tmpfs tmpfs rw\n"
            "garbage line\n")
    mounts = parse_mountinfo(text)
    assert [m.mountpoint for m in mounts] == ["/sys/fs/cgroup/my memory", "/sys/fs/cgroup/cpuset"]
    assert mounts[0].controllers == frozenset({"memory"})
    assert mounts[1].root == "/docker/abc" and mounts[1].controllers == frozenset({"cpuset"})


def test_same_hierarchy_mounted_twice_uses_first(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text("1 0 0:1 / /a/memory rw - cgroup cgroup rw,memory\n"
                  "2 0 0:1 / /b/memory rw - cgroup cgroup rw,memory\n")
    pc = tmp_path / "cgroup"
    pc.write_text("4:memory:/\n")
    L = detect(mi, pc, sysroot=tmp_path)
    assert L.v1 == {"memory": f"{tmp_path}/a/memory"} and L.mode == "v1"


def test_proc_cgroup_parsing():
    own = parse_proc_cgroup("3:cpu,cpuacct:/a\n1:name=systemd:/s\n0::/u/v (deleted)\nbad\n")
    assert own == {"cpu": "/a", "cpuacct": "/a", "name=systemd": "/s", "unified": "/u/v"}


def test_no_cgroup_mounted_is_unsupported(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
    pc = tmp_path / "cgroup"
    pc.write_text("")
    with pytest.raises(Unsupported, match="no cgroup hierarchy"):
        detect(mi, pc)


def test_only_named_v1_plus_cgroup2_is_v2(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
                  "2 0 0:2 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n")
    pc = tmp_path / "cgroup"
    pc.write_text("1:name=systemd:/\n0::/\n")
    L = detect(mi, pc, sysroot=tmp_path)
    assert L.mode == "v2" and L.v1 == {"name=systemd": f"{tmp_path}/sys/fs/cgroup/systemd"}


def test_unreadable_proc_file_is_system_failure(tmp_path):
    with pytest.raises(SystemFailure, match="cannot read the cgroup layout"):
        detect(tmp_path / "nope", tmp_path / "nope2")
