"""`update` flags -> Resources, and merging an update into the resources already set."""

from __future__ import annotations

import pytest

from vessel.errors import InvalidArgument
from vessel.oci.resources import BlockIO, Cpu, DeviceRule, Memory, Pids, Resources
from vessel.runtime.cgroups import (UPDATE_FLAGS, merge_resources, parse_size, resources_from_update_flags,
                                    update_from_flags)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text, expected", [
    ("512", 512), ("512b", 512), ("4k", 4096), ("64m", 64 << 20), ("64M", 64 << 20), ("1g", 1 << 30),
    ("2GiB", 2 << 30), ("1.5g", 3 << 29), ("-1", -1), (" 10m ", 10 << 20), (7, 7),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "m", "abc", "12q", "-5m", "1e3"])
def test_parse_size_rejects(bad):
    with pytest.raises(InvalidArgument, match="--memory"):
        parse_size(bad, "--memory")


def test_flags_to_resources():
    r = resources_from_update_flags(memory="256m", memory_swap="512m", memory_reservation="128m", cpu_share="512",
                                    cpu_quota="50000", cpu_period="100000", cpuset_cpus="0", cpuset_mems="0",
                                    cpu_rt_period="1000000", cpu_rt_runtime="5000", pids_limit="100",
                                    blkio_weight="300")
    assert r.memory == Memory(limit=256 << 20, swap=512 << 20, reservation=128 << 20)
    assert r.cpu == Cpu(shares=512, quota=50000, period=100000, cpus="0", mems="0", realtime_period=1000000,
                        realtime_runtime=5000)
    assert r.pids == Pids(limit=100) and r.block_io == BlockIO(weight=300)


def test_unset_flags_leave_sections_out():
    r = resources_from_update_flags(pids_limit=5)
    assert r.memory is None and r.cpu is None and r.block_io is None and r.pids == Pids(limit=5)
    with pytest.raises(InvalidArgument, match="--cpu-quota"):
        resources_from_update_flags(cpu_quota="lots")


def test_every_runc_flag_has_a_keyword():
    keywords = {kw for _flag, kw in UPDATE_FLAGS}
    assert len(UPDATE_FLAGS) == 12
    resources_from_update_flags(**{kw: "1" for kw in keywords})  # accepts them all


def test_merge_keeps_what_the_update_does_not_set():
    current = Resources(memory=Memory(limit=100, swap=200), cpu=Cpu(shares=512, cpus="0"), pids=Pids(limit=10),
                        devices=[DeviceRule(allow=False)], unified={"memory.high": "90"})
    merged = merge_resources(current, Resources(memory=Memory(limit=150), cpu=Cpu(quota=1000),
                                                unified={"pids.max": "3"}))
    assert merged.memory == Memory(limit=150, swap=200)
    assert merged.cpu == Cpu(shares=512, cpus="0", quota=1000)
    assert merged.pids == Pids(limit=10) and merged.devices == [DeviceRule(allow=False)]
    assert merged.unified == {"memory.high": "90", "pids.max": "3"}


def test_merge_refuses_limit_above_kept_swap():
    with pytest.raises(InvalidArgument, match="--memory-swap"):
        update_from_flags(Resources(memory=Memory(limit=100, swap=200)), memory="300")
    ok = update_from_flags(Resources(memory=Memory(limit=100, swap=200)), memory="300", memory_swap="-1")
    assert ok.memory == Memory(limit=300, swap=-1)


def test_update_without_current():
    assert update_from_flags(None, pids_limit=3).pids == Pids(limit=3)
