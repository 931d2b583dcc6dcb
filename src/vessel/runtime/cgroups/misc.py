"""pids, hugetlb, network, rdma and the unified map -> controller writes (pure)."""

from __future__ import annotations

from vessel.errors import InvalidArgument
from vessel.oci.resources import HugepageLimit, Network, Pids
from vessel.runtime.cgroups.layout import UNIFIED
from vessel.runtime.cgroups.model import Collector, Target


def plan_pids(target: Target, pids: Pids, out: Collector) -> None:
    located = target.locate("pids")
    if located is None:
        out.missing("pids", "linux.resources.pids")
        return
    out.write(located[0], "pids.max", pids.limit if pids.limit > 0 else "max")


def _check_page_size(size: str) -> None:
    digits = size[:-2]
    if len(size) < 3 or not digits.isdigit() or size[-2:] not in ("KB", "MB", "GB"):
        raise InvalidArgument(f"hugepage pageSize {size!r} is not like 2MB or 1GB", value=size,
                              hint="the size as the kernel names it in hugetlb.<size>.*: 64KB, 2MB, 1GB...")


def plan_hugetlb(target: Target, limits: list[HugepageLimit], out: Collector) -> None:
    if not limits:
        return
    located = target.locate("hugetlb")
    if located is None:
        out.missing("hugetlb", "linux.resources.hugepageLimits")
        return
    d, version = located
    for hp in limits:
        _check_page_size(hp.page_size)
        if version == 1:
            out.write(d, f"hugetlb.{hp.page_size}.limit_in_bytes", hp.limit)
            # reservations (Linux 5.7+) are limited the same, so pages cannot be reserved past the limit
            out.write(d, f"hugetlb.{hp.page_size}.rsvd.limit_in_bytes", hp.limit, if_missing="")
        else:
            out.write(d, f"hugetlb.{hp.page_size}.max", hp.limit if hp.limit >= 0 else "max")
            out.write(d, f"hugetlb.{hp.page_size}.rsvd.max", hp.limit if hp.limit >= 0 else "max", if_missing="")


def plan_network(target: Target, net: Network, out: Collector) -> None:
    if net.class_id is None and not net.priorities:
        return
    if net.class_id is not None:
        located = target.locate("net_cls")
        if located is None or located[1] == 2:
            out.missing("net_cls", "linux.resources.network.classID")
        else:
            out.write(located[0], "net_cls.classid", net.class_id)
    if net.priorities:
        located = target.locate("net_prio")
        if located is None or located[1] == 2:
            out.missing("net_prio", "linux.resources.network.priorities")
        else:
            for prio in net.priorities:
                out.write(located[0], "net_prio.ifpriomap", f"{prio.name} {prio.priority}")


def plan_rdma(target: Target, rdma: dict[str, dict[str, int]], out: Collector) -> None:
    if not rdma:
        return
    located = target.locate("rdma")
    if located is None:
        out.missing("rdma", "linux.resources.rdma")
        return
    for device, limits in sorted(rdma.items()):
        keys = []
        if limits.get("hcaHandles") is not None:
            keys.append(f"hca_handle={limits['hcaHandles']}")
        if limits.get("hcaObjects") is not None:
            keys.append(f"hca_object={limits['hcaObjects']}")
        if keys:
            out.write(located[0], "rdma.max", f"{device} {' '.join(keys)}")


def _check_unified_key(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or "." not in name:
        raise InvalidArgument(f"linux.resources.unified key {name!r} is not a cgroup file name", value=name,
                              hint='keys are interface files of the container\'s cgroup, e.g. "memory.high"')


def plan_unified(target: Target, unified: dict[str, str], out: Collector) -> None:
    """Written verbatim into the unified directory; on hybrid only for controllers that live there."""
    if not unified:
        return
    d = target.paths.get(UNIFIED)
    if d is None:
        out.warn("linux.resources.unified is ignored: this host has no cgroup v2 hierarchy")
        return
    for name, value in sorted(unified.items()):
        _check_unified_key(name)
        controller = name.split(".", 1)[0]
        located = target.locate(controller)
        hybrid = len(target.paths) > 1
        if controller != "cgroup" and located is not None and located[1] == 1:
            out.warn(f"linux.resources.unified[{name!r}] is ignored: controller {controller!r} is on cgroup v1 "
                     "on this host (use the matching linux.resources field)")
            continue
        if controller != "cgroup" and located is None and hybrid:
            out.missing(controller, f"linux.resources.unified[{name!r}]")
            continue
        out.write(d, name, value)
