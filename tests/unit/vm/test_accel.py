import json

import pytest

from vessel.vm.accel import cached_verdict, clock_args, decide, host_tsc_khz, machine_for

pytestmark = pytest.mark.unit

CPUINFO = "flags\t\t: fpu tsc constant_tsc nonstop_tsc\ncpu MHz\t\t: 2596.138\n"


def test_decide():
    assert decide(False, None).accel == "tcg"
    assert decide(True, True).accel == "kvm"
    v = decide(True, False, "assertion")
    assert v.accel == "tcg" and "PVM" in v.reason and "assertion" in v.reason


def test_tsc_and_clock_args():
    assert host_tsc_khz(CPUINFO) == 2596138
    assert host_tsc_khz("cpu MHz : 1000") is None  # no constant_tsc: do not trust it
    assert clock_args("tcg", 2596138) == ("tsc_early_khz=2596138", "tsc=reliable")
    assert clock_args("kvm", 2596138) == ()


def test_verdict_is_probed_once_then_cached(tmp_path):
    calls = []

    def probe():
        calls.append(1)
        return False, "hang"

    cache = tmp_path / "accel.json"
    first = cached_verdict(cache, "k1", True, probe)
    second = cached_verdict(cache, "k1", True, probe)
    assert first == second and first.accel == "tcg" and len(calls) == 1
    assert json.loads(cache.read_text())["key"] == "k1"
    cached_verdict(cache, "k2", True, probe)   # a new host kernel or QEMU probes again
    assert len(calls) == 2


def test_no_kvm_device_never_probes(tmp_path):
    verdict = cached_verdict(tmp_path / "a.json", "k", False, lambda: pytest.fail("probed"))
    assert verdict.accel == "tcg"


def test_machine_drops_the_pit_only_when_the_tsc_frequency_is_known():
    tcg = machine_for("tcg", 2596138)
    assert tcg.cpu == "qemu64" and not tcg.pit and "tsc_early_khz=2596138" in tcg.clock_args
    assert machine_for("tcg", None).pit          # the kernel must calibrate the TSC itself
    kvm = machine_for("kvm", 2596138)
    assert kvm.pit and kvm.cpu == "host" and kvm.clock_args == ()
