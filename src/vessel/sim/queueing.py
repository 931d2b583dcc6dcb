"""Closed-form queueing results the scale-out simulator is checked against.

M/M/c: Poisson arrivals at rate lam, c servers each serving at rate mu
(exponential service times), one FIFO queue.  Erlang C gives the chance an
arrival has to wait; the mean response time is then
    W = C(c, a) / (c*mu - lam) + 1/mu,   a = lam/mu,  rho = a/c < 1.
For c = 1 the response time is exponential with rate mu - lam, so its
quantiles are closed-form too.
"""

from __future__ import annotations

import math

from vessel.errors import InvalidArgument


def _check(lam: float, mu: float, c: int) -> None:
    if lam <= 0 or mu <= 0 or c < 1:
        raise InvalidArgument(f"need lam > 0, mu > 0, c >= 1; got lam={lam}, mu={mu}, c={c}")
    if lam >= c * mu:
        raise InvalidArgument(f"unstable queue: lam={lam} >= c*mu={c * mu}",
                              hint="utilisation must stay below 1 for a steady state")


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits, for c servers and offered load a = lam/mu (Erlangs)."""
    if a >= c:
        return 1.0
    # Erlang B by its stable recurrence, then C from B.
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1.0 - rho + rho * b)


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean time in queue (before service) of an M/M/c queue."""
    _check(lam, mu, c)
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_mean_response(lam: float, mu: float, c: int) -> float:
    """Mean response time (queue + service) of an M/M/c queue."""
    return mmc_mean_wait(lam, mu, c) + 1.0 / mu


def mm1_response_quantile(lam: float, mu: float, q: float) -> float:
    """The q-quantile of an M/M/1 response time (exponential with rate mu - lam)."""
    _check(lam, mu, 1)
    if not 0 < q < 1:
        raise InvalidArgument(f"quantile {q} must be in (0, 1)")
    return -math.log(1.0 - q) / (mu - lam)


def mmc_wait_quantile(lam: float, mu: float, c: int, q: float) -> float:
    """The q-quantile of the M/M/c waiting time (0 when most arrivals do not wait)."""
    _check(lam, mu, c)
    pw = erlang_c(c, lam / mu)
    if q <= 1.0 - pw:
        return 0.0
    return math.log(pw / (1.0 - q)) / (c * mu - lam)
