#!/usr/bin/env python3
"""Placement benchmark: placements/s and machines used / lower bound, per policy.

Runs the datacenter simulator on the default synthetic mix (Azure-like VM
shapes, Poisson arrivals, heavy-tailed lifetimes, batches of 512 arrivals)
at 1k, 10k and 100k machines.  100k machines use fewer requests so the whole
run takes a few minutes on 2 cores.

    .venv/bin/python benchmarks/placement.py                 # all sizes, all policies
    .venv/bin/python benchmarks/placement.py --sizes 10000 --policies bfd,best-fit --json

Targets (issue 7): >= 10,000 placements/s at 10k machines; the best policy
within 1.02x of the lower bound.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

from vessel.placement.policies import POLICIES
from vessel.sim.datacenter import build_machines, run_policy
from vessel.sim.workload import DEFAULT_MACHINE, synthetic

REQUESTS = {1_000: 10_000, 10_000: 100_000, 100_000: 20_000}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000", help="machine counts")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    policies = args.policies.split(",")
    doc: dict = {"python": platform.python_version(), "machine": platform.machine(), "batch": args.batch,
                 "seed": args.seed, "runs": []}
    for n in (int(s) for s in args.sizes.split(",")):
        m = REQUESTS.get(n, 10 * n)
        wl = synthetic(m, n, seed=args.seed)
        machines = build_machines(n, DEFAULT_MACHINE)
        t0 = time.perf_counter()
        rows = []
        for p in policies:
            r = run_policy(wl, machines, p, seed=args.seed, batch=args.batch)
            rows.append(r)
            print(f"  {n:>7} machines  {p:<12} {r.placements_per_s:>10,.0f}/s  "
                  f"used {r.machines_used_peak:>5} / bound {r.lower_bound_peak:>5} = {r.ratio_to_lower_bound:.4f}"
                  f"  (steady {r.mean_ratio:.4f})", file=sys.stderr)
        best = min(rows, key=lambda r: r.ratio_to_lower_bound)
        doc["runs"].append({"machines": n, "requests": m, "seconds": round(time.perf_counter() - t0, 1),
                            "best_policy": best.policy, "best_ratio": round(best.ratio_to_lower_bound, 4),
                            "policies": {r.policy: r.to_json() for r in rows}})
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{'machines':>8} {'requests':>8}  {'policy':<12} {'placements/s':>12}  {'used':>5}  {'bound':>5}  "
          f"{'ratio':>6}  {'steady':>6}")
    for run in doc["runs"]:
        for name, m in run["policies"].items():
            print(f"{run['machines']:>8} {run['requests']:>8}  {name:<12} {m['placements_per_s']:>12,.0f}  "
                  f"{m['machines_used_peak']:>5}  {m['lower_bound_peak']:>5}  {m['ratio_to_lower_bound']:>6.4f}  "
                  f"{m['mean_ratio_steady_state']:>6.4f}")
        print(f"  -> best at {run['machines']} machines: {run['best_policy']} "
              f"({run['best_ratio']:.4f}x the lower bound); run took {run['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
