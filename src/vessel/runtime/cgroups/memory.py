"""linux.resources.memory -> memory controller writes (pure)."""

from __future__ import annotations

from vessel.errors import InvalidArgument
from vessel.oci.resources import Memory
from vessel.runtime.cgroups.convert import UNLIMITED_V1, v2_limit
from vessel.runtime.cgroups.model import Collector, Target



def _set(value: int | None) -> int | None:
    """0 means "not set" (as in runc); anything negative means unlimited (-1)."""
    if value is None or value == 0:
        return None
    return -1 if value < 0 else value


def _validate(limit: int | None, swap: int | None) -> None:
    if limit is not None and swap is not None and limit > 0 and 0 < swap < limit:
        raise InvalidArgument(f"memory.swap {swap} is smaller than memory.limit {limit}", limit=limit, swap=swap,
                              hint="memory.swap is the limit of memory plus swap, so it must be >= memory.limit")
    if limit is not None and swap is not None and limit < 0 < swap:
        raise InvalidArgument(f"memory.swap {swap} is limited while memory.limit is unlimited", swap=swap,
                              hint="memory.swap is memory plus swap: set memory.limit too, or swap to -1")


def _rank(value: int | None) -> float:
    """Limits as numbers where unlimited (None or -1) is infinity."""
    return float("inf") if value is None or value < 0 or value >= UNLIMITED_V1 else float(value)


def plan_memory(target: Target, mem: Memory, out: Collector) -> None:
    limit, swap = _set(mem.limit), _set(mem.swap)
    _validate(limit, swap)
    reservation, kernel_tcp = _set(mem.reservation), _set(mem.kernel_tcp)
    wanted = any(v is not None for v in (limit, swap, reservation, kernel_tcp, mem.swappiness,
                                         mem.disable_oom_killer, mem.kernel))
    if not wanted:
        return
    located = target.locate("memory")
    if located is None:
        out.missing("memory", "linux.resources.memory")
        return
    d, version = located
    if mem.kernel is not None and mem.kernel != 0:
        out.warn("linux.resources.memory.kernel is ignored: kernel memory limits are deprecated by Linux")
    if mem.use_hierarchy is False:
        out.warn("linux.resources.memory.useHierarchy=false is ignored: Linux always uses the hierarchy")
    if mem.swappiness is not None and not 0 <= mem.swappiness <= 100:
        raise InvalidArgument(f"memory.swappiness {mem.swappiness} is out of range", value=mem.swappiness,
                              hint="swappiness is 0..100")
    if version == 1:
        _v1(target, d, mem, limit, swap, reservation, kernel_tcp, out)
    else:
        _v2(d, mem, limit, swap, reservation, kernel_tcp, out)


def _v1(target: Target, d: str, mem: Memory, limit, swap, reservation, kernel_tcp, out: Collector) -> None:
    cur = target.current
    if swap is not None and swap > 0 and not target.memsw:
        out.warn("linux.resources.memory.swap is ignored: swap is not accounted on this host "
                 "(no memory.memsw.limit_in_bytes; boot with swapaccount=1)")
    if not target.memsw:
        swap = None
    if limit is not None and swap is None and target.memsw and _rank(limit) > _rank(cur.memsw_limit):
        raise InvalidArgument(f"memory limit {limit} is above the memory+swap limit {cur.memsw_limit} already set",
                              limit=limit, swap=cur.memsw_limit, hint="update memory.swap at the same time")
    # The kernel keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every moment, so
    # a raised limit needs the larger memsw first, a lowered one needs the smaller limit first.
    if limit is not None and swap is not None and _rank(limit) > _rank(cur.memory_limit):
        order = (("memory.memsw.limit_in_bytes", swap), ("memory.limit_in_bytes", limit))
    else:
        order = (("memory.limit_in_bytes", limit), ("memory.memsw.limit_in_bytes", swap))
    for file, value in order:
        if value is not None:
            out.write(d, file, value)
    if reservation is not None:
        out.write(d, "memory.soft_limit_in_bytes", reservation)
    if kernel_tcp is not None:
        out.write(d, "memory.kmem.tcp.limit_in_bytes", kernel_tcp,
                  if_missing="linux.resources.memory.kernelTCP is ignored: this kernel has no kmem.tcp limit")
    if mem.swappiness is not None:
        out.write(d, "memory.swappiness", mem.swappiness)
    if mem.disable_oom_killer is not None:
        out.write(d, "memory.oom_control", 1 if mem.disable_oom_killer else 0)


def _v2(d: str, mem: Memory, limit, swap, reservation, kernel_tcp, out: Collector) -> None:
    if reservation is not None:
        out.write(d, "memory.low", v2_limit(reservation))
    if limit is not None:
        out.write(d, "memory.max", v2_limit(limit))
    if swap is not None:
        # the spec's swap is memory+swap (the v1 meaning); memory.swap.max is swap alone
        if swap < 0:
            out.write(d, "memory.swap.max", "max",
                      if_missing="linux.resources.memory.swap is ignored: swap is not accounted on this host")
        elif limit is None or limit < 0:
            raise InvalidArgument(f"memory.swap {swap} needs a memory.limit on cgroup v2", swap=swap,
                                  hint="cgroup v2 limits swap alone; vessel derives it as swap - limit")
        else:
            out.write(d, "memory.swap.max", swap - limit,
                      if_missing="linux.resources.memory.swap is ignored: swap is not accounted on this host")
    if kernel_tcp is not None:
        out.warn("linux.resources.memory.kernelTCP is ignored on cgroup v2 (socket memory is part of memory.max)")
    if mem.swappiness is not None:
        out.warn("linux.resources.memory.swappiness is ignored on cgroup v2 (no per-cgroup swappiness)")
    if mem.disable_oom_killer:
        out.warn("linux.resources.memory.disableOOMKiller is ignored on cgroup v2 (the OOM killer cannot be "
                 "disabled per cgroup)")
