"""Reading a container's usage back: memory, cpu, pids (v1 files or v2 files)."""

from __future__ import annotations

import os

from vessel.runtime.cgroups import fs
from vessel.runtime.cgroups.convert import as_limit
from vessel.runtime.cgroups.layout import UNIFIED



def _memory(paths: dict[str, str], unified_ctrls: frozenset[str]) -> dict:
    d = paths.get("memory")
    if d is not None:
        return {
            "usage": fs.read_int(os.path.join(d, "memory.usage_in_bytes")),
            "max_usage": fs.read_int(os.path.join(d, "memory.max_usage_in_bytes")),
            "limit": as_limit(fs.read_int(os.path.join(d, "memory.limit_in_bytes"))),
            "swap_limit": as_limit(fs.read_int(os.path.join(d, "memory.memsw.limit_in_bytes"))),
            "oom_kills": fs.read_keyed(os.path.join(d, "memory.oom_control")).get("oom_kill", 0),
        }
    u = paths.get(UNIFIED)
    if u is not None and "memory" in unified_ctrls:
        limit = as_limit(fs.read_int(os.path.join(u, "memory.max")))
        swap = fs.read_int(os.path.join(u, "memory.swap.max"))
        return {
            "usage": fs.read_int(os.path.join(u, "memory.current")),
            "max_usage": fs.read_int(os.path.join(u, "memory.peak")),
            "limit": limit,
            "swap_limit": None if limit is None or swap is None else limit + swap,  # memory+swap, as in the spec
            "oom_kills": fs.read_keyed(os.path.join(u, "memory.events")).get("oom_kill", 0),
        }
    return {"usage": None, "max_usage": None, "limit": None, "swap_limit": None, "oom_kills": None}


def _cpu(paths: dict[str, str]) -> dict:
    out: dict = {"usage_ns": None, "user_ns": None, "system_ns": None,
                 "periods": None, "throttled_periods": None, "throttled_ns": None}
    acct = paths.get("cpuacct")
    u = paths.get(UNIFIED)
    if acct is not None:
        out["usage_ns"] = fs.read_int(os.path.join(acct, "cpuacct.usage"))
        out["user_ns"] = fs.read_int(os.path.join(acct, "cpuacct.usage_user"))
        out["system_ns"] = fs.read_int(os.path.join(acct, "cpuacct.usage_sys"))
    elif u is not None:  # cpu.stat's usage lines are core in v2: present even without the cpu controller
        stat = fs.read_keyed(os.path.join(u, "cpu.stat"))
        for key, name in (("usage_ns", "usage_usec"), ("user_ns", "user_usec"), ("system_ns", "system_usec")):
            if name in stat:
                out[key] = stat[name] * 1000
    cpu = paths.get("cpu")
    if cpu is not None:
        stat = fs.read_keyed(os.path.join(cpu, "cpu.stat"))
        out["periods"], out["throttled_periods"] = stat.get("nr_periods"), stat.get("nr_throttled")
        out["throttled_ns"] = stat.get("throttled_time")
    elif u is not None:
        stat = fs.read_keyed(os.path.join(u, "cpu.stat"))
        out["periods"], out["throttled_periods"] = stat.get("nr_periods"), stat.get("nr_throttled")
        if "throttled_usec" in stat:
            out["throttled_ns"] = stat["throttled_usec"] * 1000
    return out


def _pids(paths: dict[str, str], unified_ctrls: frozenset[str]) -> dict:
    d = paths.get("pids")
    if d is None and paths.get(UNIFIED) is not None and "pids" in unified_ctrls:
        d = paths[UNIFIED]
    if d is None:
        return {"current": None, "limit": None}
    return {"current": fs.read_int(os.path.join(d, "pids.current")),
            "limit": fs.read_int(os.path.join(d, "pids.max"))}


def read_stats(paths: dict[str, str], unified_ctrls: frozenset[str]) -> dict:
    """None where the host cannot tell (controller or file missing)."""
    return {"memory": _memory(paths, unified_ctrls), "cpu": _cpu(paths), "pids": _pids(paths, unified_ctrls)}
