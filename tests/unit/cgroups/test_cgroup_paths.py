"""resolve() and cgroup_paths(): from linux.cgroupsPath to one directory per hierarchy."""

from __future__ import annotations

import pytest

from vessel.errors import InvalidArgument
from vessel.runtime.cgroups import Layout, Manager, cgroup_paths, expand_slice, resolve

pytestmark = pytest.mark.unit


@pytest.fixture
def hybrid(layout_of):
    return layout_of("hybrid")


@pytest.mark.parametrize("given, expected", [
    (None, "/vessel/c1"),
    ("", "/vessel/c1"),
    ("/a/b", "/a/b"),
    ("//a///b/", "/a/b"),
    ("a/b", "a/b"),
])
def test_resolve_plain(hybrid, given, expected):
    assert resolve(hybrid, given, "c1") == expected


@pytest.mark.parametrize("bad", ["/a/../b", "../x", "a/./b", "/"])
def test_resolve_refuses_escapes_and_root(hybrid, bad):
    with pytest.raises(InvalidArgument):
        resolve(hybrid, bad, "c1")


def test_resolve_default_needs_a_usable_id(hybrid):
    with pytest.raises(InvalidArgument, match="cannot name a cgroup"):
        resolve(hybrid, None, "a/b")


@pytest.mark.parametrize("given, expected", [
    ("system.slice:vessel:c1", "/system.slice/vessel-c1.scope"),
    ("machine-test.slice:libpod:abc", "/machine.slice/machine-test.slice/libpod-abc.scope"),
    (":vessel:c1", "/system.slice/vessel-c1.scope"),  # default slice
    ("user.slice::c1", "/user.slice/c1.scope"),  # no prefix
    ("-.slice:vessel:c1", "/vessel-c1.scope"),  # the root slice
    ("machine.slice:x:sub.slice", "/machine.slice/sub.slice"),
])
def test_resolve_systemd_style(hybrid, given, expected):
    assert resolve(hybrid, given, "c1", systemd=True) == expected


@pytest.mark.parametrize("bad", ["/plain/path", "a:b", "a.slice:b:c:d", "nosuffix:p:n", "a--b.slice:p:n",
                                 "system.slice:p:"])
def test_resolve_systemd_rejects_malformed(hybrid, bad):
    with pytest.raises(InvalidArgument):
        resolve(hybrid, bad, "c1", systemd=True)


def test_colons_are_plain_without_systemd(hybrid):
    assert resolve(hybrid, "/a:b:c", "c1") == "/a:b:c"


def test_expand_slice():
    assert expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"
    assert expand_slice("-.slice") == "/"


def test_paths_absolute_on_hybrid(hybrid):
    paths = cgroup_paths(hybrid, "/vessel/c1")
    base = hybrid.v1["memory"].rsplit("/", 1)[0]
    assert paths["memory"] == f"{base}/memory/vessel/c1"  # absolute: not under the caller's /process_api/...
    assert paths["cpuacct"] == f"{base}/cpuacct/vessel/c1"
    assert paths["name=systemd"] == f"{base}/systemd/vessel/c1"
    assert paths["unified"] == f"{base}/unified/vessel/c1"
    assert "hugetlb" not in paths  # used through the unified directory
    assert set(paths) == set(hybrid.v1) | {"unified"}


def test_paths_relative_follow_own_cgroup_per_hierarchy(hybrid):
    paths = cgroup_paths(hybrid, "sub/c1")
    base = hybrid.v1["memory"].rsplit("/", 1)[0]
    assert paths["memory"] == f"{base}/memory/process_api/4b54/sub/c1"
    assert paths["cpu"] == f"{base}/cpu/sub/c1"
    assert paths["unified"] == f"{base}/unified/sub/c1"


def test_paths_v1_comounted_share_a_directory(layout_of):
    L = layout_of("v1")
    paths = cgroup_paths(L, "c1")
    assert paths["cpu"] == paths["cpuacct"]
    assert paths["cpu"].endswith("/cpu,cpuacct/user.slice/c1")
    assert paths["freezer"].endswith("/freezer/c1")
    assert "unified" not in paths


def test_paths_v2_single_directory(layout_of):
    L = layout_of("v2")
    assert list(cgroup_paths(L, "/vessel/c1")) == ["unified"]
    rel = cgroup_paths(L, "c1")["unified"]
    assert rel.endswith("/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope/c1")


def test_paths_strip_the_mount_root_of_a_bind_mounted_subtree():
    # inside a container without a cgroup namespace: the host's /docker/abc is mounted at /sys/fs/cgroup/memory
    L = Layout(mode="v1", v1={"memory": "/sys/fs/cgroup/memory"}, own={"memory": "/docker/abc/inner"},
               offers={"/sys/fs/cgroup/memory": frozenset({"memory"})},
               roots={"/sys/fs/cgroup/memory": "/docker/abc"})
    assert cgroup_paths(L, "x")["memory"] == "/sys/fs/cgroup/memory/inner/x"
    assert cgroup_paths(L, "/x")["memory"] == "/sys/fs/cgroup/memory/x"


def test_manager_open_uses_the_same_paths(hybrid):
    m = Manager.open(hybrid, "/vessel/c1")
    assert m.paths == cgroup_paths(hybrid, "/vessel/c1")
    assert Manager.from_paths(m.paths).paths == m.paths


@pytest.mark.parametrize("bad", [{"memory": "relative/dir"}, {"memory": 3}, ["unified"]])
def test_from_paths_rejects_damaged_state(bad):
    with pytest.raises(InvalidArgument, match="saved cgroup paths"):
        Manager.from_paths(bad)
