"""Scale-out simulator against queueing theory and the course's two scenarios."""

from __future__ import annotations

import math

import pytest

from vessel.errors import InvalidArgument
from vessel.sim import queueing
from vessel.sim.scaleout import ScaleoutConfig, simulate, sweep, verdict

pytestmark = pytest.mark.unit


def test_erlang_c_known_values():
    assert queueing.erlang_c(1, 0.5) == pytest.approx(0.5)           # M/M/1: P(wait) = rho
    assert queueing.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert queueing.erlang_c(10, 8.0) == pytest.approx(0.4092, abs=1e-4)
    assert queueing.mmc_mean_response(0.5, 1.0, 1) == pytest.approx(2.0)
    assert queueing.mm1_response_quantile(0.5, 1.0, 0.5) == pytest.approx(2 * math.log(2))
    assert queueing.mmc_wait_quantile(1.0, 1.0, 2, 0.5) == 0.0      # 2/3 of arrivals do not wait
    with pytest.raises(InvalidArgument, match="unstable"):
        queueing.mmc_mean_response(2.0, 1.0, 2)


@pytest.mark.parametrize("config", [
    ScaleoutConfig(rate=700, servers=0, service_ms=1.0, requests=30000, seed=1),                 # M/M/1
    ScaleoutConfig(rate=300, servers=4, service_ms=10.0, dispatch="central", requests=30000, seed=2),  # M/M/1 + M/M/4
    ScaleoutConfig(rate=200, servers=3, service_ms=10.0, dispatch="random", requests=30000, seed=3),   # M/M/1 + 3 M/M/1
], ids=["direct-mm1", "central-mm4", "random-3xmm1"])
def test_simulation_agrees_with_mmc_formulas(config):
    result = simulate(config)
    assert result.formula_ms is not None
    assert result.mean_ms == pytest.approx(result.formula_ms, rel=0.05)


def test_mm1_quantiles_agree():
    cfg = ScaleoutConfig(rate=500, servers=0, service_ms=1.0, requests=30000, seed=4)
    result = simulate(cfg)
    assert result.p50_ms == pytest.approx(1000 * queueing.mm1_response_quantile(500, 1000, 0.5), rel=0.06)
    assert result.p99_ms == pytest.approx(1000 * queueing.mm1_response_quantile(500, 1000, 0.99), rel=0.1)


def test_deterministic_service_without_queueing_is_exact():
    cfg = ScaleoutConfig(rate=1, servers=2, service_ms=10.0, distribution="det", requests=50, seed=0)
    result = simulate(cfg)    # rare arrivals: nobody waits, so LB 1 + 2 x latency 1 + St 10
    assert result.p50_ms == pytest.approx(13.0, abs=0.5)
    assert result.formula_ms is None


def test_seed_scenario_fast_service_load_balancer_makes_it_slower():
    base = ScaleoutConfig(rate=500, servers=0, service_ms=1.0, requests=4000, seed=5)
    results = sweep(base, [1, 2, 4, 8], [500])
    direct = results[0]
    assert all(r.mean_ms > direct.mean_ms + 2.0 for r in results[1:])   # at least the 2 ms of latency
    assert verdict(results).startswith("scale-out hurts")


def test_seed_scenario_slow_service_scale_out_much_faster():
    base = ScaleoutConfig(rate=80, servers=0, service_ms=10.0, requests=4000, seed=6)
    results = sweep(base, [2, 4, 8], [80])
    direct, best = results[0], min(results[1:], key=lambda r: r.mean_ms)
    assert best.mean_ms * 2.5 < direct.mean_ms
    assert verdict(results).startswith("scale-out helps")
    overloaded = sweep(ScaleoutConfig(rate=500, servers=0, service_ms=10.0, requests=3000, seed=7), [8], [500])
    assert not overloaded[0].config.stable and overloaded[1].mean_ms * 50 < overloaded[0].mean_ms


def test_config_validation():
    with pytest.raises(InvalidArgument, match="dispatch"):
        ScaleoutConfig(rate=1, servers=1, service_ms=1, dispatch="magic")
    with pytest.raises(InvalidArgument):
        ScaleoutConfig(rate=0, servers=1, service_ms=1)
