"""Scale-out advisor: when does putting servers behind a load balancer help?

A discrete-event model (SimPy) of the course's scenario:

    clients ──► load balancer ──latency──► server i (queue, service time St) ──latency──► LB ──► client
                (one queue,                 N servers, each its own queue
                 service time LB)           (or one shared queue: 'central')

Clients send a Poisson stream of requests at ``rate`` per second.  The
"direct" configuration is one server with no balancer and no extra hop.
Network latency between client and the front door is the same in both
configurations, so it is left out.  Times are in seconds internally and
reported in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import simpy

from vessel.errors import InvalidArgument
from vessel.sim import queueing

DISPATCH = ("round-robin", "random", "least-conn", "central")
DISTRIBUTIONS = ("exp", "det")


@dataclass(frozen=True, slots=True)
class ScaleoutConfig:
    """One configuration to simulate.  servers=0 means direct (no balancer)."""

    rate: float                 # requests per second offered
    servers: int                # N behind the balancer; 0 = direct to one server
    service_ms: float           # St, mean service time of a server
    lb_ms: float = 1.0          # the balancer's own service time
    latency_ms: float = 1.0     # one way, balancer <-> server
    dispatch: str = "round-robin"
    distribution: str = "exp"   # service times: exponential or deterministic
    requests: int = 20_000
    warmup: float = 0.1         # share of the first requests left out of the statistics
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.service_ms <= 0:
            raise InvalidArgument(f"rate ({self.rate}/s) and service time ({self.service_ms} ms) must be > 0")
        if self.servers < 0 or self.lb_ms < 0 or self.latency_ms < 0:
            raise InvalidArgument("servers, balancer time and latency must be >= 0")
        if self.dispatch not in DISPATCH:
            raise InvalidArgument(f"unknown dispatch {self.dispatch!r}", hint=f"choose from {', '.join(DISPATCH)}")
        if self.distribution not in DISTRIBUTIONS:
            raise InvalidArgument(f"unknown distribution {self.distribution!r}", hint="exp or det")
        if self.requests < 10:
            raise InvalidArgument(f"requests={self.requests}: simulate at least 10")

    @property
    def server_utilisation(self) -> float:
        return self.rate * self.service_ms / 1000.0 / max(1, self.servers)

    @property
    def lb_utilisation(self) -> float:
        return self.rate * self.lb_ms / 1000.0 if self.servers else 0.0

    @property
    def stable(self) -> bool:
        return self.server_utilisation < 1.0 and self.lb_utilisation < 1.0


@dataclass(frozen=True, slots=True)
class ScaleoutResult:
    config: ScaleoutConfig
    mean_ms: float
    p50_ms: float
    p99_ms: float
    formula_ms: float | None    # M/M/c prediction of the mean, where it applies

    def to_json(self) -> dict:
        c = self.config
        return {"servers": c.servers, "label": label(c), "rate_per_s": c.rate, "service_ms": c.service_ms,
                "server_utilisation": round(c.server_utilisation, 4), "lb_utilisation": round(c.lb_utilisation, 4),
                "stable": c.stable, "mean_ms": round(self.mean_ms, 4), "p50_ms": round(self.p50_ms, 4),
                "p99_ms": round(self.p99_ms, 4),
                "mmc_mean_ms": None if self.formula_ms is None else round(self.formula_ms, 4)}


def label(config: ScaleoutConfig) -> str:
    return "direct" if config.servers == 0 else f"LB+{config.servers}"


def _sampler(rng: np.random.Generator, mean: float, distribution: str):
    if mean == 0:
        return lambda: 0.0
    if distribution == "det":
        return lambda: mean
    return lambda: float(rng.exponential(mean))


def simulate(config: ScaleoutConfig) -> ScaleoutResult:
    """Run one configuration to completion and summarise its response times."""
    rng = np.random.default_rng(config.seed)
    env = simpy.Environment()
    service = _sampler(rng, config.service_ms / 1000.0, config.distribution)
    lb_time = _sampler(rng, config.lb_ms / 1000.0, config.distribution)
    latency = config.latency_ms / 1000.0
    response = np.full(config.requests, np.nan)
    n = max(1, config.servers)
    central = config.dispatch == "central" and config.servers > 0
    servers = [simpy.Resource(env, capacity=n if central else 1)] if central or config.servers == 0 \
        else [simpy.Resource(env, capacity=1) for _ in range(n)]
    balancer = simpy.Resource(env, capacity=1)
    outstanding = [0] * len(servers)
    turn = [0]

    def pick() -> int:
        if len(servers) == 1:
            return 0
        if config.dispatch == "random" or config.servers == 1:
            return int(rng.integers(len(servers)))
        if config.dispatch == "least-conn":
            return int(np.argmin(outstanding))
        k, turn[0] = turn[0], (turn[0] + 1) % len(servers)
        return k

    def request(i: int):
        start = env.now
        if config.servers:
            with balancer.request() as slot:
                yield slot
                yield env.timeout(lb_time())
            k = pick()
            outstanding[k] += 1
            yield env.timeout(latency)
        else:
            k = 0
        with servers[k].request() as slot:
            yield slot
            yield env.timeout(service())
        outstanding[k] -= 1
        if config.servers:
            yield env.timeout(latency)
        response[i] = env.now - start

    def clients():
        for i in range(config.requests):
            env.process(request(i))
            yield env.timeout(float(rng.exponential(1.0 / config.rate)))

    env.process(clients())
    env.run()
    kept = response[int(config.requests * config.warmup):] * 1000.0
    return ScaleoutResult(config, float(kept.mean()), float(np.percentile(kept, 50)),
                          float(np.percentile(kept, 99)), formula_ms(config))


def formula_ms(config: ScaleoutConfig) -> float | None:
    """M/M/c mean response time where the model is exactly a chain of M/M/c queues.

    That is: exponential service, a stable system, and either direct (M/M/1),
    random dispatch (each server an M/M/1 at rate/N), or a central queue
    (M/M/N).  The balancer is an M/M/1 whose output is again Poisson
    (Burke's theorem), and latency is a pure delay.
    """
    if config.distribution != "exp" or not config.stable:
        return None
    mu = 1000.0 / config.service_ms
    if config.servers == 0:
        return 1000.0 * queueing.mmc_mean_response(config.rate, mu, 1)
    if config.dispatch == "random" or config.servers == 1:
        back = queueing.mmc_mean_response(config.rate / config.servers, mu, 1)
    elif config.dispatch == "central":
        back = queueing.mmc_mean_response(config.rate, mu, config.servers)
    else:
        return None
    front = queueing.mmc_mean_response(config.rate, 1000.0 / config.lb_ms, 1) if config.lb_ms else 0.0
    return 1000.0 * (front + back + 2.0 * config.latency_ms / 1000.0)


# ------------------------------------------------------------------ scenarios
@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    service_ms: float
    story: str


SCENARIOS = {
    "fast": Scenario("fast", 1.0, "St = 1 ms, as fast as the balancer: the balancer only adds time"),
    "slow": Scenario("slow", 10.0, "St = 10 ms, ten times the balancer: spreading the queue wins"),
}


def sweep(base: ScaleoutConfig, servers: Sequence[int], rates: Sequence[float]) -> list[ScaleoutResult]:
    """Direct plus each N, for each offered rate."""
    out = []
    for rate in rates:
        for n in (0, *servers):
            out.append(simulate(replace(base, rate=rate, servers=n)))
    return out


def verdict(results: Sequence[ScaleoutResult]) -> str:
    """One line: does scaling out behind the balancer beat the direct server?"""
    direct = next(r for r in results if r.config.servers == 0)
    behind = [r for r in results if r.config.servers > 0]
    best = min(behind, key=lambda r: r.mean_ms)
    d = "unstable, " if not direct.config.stable else ""
    if best.mean_ms < direct.mean_ms:
        return (f"scale-out helps: direct {d}{direct.mean_ms:.2f} ms mean vs {best.mean_ms:.2f} ms "
                f"with {label(best.config)} ({direct.mean_ms / best.mean_ms:.1f}x faster)")
    return (f"scale-out hurts: direct {d}{direct.mean_ms:.2f} ms mean vs best {best.mean_ms:.2f} ms "
            f"with {label(best.config)} (the balancer and its latency cost more than queueing saves)")

