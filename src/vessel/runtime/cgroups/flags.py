"""`vessel-runtime update` flags (runc's) -> Resources, and merging an update into what is set (pure)."""

from __future__ import annotations

from dataclasses import fields, replace

from vessel.errors import InvalidArgument
from vessel.oci.resources import BlockIO, Cpu, Memory, Pids, Resources

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

# runc update's flags, as (flag, keyword of resources_from_update_flags)
UPDATE_FLAGS = (
    ("--blkio-weight", "blkio_weight"), ("--cpu-period", "cpu_period"), ("--cpu-quota", "cpu_quota"),
    ("--cpu-rt-period", "cpu_rt_period"), ("--cpu-rt-runtime", "cpu_rt_runtime"), ("--cpu-share", "cpu_share"),
    ("--cpuset-cpus", "cpuset_cpus"), ("--cpuset-mems", "cpuset_mems"), ("--memory", "memory"),
    ("--memory-reservation", "memory_reservation"), ("--memory-swap", "memory_swap"), ("--pids-limit", "pids_limit"),
)


def parse_size(value: str | int, what: str = "size") -> int:
    """Bytes from "512", "512k", "64m", "1g", "1.5G", "2MiB"... (binary units); "-1" stays -1 (unlimited)."""
    if isinstance(value, int):
        return value
    text = value.strip().lower()
    if text == "-1":
        return -1
    for suffix in ("ib", "b"):  # 2MiB, 2MB, 512b
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    unit = ""
    if text and text[-1] in _UNITS:
        unit, text = text[-1], text[:-1]
    number = text
    try:
        amount = float(number) if "." in number else int(number)
    except ValueError:
        raise InvalidArgument(f"{what} {value!r} is not a size", value=value,
                              hint='a number of bytes with an optional unit: 512m, 1g, or -1 for unlimited') from None
    if amount < 0:
        raise InvalidArgument(f"{what} {value!r} is negative", value=value, hint="use -1 for unlimited")
    return int(amount * _UNITS.get(unit, 1))


def _size(value: str | int | None, what: str) -> int | None:
    return None if value is None else parse_size(value, what)


def _int(value: str | int | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{what} {value!r} is not an integer", value=value) from None


def resources_from_update_flags(*, blkio_weight=None, cpu_period=None, cpu_quota=None, cpu_rt_period=None,
                                cpu_rt_runtime=None, cpu_share=None, cpuset_cpus=None, cpuset_mems=None,
                                memory=None, memory_reservation=None, memory_swap=None,
                                pids_limit=None) -> Resources:
    """The Resources that runc's `update` flags describe; unset flags stay None (left as they are)."""
    mem = Memory(limit=_size(memory, "--memory"), reservation=_size(memory_reservation, "--memory-reservation"),
                 swap=_size(memory_swap, "--memory-swap"))
    cpu = Cpu(shares=_int(cpu_share, "--cpu-share"), quota=_int(cpu_quota, "--cpu-quota"),
              period=_int(cpu_period, "--cpu-period"), realtime_runtime=_int(cpu_rt_runtime, "--cpu-rt-runtime"),
              realtime_period=_int(cpu_rt_period, "--cpu-rt-period"), cpus=cpuset_cpus or None,
              mems=cpuset_mems or None)
    weight = _int(blkio_weight, "--blkio-weight")
    pids = _int(pids_limit, "--pids-limit")
    return Resources(
        memory=mem if mem != Memory() else None,
        cpu=cpu if cpu != Cpu() else None,
        block_io=BlockIO(weight=weight) if weight is not None else None,
        pids=Pids(limit=pids) if pids is not None else None,
    )


def _merge_section(old, new):
    if new is None:
        return old
    if old is None:
        return new
    changes = {f.name: getattr(new, f.name) for f in fields(new)
               if getattr(new, f.name) is not None and getattr(new, f.name) != [] and getattr(new, f.name) != {}}
    return replace(old, **changes)


def merge_resources(current: Resources | None, update: Resources) -> Resources:
    """`current` with every field `update` sets replaced (what runc update does before writing)."""
    if current is None:
        return update
    changes = {}
    for f in fields(Resources):
        old, new = getattr(current, f.name), getattr(update, f.name)
        if f.name in ("memory", "cpu", "block_io", "network"):
            changes[f.name] = _merge_section(old, new)
        elif f.name == "pids":
            changes[f.name] = new if new is not None else old
        elif f.name == "unified":
            changes[f.name] = {**old, **new}
        else:  # lists and maps replaced whole when given
            changes[f.name] = new if new else old
    merged = Resources(**changes)
    mem = merged.memory
    if mem is not None and mem.limit and mem.swap and mem.limit > 0 and 0 < mem.swap < mem.limit:
        raise InvalidArgument(f"memory limit {mem.limit} is above the memory+swap limit {mem.swap}",
                              limit=mem.limit, swap=mem.swap, hint="update --memory-swap at the same time")
    return merged


def update_from_flags(current: Resources | None = None, **flags) -> Resources:
    """`current` updated with runc-style flags (keywords as in resources_from_update_flags)."""
    return merge_resources(current, resources_from_update_flags(**flags))
