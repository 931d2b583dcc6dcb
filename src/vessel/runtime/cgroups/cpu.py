"""linux.resources.cpu -> cpu and cpuset controller writes (pure)."""

from __future__ import annotations

from vessel.errors import InvalidArgument
from vessel.oci.resources import Cpu
from vessel.runtime.cgroups.convert import CPU_SHARES_MAX, CPU_SHARES_MIN, cpu_max, cpu_shares_to_weight
from vessel.runtime.cgroups.model import Collector, Target


def _check_list(value: str, what: str) -> None:
    """cpuset lists: "0-3,5,7-8" (the kernel parses them; this only catches obvious garbage early)."""
    ok = set("0123456789,-")
    if not value.strip() or not set(value.strip()) <= ok:
        raise InvalidArgument(f"cpu.{what} {value!r} is not a list like 0-3,5", value=value,
                              hint="use comma-separated numbers and ranges")


def plan_cpuset(target: Target, cpu: Cpu, out: Collector) -> None:
    """cpus and mems: the same file names on v1 and v2."""
    if not cpu.cpus and not cpu.mems:
        return
    located = target.locate("cpuset")
    if located is None:
        out.missing("cpuset", "linux.resources.cpu.cpus/mems")
        return
    d, _version = located
    if cpu.cpus:
        _check_list(cpu.cpus, "cpus")
        out.write(d, "cpuset.cpus", cpu.cpus.strip())
    if cpu.mems:
        _check_list(cpu.mems, "mems")
        out.write(d, "cpuset.mems", cpu.mems.strip())


def _wants_cpu(cpu: Cpu) -> bool:
    return any(v is not None and v != 0 for v in (cpu.shares, cpu.quota, cpu.period, cpu.burst,
                                                  cpu.realtime_runtime, cpu.realtime_period)) or cpu.idle is not None


def plan_cpu(target: Target, cpu: Cpu, out: Collector) -> None:
    if not _wants_cpu(cpu):
        return
    located = target.locate("cpu")
    if located is None:
        out.missing("cpu", "linux.resources.cpu shares/quota/period")
        return
    d, version = located
    if cpu.shares and not CPU_SHARES_MIN <= cpu.shares <= CPU_SHARES_MAX:
        raise InvalidArgument(f"cpu.shares {cpu.shares} is out of range", value=cpu.shares,
                              hint=f"shares are {CPU_SHARES_MIN}..{CPU_SHARES_MAX} (1024 is the default)")
    if version == 1:
        _v1(d, cpu, out)
    else:
        _v2(d, cpu, out)


def _v1(d: str, cpu: Cpu, out: Collector) -> None:
    if cpu.shares:
        out.write(d, "cpu.shares", cpu.shares)
    # period before quota: the pair is checked against the parent's bandwidth once the quota is set
    if cpu.period:
        out.write(d, "cpu.cfs_period_us", cpu.period)
    if cpu.quota:
        out.write(d, "cpu.cfs_quota_us", -1 if cpu.quota < 0 else cpu.quota)
    if cpu.burst is not None:
        out.write(d, "cpu.cfs_burst_us", cpu.burst,
                  if_missing="linux.resources.cpu.burst is ignored: this kernel has no cpu.cfs_burst_us")
    if cpu.realtime_period:
        out.write(d, "cpu.rt_period_us", cpu.realtime_period,
                  if_missing="linux.resources.cpu.realtimePeriod is ignored: no RT group scheduling in this kernel")
    if cpu.realtime_runtime:
        out.write(d, "cpu.rt_runtime_us", cpu.realtime_runtime,
                  if_missing="linux.resources.cpu.realtimeRuntime is ignored: no RT group scheduling in this kernel")
    if cpu.idle is not None:
        out.write(d, "cpu.idle", cpu.idle, if_missing="linux.resources.cpu.idle is ignored: no cpu.idle here")


def _v2(d: str, cpu: Cpu, out: Collector) -> None:
    if cpu.shares:
        out.write(d, "cpu.weight", cpu_shares_to_weight(cpu.shares))
    value = cpu_max(cpu.quota, cpu.period)
    if value is not None:
        out.write(d, "cpu.max", value)
    if cpu.burst is not None:
        out.write(d, "cpu.max.burst", cpu.burst,
                  if_missing="linux.resources.cpu.burst is ignored: this kernel has no cpu.max.burst")
    if cpu.realtime_period or cpu.realtime_runtime:
        out.warn("linux.resources.cpu.realtimePeriod/realtimeRuntime are ignored on cgroup v2 "
                 "(no real-time group scheduling there)")
    if cpu.idle is not None:
        out.write(d, "cpu.idle", cpu.idle, if_missing="linux.resources.cpu.idle is ignored: no cpu.idle here")
