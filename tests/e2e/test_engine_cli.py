"""The `vessel` container commands as a user types them (root; real conmon, runtime, overlay, cgroups)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

from support import VESSEL, wait_until  # noqa: E402

if os.geteuid() != 0:
    pytest.skip("the engine needs root", allow_module_level=True)


class Cli:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, input: bytes | None = None, ok: bool = True, timeout: float = 120):
        proc = subprocess.run([VESSEL, "--root", str(self.root), *args], input=input, capture_output=True,
                              timeout=timeout)
        if ok and proc.returncode != 0:
            raise AssertionError(f"vessel {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
        return proc

    def out(self, *args: str, **kw) -> str:
        return self(*args, **kw).stdout.decode()


@pytest.fixture
def vessel(tmp_path):
    cli = Cli(tmp_path / "root")
    yield cli
    cli("system", "reset", "--force")  # containers, volumes, this root's bridge and nft table


def test_run_rm_echo_hello(vessel):
    res = vessel("run", "--rm", "busybox", "echo", "hello")
    assert res.stdout == b"hello\n"
    assert vessel.out("ps", "-aq") == ""


def test_run_exit_codes(vessel):
    assert vessel("run", "--rm", "busybox", "sh", "-c", "exit 3", ok=False).returncode == 3
    res = vessel("run", "--rm", "busybox", "no-such-command", ok=False)
    assert res.returncode == 127, res.stderr
    res = vessel("run", "--rm", "busybox", "/etc/passwd", ok=False)
    assert res.returncode == 126, res.stderr


def test_stdout_and_stderr_are_separate(vessel):
    res = vessel("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert res.stdout == b"out\n" and res.stderr == b"err\n"


def test_stdin_with_i(vessel):
    res = vessel("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z", input=b"shout\n")
    assert res.stdout == b"SHOUT\n"


def test_detached_lifecycle(vessel, tmp_path):
    cid = vessel.out("run", "-d", "--name", "web", "-v", "data:/data", "--memory", "64m", "--cpus", "0.5",
                     "--pids-limit", "100", "busybox", "sh", "-c",
                     "i=0; while true; do i=$((i+1)); echo line $i; echo $i >> /data/log; sleep 0.2; done").strip()
    assert len(cid) == 64
    wait_until(lambda: "line 2" in vessel.out("logs", "web"), what="logs")
    ps = vessel.out("ps")
    assert "web" in ps and "Up" in ps and "busybox" in ps
    info = json.loads(vessel.out("inspect", "web"))[0]
    assert info["Id"] == cid and info["State"]["Running"] is True and info["Name"] == "/web"
    assert vessel.out("exec", "web", "cat", "/proc/1/cmdline").startswith("sh")
    assert vessel.out("exec", "web", "hostname").strip() == cid[:12]
    stats = vessel.out("stats", "--no-stream", "web")
    assert "web" in stats and "64.0MiB" in stats
    top = vessel.out("top", "web")
    assert "PID" in top and "sleep" in top or "sh" in top
    vessel("update", "--memory", "128m", "web")
    assert "128.0MiB" in vessel.out("stats", "--no-stream", "web")
    vessel("pause", "web")
    assert "Paused" in vessel.out("ps")
    vessel("unpause", "web")
    vessel("stop", "-t", "1", "web")
    state = json.loads(vessel.out("inspect", "web"))[0]["State"]
    assert state["Status"] == "exited" and state["Running"] is False
    first = len(vessel.out("logs", "web").splitlines())
    vessel("start", "web")
    wait_until(lambda: len(vessel.out("logs", "web").splitlines()) > first + 1, what="more logs after restart")
    assert "data" in vessel.out("volume", "ls")
    assert vessel("rm", "web", ok=False).returncode != 0  # running: refused
    vessel("rm", "-f", "web")
    assert "web" not in vessel.out("ps", "-a")
    # the named volume kept its data
    log = vessel.out("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/log")
    assert len(log.split()) >= 2


def test_logs_options(vessel):
    vessel("run", "--name", "logs1", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo $i; done")
    assert vessel.out("logs", "logs1") == "1\n2\n3\n4\n5\n"
    assert vessel.out("logs", "--tail", "2", "logs1") == "4\n5\n"
    stamped = vessel.out("logs", "-t", "logs1").splitlines()
    assert stamped[0].endswith(" 1") and stamped[0][:4].isdigit() and "T" in stamped[0]
    assert vessel.out("logs", "--since", "1h", "logs1").count("\n") == 5
    assert vessel.out("logs", "--until", "2000-01-01T00:00:00Z", "logs1") == ""


def test_logs_follow_streams_until_exit(vessel):
    vessel("run", "-d", "--name", "follow1", "busybox", "sh", "-c", "echo a; sleep 1; echo b")
    res = vessel("logs", "-f", "follow1", timeout=30)
    assert res.stdout == b"a\nb\n"


def test_volume_is_seeded_from_image(vessel):
    out = vessel.out("run", "--rm", "-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd")
    assert out.startswith("root:")
    vols = vessel.out("volume", "ls")
    assert "etcvol" in vols
    vessel("volume", "rm", "etcvol")


def test_bind_mount_and_read_only(vessel, tmp_path):
    host = tmp_path / "share"
    host.mkdir()
    (host / "in.txt").write_text("from host")
    out = vessel.out("run", "--rm", "-v", f"{host}:/share", "busybox", "sh", "-c", "cat /share/in.txt; echo x > /share/out.txt")
    assert out == "from host"
    assert (host / "out.txt").read_text() == "x\n"
    res = vessel("run", "--rm", "--read-only", "busybox", "touch", "/x", ok=False)
    assert res.returncode != 0 and b"Read-only" in res.stderr


def test_env_user_workdir_entrypoint(vessel):
    out = vessel.out("run", "--rm", "-e", "A=1", "-u", "nobody", "-w", "/tmp", "busybox", "sh", "-c", "echo $A; id -un; pwd")
    assert out.split() == ["1", "nobody", "/tmp"]
    out = vessel.out("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert out == "via entrypoint\n"


def test_bad_input_is_one_line_error_125(vessel, tmp_path):
    cases = [
        ("run", "--rm", "nosuchimage:1", "true"),
        ("run", "--rm", "--memory", "lots", "busybox", "true"),
        ("run", "--rm", "-v", f"{tmp_path}/missing:/x", "busybox", "true"),
    ]
    for args in cases:
        res = vessel(*args, ok=False)
        err = res.stderr.decode()
        assert res.returncode == 125, (args, err)
        assert err.startswith("Error") and "Traceback" not in err, err
    vessel("create", "--name", "dup", "busybox", "true")
    res = vessel("create", "--name", "dup", "busybox", "true", ok=False)
    assert res.returncode == 125 and b"already in use" in res.stderr
    assert vessel.out("ps", "-aq").count("\n") == 1  # nothing half-created


def test_restart_policy_on_failure(vessel):
    vessel("run", "-d", "--name", "restart1", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1")
    wait_until(lambda: json.loads(vessel.out("inspect", "restart1"))[0]["RestartCount"] == 2
               and json.loads(vessel.out("inspect", "restart1"))[0]["State"]["Status"] == "exited", timeout=30,
               what="two restarts")
    assert vessel.out("logs", "restart1").count("run") == 3


def test_cp_export_commit(vessel, tmp_path):
    vessel("run", "-d", "--name", "cpctr", "busybox", "sleep", "60")
    src = tmp_path / "hello.txt"
    src.write_text("hi there")
    vessel("cp", str(src), "cpctr:/tmp/")
    assert vessel.out("exec", "cpctr", "cat", "/tmp/hello.txt") == "hi there"
    vessel("exec", "cpctr", "sh", "-c", "echo inside > /root/made.txt")
    vessel("cp", "cpctr:/root/made.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "inside\n"
    vessel("export", "-o", str(tmp_path / "fs.tar"), "cpctr")
    with tarfile.open(tmp_path / "fs.tar") as tar:
        assert "root/made.txt" in tar.getnames() and "bin/busybox" in tar.getnames()
    vessel("commit", "cpctr", "snap:1")
    assert vessel.out("run", "--rm", "snap:1", "cat", "/root/made.txt") == "inside\n"


def test_interactive_tty(vessel):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(VESSEL, [VESSEL, "--root", str(vessel.root), "run", "--rm", "-it", "busybox", "sh"])
    out = b""

    def read_until(marker: bytes, timeout: float = 20) -> bytes:
        nonlocal out
        deadline = time.monotonic() + timeout
        while marker not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        return out
    read_until(b"#")
    os.write(fd, b"tty; echo done-$((6*7))\n")
    assert b"done-42" in read_until(b"done-42")
    assert b"/dev/pts/" in out
    os.write(fd, b"exit 5\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 5


def _cgroups_named(cid: str) -> list[str]:
    found = []
    for base in Path("/sys/fs/cgroup").iterdir():
        vessel_dir = base / "vessel"
        if vessel_dir.is_dir() and (vessel_dir / cid).exists():
            found.append(str(vessel_dir / cid))
    return found


def _mounts_under(root: Path) -> list[str]:
    return [l for l in Path("/proc/self/mountinfo").read_text().splitlines() if str(root) in l]


def test_no_leaks_after_rm(vessel):
    mounts = _mounts_under(vessel.root)
    for _ in range(5):
        vessel("run", "--rm", "busybox", "true")
    cid = vessel.out("run", "-d", "busybox", "sleep", "30").strip()
    assert _cgroups_named(cid)
    vessel("rm", "-f", cid)
    assert _cgroups_named(cid) == []
    assert _mounts_under(vessel.root) == mounts
    assert not (vessel.root / "containers" / cid).exists()
    assert not (vessel.root / "run" / cid).exists()


def test_attach_streams_output_until_exit(vessel):
    vessel("run", "-d", "--name", "att1", "busybox", "sh", "-c", "sleep 0.5; echo one; sleep 0.3; echo two; exit 4")
    res = vessel("attach", "att1", ok=False, timeout=30)
    assert b"two" in res.stdout
    assert res.returncode == 4


def _conmons_of(cid: str) -> int:
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"conmon") and cid.encode() in cmd:
            count += 1
    return count


def test_concurrent_starts_start_the_container_once(vessel):
    cid = vessel.out("create", "--name", "twice", "busybox", "sleep", "30").strip()
    procs = [subprocess.Popen([VESSEL, "--root", str(vessel.root), "start", "twice"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(4)]
    results = [(p.communicate(timeout=60)[1].decode(), p.returncode)[::-1] for p in procs]
    assert [code for code, _ in results] == [0, 0, 0, 0], results
    assert _conmons_of(cid) == 1
    info = json.loads(vessel.out("inspect", "twice"))[0]
    assert info["State"]["Running"] is True
    vessel("rm", "-f", "twice")
    assert _conmons_of(cid) == 0 or wait_until(lambda: _conmons_of(cid) == 0, what="conmon gone")


def test_concurrent_readers_record_an_exit_once(vessel):
    cid = vessel.out("run", "-d", "--name", "quick", "busybox", "sh", "-c", "sleep 0.3; exit 7").strip()
    time.sleep(0.6)
    procs = [subprocess.Popen([VESSEL, "--root", str(vessel.root), "inspect", "quick"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(6)]
    outs = [(p.returncode, out, err.decode()) for p in procs for out, err in [p.communicate(timeout=60)]]
    assert all(code == 0 for code, _, _ in outs), outs
    states = {(json.loads(out)[0]["State"]["ExitCode"], json.loads(out)[0]["State"]["FinishedAt"]) for _, out, _ in outs}
    assert len(states) == 1 and next(iter(states))[0] == 7, states   # one exit, recorded once
    assert _conmons_of(cid) == 0 or wait_until(lambda: _conmons_of(cid) == 0, what="conmon gone")


def _pty_session(argv: list[str]):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    seen = bytearray()

    def read_until(marker: bytes, timeout: float = 20) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    seen.extend(os.read(fd, 4096))
                except OSError:
                    break
        return bytes(seen)
    return pid, fd, read_until


@pytest.mark.parametrize("keys, typed", [(None, b"\x10\x11"), ("ctrl-a,x", b"\x01x")])
def test_detach_keys_leave_the_container_running(vessel, keys, typed):
    extra = ["--detach-keys", keys] if keys else []
    pid, fd, read_until = _pty_session([VESSEL, "--root", str(vessel.root), "run", "--rm", "-it", *extra,
                                        "--name", "det", "busybox", "sh"])
    read_until(b"#")
    os.write(fd, b"echo marker-$((6*7)) > /tmp/m\n")
    read_until(b"#", timeout=5)
    os.write(fd, typed)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert vessel.out("inspect", "-f", "{{.State.Running}}", "det").strip() == "true"
    assert vessel.out("exec", "det", "cat", "/tmp/m").strip() == "marker-42"
    vessel("rm", "-f", "det")


def test_bad_detach_keys_are_refused_before_anything_is_created(vessel):
    res = vessel("run", "--rm", "-it", "--detach-keys", "ctrl-", "busybox", "true", ok=False)
    assert res.returncode == 125 and b"Invalid detach keys (ctrl-)" in res.stderr
    assert vessel.out("ps", "-aq") == ""


def _loops_of(cid: str) -> int:
    found = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"vessel-health" in cmd and cid.encode() in cmd:
            found += 1
    return found


def test_health_check_goes_starting_unhealthy_healthy(vessel):
    cid = vessel.out("run", "-d", "--name", "hc", "--health-cmd", "test -f /tmp/ok", "--health-interval", "300ms",
                     "--health-retries", "2", "busybox", "sh", "-c", "sleep 100").strip()
    assert "(health: starting)" in vessel.out("ps")
    wait_until(lambda: "(unhealthy)" in vessel.out("ps"), what="unhealthy after 2 failures")
    vessel("exec", "hc", "touch", "/tmp/ok")
    wait_until(lambda: "(healthy)" in vessel.out("ps"), what="healthy after a success")
    state = json.loads(vessel.out("inspect", "hc"))[0]["State"]["Health"]
    assert state["Status"] == "healthy" and state["FailingStreak"] == 0
    assert [e["ExitCode"] for e in state["Log"]][-1] == 0 and len(state["Log"]) <= 5
    assert vessel("healthcheck", "run", "hc").stdout == b"healthy\n"
    assert _loops_of(cid) == 1
    vessel("stop", "-t", "0", "hc")
    assert _loops_of(cid) == 0 or wait_until(lambda: _loops_of(cid) == 0, what="the loop ends with the container")
    res = vessel("run", "--rm", "--health-interval", "soon", "busybox", "true", ok=False)
    assert res.returncode == 125 and b"--health-interval" in res.stderr
