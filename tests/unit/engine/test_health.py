"""Health checks: configuration merge, the state machine, durations, ps wording, flags and API bodies."""

from __future__ import annotations

import argparse

import pytest

from vessel.engine import health
from vessel.engine.apibody import options_from_api as options_from_body
from vessel.engine.flags import add_run_flags, options_from_args
from vessel.errors import InvalidArgument

pytestmark = pytest.mark.unit
S = health.NS


def test_effective_merges_container_over_image():
    image = {"Test": ["CMD", "true"], "Interval": 10 * S, "Retries": 5}
    cfg = health.effective(image, {"Interval": 2 * S})
    assert cfg == health.HealthConfig(test=("CMD", "true"), interval=2.0, timeout=30.0, start_period=0.0, retries=5)
    assert health.effective(image, {"Test": ["NONE"]}) is None
    assert health.effective(None, None) is None
    assert health.effective(None, {"Test": ["CMD-SHELL", "exit 0"]}).retries == 3


def test_effective_refuses_a_bad_test():
    with pytest.raises(InvalidArgument, match="CMD or CMD-SHELL"):
        health.effective({"Test": ["BOGUS", "x"]}, None)
    with pytest.raises(InvalidArgument):
        health.effective({"Test": ["CMD"]}, None)


def test_command_forms():
    assert health.command(health.HealthConfig(("CMD-SHELL", "a && b"))) == ["/bin/sh", "-c", "a && b"]
    assert health.command(health.HealthConfig(("CMD", "wget", "-q", "x"))) == ["wget", "-q", "x"]


def run(state, cfg, code, now, started=0.0):
    return health.record(state, cfg, exit_code=code, output="o", start="s", end="e", started_at=started, now=now)


def test_state_machine_retries_start_period_and_log():
    cfg = health.HealthConfig(("CMD", "x"), retries=2, start_period=10.0)
    st = run(None, cfg, 1, now=5)                       # inside the start period: not counted
    assert st["Status"] == "starting" and st["FailingStreak"] == 0 and len(st["Log"]) == 1
    st = run(st, cfg, 1, now=11)
    assert (st["Status"], st["FailingStreak"]) == ("starting", 1)
    st = run(st, cfg, 1, now=12)
    assert (st["Status"], st["FailingStreak"]) == ("unhealthy", 2)
    st = run(st, cfg, 0, now=13)
    assert (st["Status"], st["FailingStreak"]) == ("healthy", 0)
    for i in range(10):
        st = run(st, cfg, 0, now=14 + i)
    assert len(st["Log"]) == health.LOG_ENTRIES


def test_a_success_ends_the_start_period_early():
    cfg = health.HealthConfig(("CMD", "x"), retries=1, start_period=100.0)
    st = run(run(None, cfg, 0, now=1), cfg, 1, now=2)
    assert st["Status"] == "unhealthy"                   # healthy once: later failures count


@pytest.mark.parametrize("text, ns", [("30s", 30 * S), ("1m30s", 90 * S), ("500ms", S // 2), ("2h", 7200 * S),
                                      ("1.5s", 3 * S // 2)])
def test_parse_duration(text, ns):
    assert health.parse_duration(text, "--health-interval") == ns


@pytest.mark.parametrize("text", ["", "30", "s", "1x", "-1s", "1s2"])
def test_parse_duration_refuses(text):
    with pytest.raises(InvalidArgument, match="--health-interval"):
        health.parse_duration(text, "--health-interval")


def test_suffix():
    assert health.suffix({"Status": "healthy"}) == " (healthy)"
    assert health.suffix({"Status": "starting"}) == " (health: starting)"
    assert health.suffix({"Status": "unhealthy"}) == " (unhealthy)"
    assert health.suffix(None) == ""


def parse_flags(*argv: str):
    p = argparse.ArgumentParser()
    add_run_flags(p)
    return options_from_args(p.parse_args([*argv, "busybox"]), environ={}, cwd="/")


def test_flags_make_docker_config():
    opts = parse_flags("--health-cmd", "curl -f x", "--health-interval", "5s", "--health-retries", "4",
                       "--health-start-period", "1m", "--health-timeout", "2s")
    assert opts.healthcheck == {"Test": ["CMD-SHELL", "curl -f x"], "Interval": 5 * S, "Timeout": 2 * S,
                                "StartPeriod": 60 * S, "Retries": 4}
    assert parse_flags("--no-healthcheck").healthcheck == {"Test": ["NONE"]}
    assert parse_flags().healthcheck is None
    with pytest.raises(InvalidArgument, match="conflicts"):
        parse_flags("--no-healthcheck", "--health-cmd", "true")
    with pytest.raises(InvalidArgument, match="--health-timeout"):
        parse_flags("--health-timeout", "soon")


def test_api_body_healthcheck():
    opts = options_from_body({"Image": "busybox", "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": S}})
    assert opts.healthcheck == {"Test": ["CMD-SHELL", "true"], "Interval": S}
    with pytest.raises(InvalidArgument, match="Healthcheck.Test"):
        options_from_body({"Image": "busybox", "Healthcheck": {"Test": ["RUN", "x"]}})
    with pytest.raises(InvalidArgument, match="at least 1ms"):
        options_from_body({"Image": "busybox", "Healthcheck": {"Test": ["CMD", "x"], "Interval": 5}})
