import signal
import struct

import pytest

from vessel.errors import InvalidArgument
from vessel.oci.spec import Capabilities, Process, User
from vessel.runtime import process as P
from vessel.runtime.exec import ExecOptions, build_process
from vessel.runtime.ops import parse_signal
from vessel.runtime.state import ContainerState, StateDir, check_id, status

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text, num", [("TERM", 15), ("SIGKILL", 9), ("kill", 9), ("9", 9), ("RTMIN+1", signal.SIGRTMIN + 1)])
def test_parse_signal(text, num):
    assert parse_signal(text) == num


@pytest.mark.parametrize("text", ["BOGUS", "0", "99", ""])
def test_parse_signal_rejects(text):
    with pytest.raises(InvalidArgument, match="unknown signal"):
        parse_signal(text)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "-x", "."])
def test_container_ids(bad):
    with pytest.raises(InvalidArgument):
        check_id(bad)


def test_state_status_derivation(tmp_path):
    sd = StateDir(tmp_path, "c1")
    sd.make()
    dead = ContainerState(id="c1", bundle="/b", rootfs="/b/rootfs", pid=2**22 + 7, pid_start=1)
    assert status(sd, dead) == "stopped"
    creating = ContainerState(id="c1", bundle="/b", rootfs="/r", creating=True)
    assert status(sd, creating) == "creating"
    oci = dead.to_oci("stopped")
    assert oci["status"] == "stopped" and oci["id"] == "c1" and oci["pid"] == 0


def test_exec_process_overrides():
    base = Process(args=["sh"], env=["PATH=/bin", "A=1"], cwd="/",
                   capabilities=Capabilities(bounding=["CAP_KILL"], effective=["CAP_KILL"], permitted=["CAP_KILL"]))
    proc = build_process(base, ExecOptions(args=("ls", "-l"), env=("A=2", "B=3"), user="1000:100", cwd="/tmp",
                                           cap_add=("CAP_CHOWN",)))
    assert proc.args == ["ls", "-l"]
    assert proc.env == ["PATH=/bin", "A=2", "B=3"]
    assert proc.user == User(uid=1000, gid=100, additional_gids=[])
    assert proc.cwd == "/tmp"
    assert proc.capabilities.bounding == ["CAP_CHOWN", "CAP_KILL"]
    with pytest.raises(InvalidArgument, match="UID"):
        build_process(base, ExecOptions(args=("x",), user="root"))
    with pytest.raises(InvalidArgument, match="command"):
        build_process(base, ExecOptions())


def test_find_executable_uses_path(tmp_path):
    (tmp_path / "bin").mkdir()
    prog = tmp_path / "bin" / "tool"
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    assert P.find_executable("tool", [f"PATH={tmp_path}/bin"]) == str(prog)
    with pytest.raises(P.ExecError) as exc:
        P.find_executable("missing", [f"PATH={tmp_path}/bin"])
    assert exc.value.exit_code == 127
    (tmp_path / "plain").write_text("x")
    with pytest.raises(P.ExecError) as exc:
        P.find_executable(str(tmp_path / "plain"), [])
    assert exc.value.exit_code == 126


def test_interp_chain_follows_shebang_and_elf(tmp_path):
    script = tmp_path / "s"
    script.write_text("#!/bin/sh -e\necho\n")
    assert P._interp_chain(str(script))[:2] == [str(script), "/bin/sh"]
    # a fake 64-bit ELF with one PT_INTERP program header
    interp = b"/lib/ld-fake.so\0"
    header = bytearray(64)
    header[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", header, 0x20, 64)
    struct.pack_into("<HH", header, 0x36, 56, 1)
    ph = struct.pack("<IIQQQQQQ", 3, 4, 120, 0, 0, len(interp), len(interp), 1)
    elf = tmp_path / "elf"
    elf.write_bytes(bytes(header) + ph + interp)
    assert P._interp_chain(str(elf)) == [str(elf), "/lib/ld-fake.so"]


def test_refuse_runtime_binary(tmp_path):
    target = tmp_path / "t"
    target.write_text("#!/bin/true\n")
    st = (tmp_path / "t").stat()
    with pytest.raises(P.ExecError, match="runtime's own binary"):
        P.refuse_runtime_binary(str(target), (st.st_dev, st.st_ino))
    P.refuse_runtime_binary(str(target), (0, 0))
