"""rlimit checks against the host's limits (pure)."""

from __future__ import annotations

import resource

import pytest

from vessel.oci.spec import Rlimit
from vessel.runtime.linux import rlimits

pytestmark = pytest.mark.unit

INF = rlimits.RLIM_INFINITY
HOST = {"RLIMIT_NOFILE": (1024, 20000), "RLIMIT_NPROC": (96365, 96365), "RLIMIT_CORE": (0, INF),
        "RLIMIT_STACK": (8 << 20, INF)}


def test_every_oci_name_maps_to_a_resource_constant():
    from vessel.oci.validate import RLIMIT_NAMES

    assert set(rlimits.LIMITS) == set(RLIMIT_NAMES)
    assert rlimits.LIMITS["RLIMIT_NOFILE"] == resource.RLIMIT_NOFILE
    assert rlimits.LIMITS["RLIMIT_LOCKS"] == 10
    assert len(set(rlimits.LIMITS.values())) == 16


def test_normalise_unlimited_spellings():
    assert rlimits.normalise(-1) == INF
    assert rlimits.normalise((1 << 64) - 1) == INF
    assert rlimits.normalise(1 << 63) == INF
    assert rlimits.normalise(1024) == 1024


def test_limits_within_the_host_pass():
    wanted = [Rlimit("RLIMIT_NOFILE", 20000, 1024), Rlimit("RLIMIT_CORE", INF, INF), Rlimit("RLIMIT_NPROC", 100, 50)]
    assert rlimits.check(wanted, HOST) == []


def test_a_hard_limit_above_the_host_is_named_with_both_values():
    problems = rlimits.check([Rlimit("RLIMIT_NOFILE", 1048576, 1048576)], HOST)
    assert problems == ["RLIMIT_NOFILE: hard limit 1048576 is above the host's hard limit 20000"]
    assert rlimits.check([Rlimit("RLIMIT_NOFILE", 1048576, 1048576)], HOST, can_raise=True) == []
    assert "unlimited" in rlimits.check([Rlimit("RLIMIT_NOFILE", INF, 1024)], HOST)[0]


def test_soft_above_hard_unknown_and_duplicates():
    problems = rlimits.check([Rlimit("RLIMIT_NPROC", 10, 20), Rlimit("RLIMIT_FILES", 1, 1),
                              Rlimit("RLIMIT_CORE", 0, 0), Rlimit("RLIMIT_CORE", 0, 0)], HOST)
    assert len(problems) == 3
    assert "RLIMIT_NPROC: soft limit 20 is above the hard limit 10" in problems
    assert any("'RLIMIT_FILES'" in p for p in problems)
    assert "RLIMIT_CORE is given twice" in problems


def test_hint_names_the_host_limit():
    hint = rlimits.raise_hint("RLIMIT_NOFILE", 20000)
    assert "the host's hard limit for RLIMIT_NOFILE is 20000" in hint
    assert "--ulimit nofile=20000:20000" in hint


def test_host_limits_reads_this_process():
    got = rlimits.host_limits(["RLIMIT_NOFILE", "RLIMIT_NOPE"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert got == {"RLIMIT_NOFILE": (soft, hard if hard != resource.RLIM_INFINITY else INF)}
