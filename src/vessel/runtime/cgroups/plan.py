"""linux.resources -> the ordered list of cgroup file writes (pure)."""

from __future__ import annotations

from vessel.oci.resources import Resources
from vessel.runtime.cgroups.blkio import plan_blkio
from vessel.runtime.cgroups.cpu import plan_cpu, plan_cpuset
from vessel.runtime.cgroups.devices import plan_devices
from vessel.runtime.cgroups.layout import Layout
from vessel.runtime.cgroups.memory import plan_memory
from vessel.runtime.cgroups.misc import plan_hugetlb, plan_network, plan_pids, plan_rdma, plan_unified
from vessel.runtime.cgroups.model import Collector, Current, Plan, Target
from vessel.runtime.cgroups.paths import cgroup_paths


def plan_target(target: Target, resources: Resources) -> Plan:
    """The writes for `resources` into `target`, in an order the kernel accepts.

    cpuset comes first (a v1 cpuset must be populated before anything joins it),
    memory before cpu, the unified map last so it can refine anything above.
    """
    out = Collector()
    if resources.cpu is not None:
        plan_cpuset(target, resources.cpu, out)
    if resources.memory is not None:
        plan_memory(target, resources.memory, out)
    if resources.cpu is not None:
        plan_cpu(target, resources.cpu, out)
    if resources.pids is not None:
        plan_pids(target, resources.pids, out)
    if resources.block_io is not None:
        plan_blkio(target, resources.block_io, out)
    plan_hugetlb(target, resources.hugepage_limits, out)
    plan_devices(target, resources.devices, out)
    if resources.network is not None:
        plan_network(target, resources.network, out)
    plan_rdma(target, resources.rdma, out)
    plan_unified(target, resources.unified, out)
    return out.plan()


def target_for(layout: Layout, path: str, current: Current | None = None) -> Target:
    return Target(paths=cgroup_paths(layout, path), unified_controllers=layout.unified_controllers(),
                  memsw=layout.memsw, current=current or Current())


def plan(layout: Layout, path: str, resources: Resources, current: Current | None = None) -> Plan:
    """The writes that apply `resources` to cgroup `path` (see `resolve`) on this layout.

    `current` carries live limits when updating a running container; without it
    the cgroup is taken as freshly made (everything unlimited).
    """
    return plan_target(target_for(layout, path, current), resources)
