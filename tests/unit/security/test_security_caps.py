"""Capability table, masks and plans (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vessel.errors import InvalidArgument
from vessel.oci.spec import Capabilities
from vessel.runtime.linux import caps

pytestmark = pytest.mark.unit


def test_table_numbers_match_linux_capability_h():
    assert len(caps.CAPS) == 41
    assert caps.NUMBERS["CAP_CHOWN"] == 0
    assert caps.NUMBERS["CAP_SETPCAP"] == 8
    assert caps.NUMBERS["CAP_NET_RAW"] == 13
    assert caps.NUMBERS["CAP_SYS_ADMIN"] == 21
    assert caps.NUMBERS["CAP_SYS_RESOURCE"] == 24
    assert caps.NUMBERS["CAP_AUDIT_WRITE"] == 29
    assert caps.NUMBERS["CAP_SETFCAP"] == 31
    assert caps.NUMBERS["CAP_AUDIT_READ"] == 37
    assert caps.NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40
    assert caps.CAP_LAST == 40


def test_mask_and_names():
    bits = caps.mask(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"])
    assert bits == (1 << 5) | (1 << 10) | (1 << 29)
    assert caps.names(bits) == ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
    assert caps.mask([]) == 0
    assert caps.mask(caps.CAPS) == (1 << 41) - 1


@settings(database=None)  # nothing to replay; keeps the test free of the repo's .hypothesis
@given(st.sets(st.sampled_from(caps.CAPS)))
def test_mask_names_roundtrip(chosen):
    assert set(caps.names(caps.mask(chosen))) == chosen


def test_unknown_name_is_named_with_the_known_ones():
    with pytest.raises(InvalidArgument) as info:
        caps.mask(["CAP_KILL", "SYS_ADMIN"])
    assert "'SYS_ADMIN'" in str(info.value)
    assert "CAP_SYS_ADMIN" in info.value.hint


def test_names_newer_than_the_kernel_are_skipped_with_a_warning():
    warnings: list[str] = []
    bits = caps.mask(["CAP_BPF", "CAP_CHECKPOINT_RESTORE", "CAP_KILL"], last_cap=38, warnings=warnings)
    assert bits == 1 << 5
    assert len(warnings) == 2 and "CAP_BPF" in warnings[0] and "38" in warnings[0]


def test_plan_masks_each_set():
    plan = caps.plan(Capabilities(bounding=["CAP_KILL", "CAP_CHOWN"], effective=["CAP_KILL"],
                                  permitted=["CAP_KILL", "CAP_CHOWN"], inheritable=["CAP_CHOWN"],
                                  ambient=["CAP_CHOWN"]))
    assert (plan.bounding, plan.effective, plan.permitted) == (0b100001, 0b100000, 0b100001)
    assert (plan.inheritable, plan.ambient, plan.warnings) == (1, 1, ())


def test_plan_refuses_effective_outside_permitted():
    with pytest.raises(InvalidArgument, match="CAP_SYS_ADMIN not in permitted"):
        caps.plan(Capabilities(effective=["CAP_SYS_ADMIN"], permitted=["CAP_KILL"]))


def test_plan_drops_ambient_not_permitted_and_inheritable():
    plan = caps.plan(Capabilities(permitted=["CAP_KILL", "CAP_CHOWN"], inheritable=["CAP_KILL"],
                                  ambient=["CAP_KILL", "CAP_CHOWN"]))
    assert plan.ambient == 1 << 5
    assert plan.warnings == ()  # dropped silently, as runc does for `runc spec`'s ambient set


def test_plan_warns_once_for_a_cap_the_kernel_lacks():
    names = ["CAP_CHECKPOINT_RESTORE", "CAP_KILL"]
    plan = caps.plan(Capabilities(bounding=names, effective=names, permitted=names), last_cap=39)
    assert plan.bounding == plan.effective == plan.permitted == 1 << 5
    assert len(plan.warnings) == 1


def test_restrict_to_what_the_runtime_holds():
    wanted = caps.plan(Capabilities(bounding=["CAP_SYS_RESOURCE", "CAP_KILL"], effective=["CAP_SYS_RESOURCE"],
                                    permitted=["CAP_SYS_RESOURCE", "CAP_KILL"]))
    held = caps.mask(caps.CAPS) & ~(1 << caps.NUMBERS["CAP_SYS_RESOURCE"])
    got = caps.restrict(wanted, held)
    assert got.bounding == got.permitted == 1 << 5 and got.effective == 0
    assert "CAP_SYS_RESOURCE" in got.warnings[-1]
    assert caps.restrict(wanted, caps.mask(caps.CAPS)) is wanted


STATUS = """Name:\tcat
Umask:\t0022
CapInh:\t0000000000000400
CapPrm:\t0000000000000420
CapEff:\t0000000000000420
CapBnd:\t000001fffeffffff
CapAmb:\t0000000000000400
NoNewPrivs:\t0
"""


def test_parse_status():
    got = caps.parse_status(STATUS)
    assert got == {"inheritable": 0x400, "permitted": 0x420, "effective": 0x420,
                   "bounding": 0x1fffeffffff, "ambient": 0x400}
    assert "CAP_SYS_RESOURCE" not in caps.names(got["bounding"])
    assert caps.names(got["ambient"]) == ["CAP_NET_BIND_SERVICE"]


def test_current_reads_a_status_file(tmp_path):
    path = tmp_path / "status"
    path.write_text(STATUS)
    assert caps.current(path)["effective"] == 0x420


def test_last_cap_reads_the_kernel_file(tmp_path):
    path = tmp_path / "cap_last_cap"
    path.write_text("38\n")
    assert caps.last_cap(path) == 38
    assert caps.last_cap(tmp_path / "missing") == caps.CAP_LAST
