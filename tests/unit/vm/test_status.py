import pytest

from vessel.errors import Conflict
from vessel.vm.status import GuestReport, Status, VmState, final_exit_code, parse_status, require

pytestmark = pytest.mark.unit


def test_guards_follow_the_life_cycle():
    assert Status.CREATED.can_start() and Status.EXITED.can_start()
    assert not Status.RUNNING.can_start()
    assert Status.RUNNING.can_suspend() and not Status.SUSPENDED.can_suspend()
    assert Status.SUSPENDED.can_resume() and not Status.RUNNING.can_resume()
    assert Status.RUNNING.can_migrate() and not Status.EXITED.can_migrate()
    assert Status.SUSPENDED.can_export() and not Status.RUNNING.can_export()
    assert not Status.RUNNING.can_delete(False) and Status.RUNNING.can_delete(True)


def test_require_raises_conflict_naming_state():
    with pytest.raises(Conflict, match="cannot suspend VM x: it is exited"):
        require("x", Status.EXITED, Status.EXITED.can_suspend(), "suspend")


def test_parse_status_lines():
    assert parse_status("started 12\nexit 7\n") == GuestReport(12, 7, "")
    assert parse_status("fail cannot mount\n") == GuestReport(None, None, "cannot mount")
    assert parse_status("garbage\nstarted x\n") == GuestReport()


@pytest.mark.parametrize("report, killed, expected", [
    (GuestReport(1, 7), 0, 7),
    (GuestReport(1, None), 9, 137),
    (GuestReport(None, None, "boom"), 0, 127),
    (GuestReport(1, None), 0, 255),
])
def test_final_exit_code(report, killed, expected):
    assert final_exit_code(report, killed)[0] == expected


def test_state_json_round_trip():
    s = VmState(Status.RUNNING, pid=5, accel="tcg")
    assert VmState.from_json(s.to_json()) == s
    assert s.update(pid=6).pid == 6
