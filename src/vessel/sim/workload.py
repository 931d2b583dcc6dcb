"""Workloads for the datacenter simulator: synthetic streams and CSV traces.

A `Workload` is columns (numpy arrays), one row per request, sorted by
arrival time.  Sizes are integers in the machine shape's base units:
cpu in millicores, memory in MiB, ssd in GiB.

Synthetic model (see docs/placement.md for the sources):
- arrivals: a Poisson process (exponential inter-arrival times);
- lifetimes: heavy tailed, Lomax (Pareto type II) with shape 1.8, so the
  mean is finite but the variance is not: most VMs are short-lived and a
  few live far longer than the trace;
- sizes: drawn from a table of Azure VM shapes (cores, memory, local SSD)
  with shares shaped after the published Azure VM trace analysis (most VMs
  have 1-2 cores and a few GB of memory; large VMs are rare);
- optional deployments: groups of 2-10 VMs of one shape that arrive
  together and must sit on distinct machines (anti-affinity).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from vessel.errors import InvalidArgument, NotFound

DIMS = ("cpu", "memory", "ssd")

# A host like the ones such VM mixes run on: 48 cores, 192 GiB, 3 TiB local SSD.
DEFAULT_MACHINE: Mapping[str, int] = {"cpu": 48_000, "memory": 192 * 1024, "ssd": 3072}

# (name, cores, memory GiB, local SSD GiB, share in %).  Shapes are Azure's
# published A- and D-series sizes; shares approximate the VM-size
# distribution of the Azure 2017 public VM trace (see docs/placement.md).
AZURE_MIX: tuple[tuple[str, float, float, int, float], ...] = (
    ("A0", 1, 0.75, 20, 5), ("A1", 1, 1.75, 70, 20), ("A2", 2, 3.5, 135, 15),
    ("A3", 4, 7, 285, 6), ("A4", 8, 14, 605, 2),
    ("D1", 1, 3.5, 50, 12), ("D2", 2, 7, 100, 16), ("D3", 4, 14, 200, 9), ("D4", 8, 28, 400, 4),
    ("D11", 2, 14, 100, 4), ("D12", 4, 28, 200, 3), ("D13", 8, 56, 400, 2), ("D14", 16, 112, 800, 2),
)

LIFETIME_SHAPE = 1.8            # Lomax shape: finite mean, infinite variance
MEAN_LIFETIME_S = 3600.0        # mean VM lifetime of the synthetic stream
RESERVED_COLUMNS = ("id", "arrival", "lifetime", "job", "priority", "anti_affinity")


@dataclass(frozen=True)
class Workload:
    """Requests as columns, sorted by arrival."""

    dims: tuple[str, ...]
    ids: tuple[str, ...]
    arrival: np.ndarray     # float seconds, non-decreasing
    lifetime: np.ndarray    # float seconds, inf = never leaves
    sizes: np.ndarray       # int64 (m, d)
    job: np.ndarray         # int32 (m,), -1 = no job
    anti_affinity: np.ndarray  # bool (m,)
    priority: np.ndarray    # int32 (m,)

    def __len__(self) -> int:
        return len(self.ids)

    def head(self, m: int) -> "Workload":
        return Workload(self.dims, self.ids[:m], self.arrival[:m], self.lifetime[:m], self.sizes[:m],
                        self.job[:m], self.anti_affinity[:m], self.priority[:m])


def shape_vectors(mix=AZURE_MIX) -> tuple[np.ndarray, np.ndarray]:
    """(sizes int64 (k, 3) in millicores/MiB/GiB, probabilities (k,))."""
    sizes = np.array([[round(c * 1000), round(m * 1024), s] for _, c, m, s, _ in mix], dtype=np.int64)
    share = np.array([w for *_, w in mix], dtype=np.float64)
    return sizes, share / share.sum()


def synthetic(requests: int, machines: int, *, seed: int, load: float = 0.85,
              churn: float = 4.0, machine: Mapping[str, int] = DEFAULT_MACHINE,
              anti_affinity: float = 0.0) -> Workload:
    """A Poisson stream of Azure-like VMs sized for ``machines`` hosts.

    The mean number of live VMs is the smaller of: what fills ``load`` of
    the cluster in its binding dimension, and ``requests / churn`` (so the
    stream lasts about ``churn`` mean lifetimes and reaches steady state).
    """
    if requests < 1 or machines < 1:
        raise InvalidArgument(f"need requests >= 1 and machines >= 1, got {requests} and {machines}")
    if not 0 < load <= 1.5:
        raise InvalidArgument(f"load={load} is outside (0, 1.5]")
    rng = np.random.default_rng(seed)
    shapes, probs = shape_vectors()
    mean_size = probs @ shapes
    cap = np.array([machine.get(d, 0) for d in DIMS], dtype=np.float64)
    per_machine = np.min(np.divide(cap, mean_size, out=np.full(3, np.inf), where=mean_size > 0))
    live = max(1.0, min(load * machines * per_machine, requests / churn))
    rate = live / MEAN_LIFETIME_S
    kinds = rng.choice(len(shapes), size=requests, p=probs)
    arrival = np.cumsum(rng.exponential(1.0 / rate, size=requests))
    scale = MEAN_LIFETIME_S * (LIFETIME_SHAPE - 1.0)     # Lomax mean = scale / (shape - 1)
    lifetime = rng.pareto(LIFETIME_SHAPE, size=requests) * scale
    job = np.full(requests, -1, dtype=np.int32)
    anti = np.zeros(requests, dtype=bool)
    if anti_affinity > 0:
        _group_deployments(rng, anti_affinity, kinds, arrival, job, anti)
    return Workload(DIMS, tuple(f"vm{i}" for i in range(requests)), arrival, lifetime,
                    shapes[kinds], job, anti, np.zeros(requests, dtype=np.int32))


def _group_deployments(rng, fraction, kinds, arrival, job, anti) -> None:
    """Turn runs of consecutive requests into anti-affine deployments of one shape."""
    i, next_job, m = 0, 0, len(kinds)
    while i < m:
        if rng.random() < fraction / 5.0:        # mean deployment size ~6, so ~fraction of VMs
            size = int(min(m - i, rng.integers(2, 11)))
            kinds[i:i + size] = kinds[i]
            arrival[i:i + size] = arrival[i]
            job[i:i + size] = next_job
            anti[i:i + size] = True
            next_job += 1
            i += size
        else:
            i += 1


# ------------------------------------------------------------------ CSV traces
def read_trace(path: Path, dims: tuple[str, ...] | None = None) -> Workload:
    """Load a CSV trace (schema in docs/placement.md); rows are sorted by arrival."""
    try:
        handle = open(path, newline="")
    except FileNotFoundError:
        raise NotFound(f"trace file {str(path)!r} does not exist") from None
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        for col in ("arrival", "lifetime"):
            if col not in header:
                raise InvalidArgument(f"trace {str(path)!r} has no {col!r} column",
                                      hint="header needs arrival,lifetime and one column per resource")
        res = tuple(c for c in header if c not in RESERVED_COLUMNS)
        if not res:
            raise InvalidArgument(f"trace {str(path)!r} has no resource column", hint="e.g. cpu,memory")
        if dims is not None:
            extra = [c for c in res if c not in dims]
            if extra:
                raise InvalidArgument(f"trace {str(path)!r} asks for {extra} which the machines lack",
                                      hint=f"machine resources: {', '.join(dims)}")
        rows = [_parse_row(path, n, row, res) for n, row in enumerate(reader, start=2)]
    if not rows:
        raise InvalidArgument(f"trace {str(path)!r} has no rows")
    return _from_rows(rows, res, dims or res)


def _parse_row(path: Path, line: int, row: dict, res: tuple[str, ...]) -> tuple:
    where = f"trace {str(path)!r} line {line}"
    try:
        arrival = float(row["arrival"])
        life_text = (row.get("lifetime") or "").strip()
        lifetime = math.inf if life_text in ("", "inf") else float(life_text)
        sizes = [int(row[c] or 0) for c in res]
        priority = int(row.get("priority") or 0)
    except (TypeError, ValueError) as err:
        raise InvalidArgument(f"{where}: {err}", hint="arrival/lifetime are numbers, resources integers") from None
    if not math.isfinite(arrival) or lifetime < 0 or min(sizes) < 0:
        raise InvalidArgument(f"{where}: arrival must be finite, lifetime and sizes non-negative")
    anti = (row.get("anti_affinity") or "0").strip().lower() in ("1", "true", "yes")
    return (row.get("id") or f"row{line}", arrival, lifetime, sizes, row.get("job") or "", anti, priority)


def _from_rows(rows: list[tuple], res: tuple[str, ...], dims: tuple[str, ...]) -> Workload:
    rows.sort(key=lambda r: r[1])
    ids = tuple(r[0] for r in rows)
    if len(set(ids)) != len(ids):
        raise InvalidArgument("trace has duplicate ids")
    sizes = np.zeros((len(rows), len(dims)), dtype=np.int64)
    cols = [dims.index(c) for c in res]
    sizes[:, cols] = np.array([r[3] for r in rows], dtype=np.int64)
    job_codes: dict[str, int] = {}
    job = np.array([job_codes.setdefault(r[4], len(job_codes)) if r[4] else -1 for r in rows], dtype=np.int32)
    anti = np.array([r[5] for r in rows], dtype=bool)
    if (anti & (job < 0)).any():
        raise InvalidArgument("trace row has anti_affinity but no job")
    return Workload(tuple(dims), ids, np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
                    sizes, job, anti, np.array([r[6] for r in rows], dtype=np.int32))


def write_trace(workload: Workload, path: Path) -> None:
    """Write a workload in the CSV schema `read_trace` reads."""
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "arrival", "lifetime", "job", "priority", "anti_affinity", *workload.dims])
        for i, rid in enumerate(workload.ids):
            life = workload.lifetime[i]
            out.writerow([rid, repr(float(workload.arrival[i])), "inf" if math.isinf(life) else repr(float(life)),
                          f"j{workload.job[i]}" if workload.job[i] >= 0 else "", int(workload.priority[i]),
                          int(workload.anti_affinity[i]), *(int(v) for v in workload.sizes[i])])
