"""vessel.runtime.cgroups on this machine's real cgroups (root; hybrid on the CI host).

Every test makes its own uniquely named cgroup and removes it in a fixture
finaliser, checking that no directory is left behind.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from vessel.errors import Conflict, InvalidArgument, SystemFailure
from vessel.oci.resources import BlockIO, Cpu, DeviceRule, HugepageLimit, Memory, Pids, Resources
from vessel.runtime.cgroups import Layout, Manager, detect, resolve

pytestmark = pytest.mark.integration

MiB = 1 << 20

def wait_until(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def state_letter(pid: int) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("State:"):
                return line.split()[1]
    raise AssertionError(f"no State in /proc/{pid}/status")


def read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()


@pytest.fixture(scope="module")
def layout() -> Layout:
    return detect()


class Cgroups:
    """Hands out Managers on unique paths and removes everything they made."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.managers: list[Manager] = []
        self.procs: list[subprocess.Popen] = []

    def new(self, layout: Layout | None = None, shared_parent: bool = False) -> Manager:
        """A Manager on a unique path: under its own parent (which destroy must remove as well), or under
        the shared /vessel parent that the runtime's containers use."""
        layout = layout or self.layout
        name = f"itest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        path = resolve(layout, None, name) if shared_parent else resolve(layout, f"/vessel-{name}/c", name)
        m = Manager.open(layout, path)
        self.managers.append(m)
        return m

    def spawn_in(self, m: Manager, code: str) -> subprocess.Popen:
        """A Python child that waits on stdin until it has been moved into `m`, then runs `code`."""
        p = subprocess.Popen([sys.executable, "-c", f"import sys; sys.stdin.readline()\n{code}"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(p)
        m.add(p.pid)
        p.stdin.write(b"go\n")
        p.stdin.flush()
        return p

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(5)
            for stream in (p.stdin, p.stdout, p.stderr):
                stream.close()
        for m in self.managers:
            if any(os.path.isdir(d) for d in m.paths.values()):
                m.kill_all(signal.SIGKILL)
                m.destroy()
            left = [d for d in m.paths.values() if os.path.exists(d)]
            # a private parent (/vessel-itest-...) must go too; the shared /vessel may hold other containers
            left += [os.path.dirname(d) for d in m.paths.values()
                     if "/vessel-itest-" in d and os.path.exists(os.path.dirname(d))]
            assert not left, f"cgroup directories left behind: {left}"


@pytest.fixture
def cgroups(layout):
    c = Cgroups(layout)
    try:
        yield c
    finally:
        c.cleanup()


def test_limits_are_written_and_read_back(cgroups, layout):
    m = cgroups.new()
    assert m.create() == []
    res = Resources(
        memory=Memory(limit=64 * MiB, reservation=32 * MiB, swap=128 * MiB, disable_oom_killer=False),
        cpu=Cpu(shares=512, quota=50000, period=100000, cpus="0", mems="0"),
        pids=Pids(limit=16),
        block_io=BlockIO(weight=300),
        hugepage_limits=[HugepageLimit("2MB", 4 * MiB)],
        devices=[DeviceRule(allow=False, access="rwm"), DeviceRule(allow=True, type="c", major=10, minor=200,
                                                                   access="rw")],
    )
    warnings = m.apply(res)
    where = layout.where
    if layout.mode == "v2":
        assert read(m.paths["unified"], "memory.max") == str(64 * MiB)
        return  # the remaining checks are the v1/hybrid files of the CI host
    assert warnings == []
    assert read(m.paths["memory"], "memory.limit_in_bytes") == str(64 * MiB)
    assert read(m.paths["memory"], "memory.soft_limit_in_bytes") == str(32 * MiB)
    if layout.memsw:
        assert read(m.paths["memory"], "memory.memsw.limit_in_bytes") == str(128 * MiB)
    assert "oom_kill_disable 0" in read(m.paths["memory"], "memory.oom_control")
    assert read(m.paths["cpu"], "cpu.shares") == "512"
    assert read(m.paths["cpu"], "cpu.cfs_quota_us") == "50000"
    assert read(m.paths["cpu"], "cpu.cfs_period_us") == "100000"
    assert read(m.paths["cpuset"], "cpuset.cpus") == "0" and read(m.paths["cpuset"], "cpuset.mems") == "0"
    assert read(m.paths["pids"], "pids.max") == "16"
    weight_file = "blkio.weight" if os.path.exists(os.path.join(m.paths["blkio"], "blkio.weight")) \
        else "blkio.bfq.weight"
    assert read(m.paths["blkio"], weight_file).split()[-1] == "300"
    devices = read(m.paths["devices"], "devices.list").splitlines()
    assert "c 10:200 rw" in devices and "c 1:3 rwm" in devices and "a *:* rwm" not in devices
    if where("hugetlb") == "v2":  # this host: hugetlb lives in the unified hierarchy
        assert read(m.paths["unified"], "hugetlb.2MB.max") == str(4 * MiB)


def test_process_freeze_thaw_stats_kill_destroy(cgroups):
    m = cgroups.new(shared_parent=True)  # /vessel/<id>, as the runtime makes it
    m.create()
    m.apply(Resources(pids=Pids(limit=32)))
    p = cgroups.spawn_in(m, "while True: pass")  # busy: State R while it runs
    assert m.pids() == [p.pid]
    with open(f"/proc/{p.pid}/cgroup") as f:
        membership = dict(line.split(":", 2)[1:] for line in f.read().splitlines())
    # /proc/PID/cgroup names the cgroup in every hierarchy: each must be the end of the Manager's directory
    for controllers, cgroup in membership.items():
        key = "unified" if controllers == "" else controllers.split(",")[0]
        if key in m.paths:
            assert m.paths[key].endswith(cgroup), (key, cgroup, m.paths[key])
    wait_until(lambda: state_letter(p.pid) == "R", what="busy child running")

    m.freeze()
    assert m.frozen()
    # a frozen task is off the run queue: v1 freezer reports D, the v2 freezer S
    assert state_letter(p.pid) in ("D", "S")
    usage_frozen = m.stats()["cpu"]["usage_ns"]
    time.sleep(0.05)
    assert m.stats()["cpu"]["usage_ns"] == usage_frozen  # no CPU time while frozen
    m.thaw()
    assert not m.frozen()
    wait_until(lambda: state_letter(p.pid) == "R", what="thawed child running again")

    s = m.stats()
    assert s["pids"] == {"current": 1, "limit": 32}
    assert s["cpu"]["usage_ns"] > 0 and s["memory"]["usage"] is not None

    m.kill_all(signal.SIGKILL)
    assert p.wait(5) == -signal.SIGKILL
    m.destroy()
    assert not any(os.path.exists(d) for d in m.paths.values())


def test_destroy_refuses_while_processes_live(cgroups):
    m = cgroups.new()
    m.create()
    p = cgroups.spawn_in(m, "import time; time.sleep(60)")
    with pytest.raises(SystemFailure, match="cannot remove cgroup") as err:
        m.destroy(timeout=0.1)
    assert str(p.pid) in str(err.value)  # the hint names who is still inside
    m.kill_all(signal.SIGKILL)
    p.wait(5)
    m.destroy()
    assert not any(os.path.exists(d) for d in m.paths.values())


def test_second_container_on_a_busy_cgroup_is_refused_and_cannot_hurt_the_first(cgroups):
    first = cgroups.new()
    first.create()
    p = cgroups.spawn_in(first, "import time; time.sleep(60)")
    intruder = Manager.from_paths(dict(first.paths))
    with pytest.raises(Conflict, match="already holds processes"):
        intruder.create()
    with pytest.raises(Conflict):
        intruder.kill_all(signal.SIGKILL)  # what a failed create's clean-up would do
    with pytest.raises(Conflict):
        intruder.destroy()
    assert p.poll() is None and first.pids() == [p.pid]


def test_update_raises_and_lowers_the_memory_limit(cgroups, layout):
    m = cgroups.new()
    m.create()
    swap = layout.memsw
    m.apply(Resources(memory=Memory(limit=64 * MiB, swap=128 * MiB if swap else None)))
    p = cgroups.spawn_in(m, "import time; time.sleep(60)")  # a running container, as `update` sees it
    reopened = Manager.from_paths(dict(m.paths))  # update runs in a later process, from the saved paths
    mem_dir = m.paths.get("memory", m.paths.get("unified"))
    limit_file = "memory.limit_in_bytes" if "memory" in m.paths else "memory.max"

    assert reopened.apply(Resources(memory=Memory(limit=256 * MiB, swap=512 * MiB if swap else None))) == []
    assert read(mem_dir, limit_file) == str(256 * MiB)
    if swap and "memory" in m.paths:
        assert read(mem_dir, "memory.memsw.limit_in_bytes") == str(512 * MiB)

    assert reopened.apply(Resources(memory=Memory(limit=32 * MiB, swap=48 * MiB if swap else None))) == []
    assert read(mem_dir, limit_file) == str(32 * MiB)
    if swap and "memory" in m.paths:
        assert read(mem_dir, "memory.memsw.limit_in_bytes") == str(48 * MiB)
        with pytest.raises(InvalidArgument, match="memory.swap at the same time"):
            reopened.apply(Resources(memory=Memory(limit=100 * MiB)))
    assert p.poll() is None  # the process lived through it


def test_memory_limit_oom_kills_and_is_counted(cgroups):
    m = cgroups.new()
    m.create()
    m.apply(Resources(memory=Memory(limit=32 * MiB, swap=32 * MiB)))
    p = cgroups.spawn_in(m, "b = bytearray(256 << 20); b[::4096] = b'x' * len(b[::4096])")
    assert p.wait(20) == -signal.SIGKILL
    assert m.stats()["memory"]["oom_kills"] >= 1


def test_pids_limit_stops_forks(cgroups):
    m = cgroups.new()
    m.create()
    m.apply(Resources(pids=Pids(limit=1)))
    p = cgroups.spawn_in(m, "import os\ntry:\n    os.fork() or os._exit(0)\n    print('forked')\n"
                            "except BlockingIOError:\n    print('refused')")
    out, _err = p.communicate(timeout=10)
    assert out.decode().strip() == "refused"


def test_missing_controller_is_a_warning_not_a_crash(cgroups, layout):
    if "pids" in layout.v1:
        without = dataclasses.replace(layout, v1={k: v for k, v in layout.v1.items() if k != "pids"})
    else:
        without = dataclasses.replace(layout, offers={**layout.offers, layout.unified: layout.offers[layout.unified]
                                                      - {"pids"}})
    m = cgroups.new(without)
    m.create()
    warnings = m.apply(Resources(pids=Pids(limit=5), cpu=Cpu(shares=256)))
    assert any("'pids' is not available" in w for w in warnings)
    assert "pids" not in m.paths
    cpu_dir = m.paths.get("cpu")
    if cpu_dir:
        assert read(cpu_dir, "cpu.shares") == "256"  # the rest applied


def test_unified_directory_alone_freezes_and_kills(cgroups, layout):
    """The cgroup v2 path of the Manager (cgroup.freeze, cgroup.kill, subtree_control, v2 hugetlb files),
    exercised through the unified hierarchy even on a hybrid host."""
    if layout.unified is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    m = cgroups.new(dataclasses.replace(layout, v1={}, mode="v2"))
    assert list(m.paths) == ["unified"]
    m.create()
    if "hugetlb" in layout.unified_controllers():
        assert m.apply(Resources(hugepage_limits=[HugepageLimit("2MB", 2 * MiB)])) == []
        assert read(m.paths["unified"], "hugetlb.2MB.max") == str(2 * MiB)
    p = cgroups.spawn_in(m, "while True: pass")
    wait_until(lambda: state_letter(p.pid) == "R", what="busy child running")
    m.freeze()
    assert m.frozen() and read(m.paths["unified"], "cgroup.freeze") == "1"
    assert state_letter(p.pid) == "S"  # the v2 freezer parks tasks in an interruptible sleep
    m.thaw()
    wait_until(lambda: state_letter(p.pid) == "R", what="thawed child running again")
    m.kill_all(signal.SIGKILL)  # via cgroup.kill
    assert p.wait(5) == -signal.SIGKILL
    m.destroy()
    assert not os.path.exists(m.paths["unified"])
