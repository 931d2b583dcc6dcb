"""`GET /containers/{id}/stats`: docker's stats JSON from the container's cgroup figures.

`docker_stats(sample, previous)` is pure: a `Sample` holds what was read at
one instant (the cgroup's memory/cpu/pids figures, memory.stat, block I/O,
the network counters of the container's namespace, the host's total cpu
time); docker's CPU % is computed by clients from `cpu_stats` and
`precpu_stats` (the previous sample).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from vessel.api.messages import Request, Stream, json_lines

INTERVAL = 1.0  # between streamed samples (dockerd's collection period)
TWO_CYCLES = 0.5  # stream=false without one-shot: a second sample this much later, so precpu is real
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Sample:
    read: float
    cgroup: dict = field(default_factory=dict)  # vessel.runtime.cgroups stats(): memory, cpu, pids
    memory_stat: dict = field(default_factory=dict)
    blkio: list = field(default_factory=list)  # [{"major","minor","op","value"}]
    networks: dict = field(default_factory=dict)  # ifname -> counters
    system_cpu_ns: int = 0
    online_cpus: int = 1
    host_memory: int = 0


def iso(ts: float | None) -> str:
    if not ts:
        return ZERO_TIME
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"


def _cpu(sample: Sample | None) -> dict:
    if sample is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    cpu = sample.cgroup.get("cpu") or {}
    return {"cpu_usage": {"total_usage": cpu.get("usage_ns") or 0, "usage_in_kernelmode": cpu.get("system_ns") or 0,
                          "usage_in_usermode": cpu.get("user_ns") or 0},
            "system_cpu_usage": sample.system_cpu_ns, "online_cpus": sample.online_cpus,
            "throttling_data": {"periods": cpu.get("periods") or 0,
                                "throttled_periods": cpu.get("throttled_periods") or 0,
                                "throttled_time": cpu.get("throttled_ns") or 0}}


def docker_stats(name: str, cid: str, sample: Sample | None, previous: Sample | None) -> dict:
    """One stats object; `sample` None for a container that is not running (all zero, as dockerd)."""
    if sample is None:
        return {"read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {}, "blkio_stats": {
            "io_service_bytes_recursive": None, "io_serviced_recursive": None, "io_queue_recursive": None,
            "io_service_time_recursive": None, "io_wait_time_recursive": None, "io_merged_recursive": None,
            "io_time_recursive": None, "sectors_recursive": None}, "num_procs": 0, "storage_stats": {},
            "cpu_stats": _cpu(None), "precpu_stats": _cpu(None), "memory_stats": {}, "name": "/" + name, "id": cid}
    mem = sample.cgroup.get("memory") or {}
    limit = mem.get("limit")
    memory_stats = {"usage": mem.get("usage") or 0, "stats": dict(sample.memory_stat),
                    "limit": limit if limit and limit < (1 << 62) else sample.host_memory}
    if mem.get("max_usage") is not None:
        memory_stats["max_usage"] = mem["max_usage"]
    if mem.get("oom_kills"):
        memory_stats["failcnt"] = mem["oom_kills"]
    pids = sample.cgroup.get("pids") or {}
    pids_stats = {"current": pids.get("current") or 0}
    if pids.get("limit"):
        pids_stats["limit"] = pids["limit"]
    out = {
        "read": iso(sample.read), "preread": iso(previous.read if previous else None),
        "pids_stats": pids_stats,
        "blkio_stats": {"io_service_bytes_recursive": sample.blkio or None, "io_serviced_recursive": None,
                        "io_queue_recursive": None, "io_service_time_recursive": None,
                        "io_wait_time_recursive": None, "io_merged_recursive": None, "io_time_recursive": None,
                        "sectors_recursive": None},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": _cpu(sample), "precpu_stats": _cpu(previous),
        "memory_stats": memory_stats, "name": "/" + name, "id": cid,
    }
    if sample.networks:
        out["networks"] = sample.networks
    return out


# -- reading (thin) -------------------------------------------------------------------------------

def parse_proc_stat_cpu(text: str, clock_ticks: int) -> int:
    """The host's total cpu time in ns from /proc/stat's first line (pure)."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            return sum(int(x) for x in line.split()[1:9]) * (1_000_000_000 // clock_ticks)
    return 0


def parse_net_dev(text: str) -> dict:
    """/proc/<pid>/net/dev -> docker's networks map, loopback left out (pure)."""
    out = {}
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        values = rest.split()
        if not name or name == "lo" or len(values) < 16:
            continue
        v = [int(x) for x in values[:16]]
        out[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                     "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out


def parse_keyed(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def parse_blkio_v1(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0] and parts[2].isdigit():
            major, _, minor = parts[0].partition(":")
            out.append({"major": int(major), "minor": int(minor), "op": parts[1].lower(), "value": int(parts[2])})
    return out


def parse_io_stat_v2(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op in (("rbytes", "read"), ("wbytes", "write")):
            if fields.get(key, "").isdigit():
                out.append({"major": int(major), "minor": int(minor), "op": op, "value": int(fields[key])})
    return out


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def take_sample(engine, rec) -> Sample | None:
    from vessel.engine import ops
    from vessel.errors import VesselError

    if not rec.is_running():
        return None
    try:
        figures = ops.cgroup_manager(engine, rec).stats()
        paths = (ops.runtime_state(engine, rec) or {}).get("cgroup_paths") or {}
    except VesselError:
        return None
    unified = paths.get("unified")
    mem_dir = paths.get("memory") or unified
    memory_stat = parse_keyed(_read(os.path.join(mem_dir, "memory.stat"))) if mem_dir else {}
    if paths.get("blkio"):
        blkio = parse_blkio_v1(_read(os.path.join(paths["blkio"], "blkio.throttle.io_service_bytes")))
    elif unified:
        blkio = parse_io_stat_v2(_read(os.path.join(unified, "io.stat")))
    else:
        blkio = []
    networks = parse_net_dev(_read(f"/proc/{rec.pid}/net/dev")) if rec.pid else {}
    return Sample(read=time.time(), cgroup=figures, memory_stat=memory_stat, blkio=blkio, networks=networks,
                  system_cpu_ns=parse_proc_stat_cpu(_read("/proc/stat"), os.sysconf("SC_CLK_TCK")),
                  online_cpus=len(os.sched_getaffinity(0)) or 1,
                  host_memory=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def container_stats(req: Request) -> Stream:
    from vessel.errors import VesselError

    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    stream, one_shot = req.flag("stream", True), req.flag("one-shot")
    client_gone = req.ctx.client_gone

    def items():
        nonlocal rec
        previous = None
        if not stream and not one_shot:
            previous = take_sample(engine, rec)
            if previous is not None:
                time.sleep(TWO_CYCLES)
        while True:
            current = take_sample(engine, rec)
            yield docker_stats(rec.name, rec.id, current, previous)
            if not stream:
                return
            previous = current
            deadline = time.monotonic() + INTERVAL
            while time.monotonic() < deadline:
                time.sleep(0.1)
                if client_gone():
                    return
            try:
                rec = engine.refresh(engine.db.get_by_id(rec.id))
            except VesselError:  # the container went away: the stream ends
                return
    return Stream(json_lines(items()))
