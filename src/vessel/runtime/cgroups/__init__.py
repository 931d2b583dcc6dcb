"""cgroups for vessel-runtime: `linux.cgroupsPath` and `linux.resources` on v1, v2 and hybrid hosts.

Pipeline
--------
::

    /proc/self/mountinfo ─┐
    /proc/self/cgroup ────┴─ detect() ──> Layout            (read once; paths injected, fixtures in tests)
    linux.cgroupsPath ──────── resolve(layout, ...) ──> "/vessel/<id>"      (pure)
    Layout + path ──────────── Manager.open() ──> Manager.paths {controller|"unified": directory}
    Manager.paths + Resources ─ plan ──> Plan(writes, warnings)             (pure, ordered)
    Manager.create/apply/add/freeze/thaw/stats/kill_all/destroy             (the shell: mkdir, write, rmdir)

Terms
-----
* **v1**: one hierarchy per controller (or group of co-mounted controllers), e.g.
  /sys/fs/cgroup/memory.  **v2**: the single "unified" hierarchy.  **hybrid**: v1
  controllers plus a cgroup2 mount (systemd's /sys/fs/cgroup/unified) that holds the
  controllers no v1 hierarchy took; on this project's CI host that is hugetlb only.
* **Layout** (`layout.py`): mode, v1 controller -> mount point, the unified mount,
  the caller's own cgroup per hierarchy, what each hierarchy offers, the mount's
  root inside its hierarchy, and whether v1 accounts swap (memsw).
* **paths** (`Manager.paths`): every v1 controller (named hierarchies too, e.g.
  "name=systemd") -> the container's directory there, plus "unified" -> its
  directory in the cgroup2 hierarchy.  On hybrid the unified directory is always
  made (process tracking, cgroup.kill, and the controllers only v2 has); on v2 it
  is the only entry.  A controller is used through v1 when it has its own key, and
  through v2 when the unified directory's cgroup.controllers lists it.  paths is
  JSON-serialisable and is the whole state: `Manager.from_paths` re-opens it.

Paths (`paths.py`)
------------------
None -> "/vessel/<id>"; absolute -> as is, from each hierarchy's root; relative ->
kept relative and put under the caller's own cgroup of *each* hierarchy by
`Manager.open` (they differ: the runtime may sit in memory:/process_api/x but
cpu:/); "slice:prefix:name" with systemd=True -> systemd's cgroupfs placement,
"/machine.slice/machine-a.slice/prefix-name.scope" (no systemd is asked: we make
the directories).  ".." is refused everywhere.

Mapping (spec -> files)
-----------------------
=================  =====================================  ==========================================
spec               v1                                     v2
=================  =====================================  ==========================================
memory.limit       memory.limit_in_bytes                  memory.max (-1 -> max)
memory.reservation memory.soft_limit_in_bytes             memory.low
memory.swap        memory.memsw.limit_in_bytes            memory.swap.max = swap - limit (the spec's
                   (warning when swap is not accounted)   swap is memory+swap)
disableOOMKiller   memory.oom_control                     warning: not possible on v2
swappiness         memory.swappiness                      warning: no such knob
kernelTCP          memory.kmem.tcp.limit_in_bytes         warning; kernel: warning (deprecated)
cpu.shares         cpu.shares                             cpu.weight = convert.cpu_shares_to_weight
quota/period       cpu.cfs_period_us, cpu.cfs_quota_us    cpu.max "quota period" (default 100000)
burst/idle/rt      cpu.cfs_burst_us, cpu.idle, cpu.rt_*   cpu.max.burst, cpu.idle; rt: warning
cpus/mems          cpuset.cpus, cpuset.mems               same names
pids.limit         pids.max (<= 0 -> max)                 same
blockIO.weight     blkio.weight, else blkio.bfq.weight    io.bfq.weight, else io.weight (converted)
throttles          blkio.throttle.*_device "M:m rate"     io.max "M:m rbps= wbps= riops= wiops="
hugepageLimits     hugetlb.<size>.limit_in_bytes (+rsvd)  hugetlb.<size>.max (+rsvd)
devices            devices.deny / devices.allow in order, warning: not enforced (no eBPF filter is
                   then the default devices allowed       attached; /dev contents still limit access)
network            net_cls.classid, net_prio.ifpriomap    warning
rdma               rdma.max                               rdma.max
unified            warning (no v2 on the host)            written verbatim (hybrid: only for
                                                          controllers that live in v2)
=================  =====================================  ==========================================

A controller the host lacks is a warning ("cgroup controller 'pids' is not
available on this host: linux.resources.pids ignored"), never a crash; so is a
feature file the kernel lacks where the spec field is optional (burst, rt, bfq).
A write the kernel refuses raises `SystemFailure` naming the file, the value and a hint.

Ordering
--------
* cpuset first; `create` copies cpuset.cpus/mems down from the parent on v1, since
  no task may join an empty cpuset.
* v1 memory: the kernel keeps limit <= memsw at every moment, so when the limit goes
  up memsw is written first, when it goes down the limit is written first.  The
  plan is pure, so `Manager.apply` reads the live limits into `Current` first
  (a fresh cgroup is all unlimited: limit first).  Raising the limit above an
  existing memsw without a new swap is refused with a hint, as runc does.
* cpu period before quota; the unified map last.
* v2: `create` enables every offered controller in cgroup.subtree_control from the
  hierarchy's root down to the leaf's parent (never in the leaf: it holds processes).

Lifecycle
---------
`create` (mkdir -p everywhere, remembers what it made; a cgroup that already holds
processes is someone else's: Conflict, and that Manager then refuses to signal or
remove anything, so a failed create's clean-up cannot hurt the owner) -> `apply` -> `add(pid)`
(cgroup.procs in every directory) -> `freeze`/`thaw` (v1 freezer.state, waiting for
FROZEN; else v2 cgroup.freeze, waiting for cgroup.events "frozen 1") -> `stats` ->
`kill_all` (SIGKILL through cgroup.kill where the unified directory has it, which on
hybrid hosts covers the v1 side too; otherwise freeze, signal every pid, thaw) ->
`destroy` (rmdir sub-cgroups then the leaf in every hierarchy, retrying while dying
tasks drain, then the parents this Manager created if they are empty).  Shared
parents such as /vessel stay when another container still uses them.

Testing
-------
`detect(mountinfo, proc_cgroup, sysroot=...)` reads fixture hosts (tests/unit/cgroups/fixtures:
v1, v2, hybrid); the planners are pure and take a `Target` (paths, unified controllers,
memsw, live `Current` limits) so every mapping and ordering rule is checked without root.
tests/integration/test_cgroups.py drives real cgroups on the CI host.

Import cost: stdlib only (os, errno, math, signal, time, dataclasses), so `vessel-runtime`
pays nothing for it on its hot path.
"""

from __future__ import annotations

from vessel.runtime.cgroups.convert import blkio_weight_to_io_weight, cpu_shares_to_weight
from vessel.runtime.cgroups.devices import DEFAULT_ALLOW
from vessel.runtime.cgroups.flags import (UPDATE_FLAGS, merge_resources, parse_size, resources_from_update_flags,
                                          update_from_flags)
from vessel.runtime.cgroups.layout import UNIFIED, Layout, Mount, detect, parse_mountinfo, parse_proc_cgroup
from vessel.runtime.cgroups.manager import Manager
from vessel.runtime.cgroups.model import Current, Plan, Target, Write
from vessel.runtime.cgroups.paths import cgroup_paths, expand_slice, resolve
from vessel.runtime.cgroups.plan import plan, plan_target, target_for

__all__ = [
    "DEFAULT_ALLOW", "UNIFIED", "UPDATE_FLAGS", "Current", "Layout", "Manager", "Mount", "Plan", "Target", "Write",
    "blkio_weight_to_io_weight", "cgroup_paths", "cpu_shares_to_weight", "detect", "expand_slice",
    "merge_resources", "parse_mountinfo", "parse_proc_cgroup", "parse_size", "plan", "plan_target", "resolve",
    "resources_from_update_flags", "target_for", "update_from_flags",
]
