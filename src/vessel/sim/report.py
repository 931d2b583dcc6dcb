"""Tables, JSON documents and plots of simulator results (matplotlib loaded lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vessel.errors import SystemFailure
from vessel.sim.datacenter import PolicyResult
from vessel.sim.scaleout import ScaleoutResult, label


def placement_json(results: Sequence[PolicyResult], meta: dict) -> dict:
    return {"policies": {r.policy: r.to_json() for r in results}, "run": meta}


def placement_table(results: Sequence[PolicyResult]) -> str:
    head = ("policy", "placements/s", "used peak", "bound peak", "ratio", "steady ratio", "rejected",
            "stranded cpu/mem/ssd")
    rows = []
    for r in sorted(results, key=lambda r: (r.ratio_to_lower_bound, r.policy)):
        st = "/".join(f"{100 * v:.1f}%" for v in r.stranded_at_peak.values())
        rows.append((r.policy, f"{r.placements_per_s:,.0f}", str(r.machines_used_peak), str(r.lower_bound_peak),
                     f"{r.ratio_to_lower_bound:.4f}", f"{r.mean_ratio:.4f}", str(r.rejected), st))
    text = _table(head, rows)
    reb = [r for r in results if r.rebalance]
    if reb:
        text += "\n\nReBalancer: " + "; ".join(
            f"{r.policy}: {r.rebalance['machines_freed']} machines freed by {r.rebalance['migrations']} "
            f"migrations in {r.rebalance['rounds']} rounds" for r in reb)
    return text


def scaleout_table(results: Sequence[ScaleoutResult]) -> str:
    head = ("St ms", "rate/s", "config", "server rho", "mean ms", "p50 ms", "p99 ms", "M/M/c mean ms")
    rows = []
    for r in results:
        c = r.config
        rho = f"{c.server_utilisation:.2f}" + ("" if c.stable else " (unstable)")
        rows.append((f"{c.service_ms:g}", f"{c.rate:g}", label(c), rho, f"{r.mean_ms:.2f}", f"{r.p50_ms:.2f}",
                     f"{r.p99_ms:.2f}", "-" if r.formula_ms is None else f"{r.formula_ms:.2f}"))
    return _table(head, rows)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)   # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> None:
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    except OSError as err:
        raise SystemFailure.from_os_error(f"cannot write plot {str(path)!r}", err) from None


def plot_placement(results: Sequence[PolicyResult], path: Path) -> None:
    """Machines in use over time per policy, with the lower bound; ratios as bars."""
    plt = _pyplot()
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [2, 1]})
    for r in results:
        ax.plot(r.times / 3600.0, r.used, lw=1, label=r.policy)
    first = results[0]
    ax.plot(first.times / 3600.0, first.bound, "k--", lw=1.2, label="lower bound")
    ax.set_xlabel("simulated time (hours)")
    ax.set_ylabel("machines in use")
    ax.set_title("Machines in use vs lower bound")
    ax.legend(fontsize=8)
    ordered = sorted(results, key=lambda r: r.ratio_to_lower_bound)
    bars.barh([r.policy for r in ordered], [r.ratio_to_lower_bound for r in ordered], color="tab:blue")
    bars.axvline(1.0, color="k", lw=1)
    bars.set_xlim(left=0.95)
    bars.set_xlabel("peak machines / peak lower bound")
    bars.invert_yaxis()
    _save(fig, path)
    plt.close(fig)


def plot_scaleout(groups: dict[str, Sequence[ScaleoutResult]], path: Path) -> None:
    """Per scenario: mean and p99 response time against N, direct as a line."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False)
    for ax, (name, results) in zip(axes[0], groups.items()):
        for rate in sorted({r.config.rate for r in results}):
            rs = [r for r in results if r.config.rate == rate]
            behind = [r for r in rs if r.config.servers > 0]
            direct = next(r for r in rs if r.config.servers == 0)
            xs = [r.config.servers for r in behind]
            line, = ax.plot(xs, [r.mean_ms for r in behind], "o-", label=f"LB mean, {rate:g}/s")
            ax.plot(xs, [r.p99_ms for r in behind], "s:", color=line.get_color(), label=f"LB p99, {rate:g}/s")
            ax.axhline(direct.mean_ms, color=line.get_color(), ls="--", lw=1, label=f"direct mean, {rate:g}/s")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ns = sorted({r.config.servers for r in results if r.config.servers > 0})
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        ax.set_xlabel("servers behind the load balancer (N)")
        ax.set_ylabel("response time (ms)")
        ax.set_title(f"{name}: St = {results[0].config.service_ms:g} ms")
        ax.legend(fontsize=7)
    _save(fig, path)
    plt.close(fig)
