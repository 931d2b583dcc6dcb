"""`vessel sim`: the datacenter placement simulator and the scale-out advisor.

numpy, simpy and matplotlib are imported inside the commands only, so that
`vessel --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vessel.errors import InvalidArgument


def register(subparsers) -> None:
    sim = subparsers.add_parser("sim", help="simulate placement at datacenter scale, or scale-out behind a balancer")
    sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    sim.set_defaults(func=lambda args: _usage(sim))
    _register_placement(sub)
    _register_scaleout(sub)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _register_placement(sub) -> None:
    p = sub.add_parser("placement", help="compare placement policies on a synthetic or traced workload",
                       description="Replay a stream of VM requests (arrivals and departures) through the "
                                   "placement engine with each policy; report machines used against the "
                                   "lower bound, rejections, stranded resources and placements/s.")
    p.add_argument("--machines", type=int, default=1000, metavar="N", help="machines in the cluster (default 1000)")
    p.add_argument("--requests", type=int, default=None, metavar="M",
                   help="requests to simulate (default 10000; with --trace, every row)")
    p.add_argument("--policy", default=None, metavar="P[,P...]", help="policies to compare (default: all)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="write a plot")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--trace", type=Path, default=None, metavar="FILE.csv",
                   help="replay a CSV trace instead of the synthetic stream (schema: docs/placement.md)")
    p.add_argument("--write-trace", type=Path, default=None, metavar="FILE.csv",
                   help="also write the workload as a CSV trace")
    p.add_argument("--load", type=float, default=0.85,
                   help="synthetic: live demand as a share of the cluster, at most (default 0.85)")
    p.add_argument("--anti-affinity", type=float, default=0.0, metavar="FRACTION",
                   help="synthetic: share of VMs in anti-affine deployments (default 0)")
    p.add_argument("--batch", type=int, default=512,
                   help="arrivals placed together; FFD/BFD sort each batch (default 512)")
    p.add_argument("--machine-shape", default=None, metavar="cpu=48000,memory=196608,ssd=3072",
                   help="capacity of every machine in base units (millicores, MiB, GiB)")
    p.add_argument("--rebalance", type=float, nargs="?", const=3600.0, default=None, metavar="SECONDS",
                   help="run the ReBalancer every SECONDS of simulated time (default 3600 when given)")
    p.add_argument("--rebalance-threshold", type=float, default=0.5,
                   help="drain machines whose dominant use is below this share (default 0.5)")
    p.add_argument("--rebalance-budget", type=int, default=1000, help="migrations per round at most (default 1000)")
    p.set_defaults(func=cmd_placement)


def _register_scaleout(sub) -> None:
    p = sub.add_parser("scaleout", help="when does scaling out behind a load balancer help?",
                       description="Discrete-event simulation of clients, a load balancer with its own "
                                   "service time, LB-server latency and N servers; compares with one "
                                   "server reached directly, and with M/M/c formulas where they apply.")
    p.add_argument("--scenario", choices=("fast", "slow", "both"), default="both",
                   help="the course's scenarios: fast (St=1 ms), slow (St=10 ms) (default both)")
    p.add_argument("--service-ms", type=float, default=None, metavar="ST",
                   help="server service time in ms (replaces the scenarios)")
    p.add_argument("--lb-ms", type=float, default=1.0, help="load balancer service time, ms (default 1)")
    p.add_argument("--latency-ms", type=float, default=1.0, help="one-way LB-server latency, ms (default 1)")
    p.add_argument("--servers", default="1,2,4,8,16", metavar="N[,N...]", help="N to try (default 1,2,4,8,16)")
    p.add_argument("--rate", default="80,500", metavar="R[,R...]",
                   help="offered requests per second (default 80,500)")
    p.add_argument("--requests", type=int, default=20000, help="requests per configuration (default 20000)")
    p.add_argument("--dispatch", default="round-robin",
                   choices=("round-robin", "random", "least-conn", "central"), help="balancer policy")
    p.add_argument("--distribution", default="exp", choices=("exp", "det"),
                   help="service time distribution (default exponential)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", type=Path, default=None, metavar="FILE.png")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=cmd_scaleout)


def _numbers(text: str, what: str, cast):
    try:
        values = [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidArgument(f"{what} {text!r} is not a comma-separated list of numbers") from None
    if not values or min(values) <= 0:
        raise InvalidArgument(f"{what} {text!r} must list positive numbers")
    return values


def _shape(text: str | None) -> dict[str, int]:
    from vessel.sim.workload import DEFAULT_MACHINE
    if text is None:
        return dict(DEFAULT_MACHINE)
    shape = {}
    for part in text.split(","):
        name, _, amount = part.partition("=")
        try:
            shape[name.strip()] = int(amount)
        except ValueError:
            raise InvalidArgument(f"machine shape {part!r} is not NAME=INTEGER",
                                  hint="e.g. --machine-shape cpu=48000,memory=196608") from None
    return shape


def cmd_placement(args: argparse.Namespace) -> int:
    from vessel.placement.policies import POLICIES, get_policy
    from vessel.sim import datacenter, report, workload
    from vessel.sim.rebalance import RebalanceConfig

    if args.machines < 1:
        raise InvalidArgument(f"--machines {args.machines} must be >= 1")
    if args.requests is not None and args.requests < 1:
        raise InvalidArgument(f"--requests {args.requests} must be >= 1")
    policies = list(POLICIES) if not args.policy else [get_policy(p).name for p in args.policy.split(",")]
    shape = _shape(args.machine_shape)
    if args.trace:
        wl = workload.read_trace(args.trace, dims=tuple(shape))
        if args.requests:
            wl = wl.head(args.requests)
    else:
        if tuple(shape) != workload.DIMS:
            raise InvalidArgument(f"the synthetic mix needs resources {workload.DIMS}, got {tuple(shape)}")
        wl = workload.synthetic(args.requests or 10_000, args.machines, seed=args.seed, load=args.load,
                                machine=shape, anti_affinity=args.anti_affinity)
    if args.write_trace:
        workload.write_trace(wl, args.write_trace)
    machines = datacenter.build_machines(args.machines, shape)
    reb = (RebalanceConfig(args.rebalance, args.rebalance_threshold, args.rebalance_budget)
           if args.rebalance is not None else None)
    results = []
    for name in policies:
        r = datacenter.run_policy(wl, machines, name, seed=args.seed, batch=args.batch, rebalance_config=reb)
        print(f"[sim] {name}: {r.wall_s:.1f} s", file=sys.stderr)
        results.append(r)
    if args.plot:
        report.plot_placement(results, args.plot)
    meta = {"machines": args.machines, "requests": len(wl), "seed": args.seed, "batch": args.batch,
            "workload": str(args.trace) if args.trace else "synthetic-azure", "machine_shape": shape}
    if args.json:
        print(json.dumps(report.placement_json(results, meta), indent=2))
    else:
        print(f"{len(wl)} requests on {args.machines} machines ({meta['workload']}, batch {args.batch}, "
              f"seed {args.seed})\n")
        print(report.placement_table(results))
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return 0


def cmd_scaleout(args: argparse.Namespace) -> int:
    from vessel.sim import report, scaleout

    servers = _numbers(args.servers, "--servers", int)
    rates = _numbers(args.rate, "--rate", float)
    if args.service_ms is not None:
        scenarios = [scaleout.Scenario("custom", args.service_ms, f"St = {args.service_ms:g} ms")]
    else:
        names = ("fast", "slow") if args.scenario == "both" else (args.scenario,)
        scenarios = [scaleout.SCENARIOS[n] for n in names]
    groups, doc = {}, {"scenarios": []}
    for sc in scenarios:
        base = scaleout.ScaleoutConfig(rates[0], 0, sc.service_ms, lb_ms=args.lb_ms, latency_ms=args.latency_ms,
                                       dispatch=args.dispatch, distribution=args.distribution,
                                       requests=args.requests, seed=args.seed)
        results = scaleout.sweep(base, servers, rates)
        groups[sc.name] = results
        verdicts = {f"{rate:g}": scaleout.verdict([r for r in results if r.config.rate == rate]) for rate in rates}
        doc["scenarios"].append({"name": sc.name, "story": sc.story, "service_ms": sc.service_ms,
                                 "lb_ms": args.lb_ms, "latency_ms": args.latency_ms, "dispatch": args.dispatch,
                                 "distribution": args.distribution, "verdict": verdicts,
                                 "results": [r.to_json() for r in results]})
    if args.plot:
        report.plot_scaleout(groups, args.plot)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    for sc, entry in zip(scenarios, doc["scenarios"]):
        print(f"== {sc.name}: {sc.story} (LB {args.lb_ms:g} ms, latency {args.latency_ms:g} ms, {args.dispatch})")
        print(report.scaleout_table(groups[sc.name]))
        for rate, text in entry["verdict"].items():
            print(f"at {rate}/s: {text}")
        print()
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0
