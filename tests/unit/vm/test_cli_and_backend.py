import pytest

from vessel.cli.main import build_parser
from vessel.errors import InvalidArgument, NotFound
from vessel.vm.backend import VmBackend, random_mac, signal_number
from vessel.vm.spec import MAC_RE

pytestmark = pytest.mark.unit


def test_vm_verbs_are_registered():
    parser = build_parser()
    args = parser.parse_args(["vm", "migrate", "web", "--to", "/other"])
    assert args.vm == "web" and args.to == "/other" and callable(args.func)
    args = parser.parse_args(["vm", "run", "-e", "A=1", "-p", "8080:80", "/rootfs", "sh", "-c", "exit 7"])
    assert args.command == ["sh", "-c", "exit 7"] and args.env == ["A=1"]


def test_signal_names_and_macs():
    assert signal_number("TERM") == 15 and signal_number("SIGKILL") == 9 and signal_number(2) == 2
    with pytest.raises(InvalidArgument):
        signal_number("NOPE")
    assert MAC_RE.match(random_mac()) and random_mac() != random_mac()


def test_unknown_vm_is_not_found(tmp_path):
    backend = VmBackend(tmp_path, run_root=tmp_path / "run")
    assert backend.list() == []
    with pytest.raises(NotFound, match="no VM 'ghost'"):
        backend.get("ghost")
