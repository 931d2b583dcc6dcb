"""vessel-runtime against the real kernel: namespaces, mounts, cgroups, caps, seccomp, hooks, tty."""

from __future__ import annotations

import array
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import make_config

pytestmark = pytest.mark.integration


def test_echo_hi_and_pid1(bundle):
    res = bundle.run(["sh", "-c", "echo hi; echo pid=$$; hostname"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["hi", "pid=1", "vessel"]


def test_exit_code_propagates(bundle):
    assert bundle.run(["sh", "-c", "exit 7"]).returncode == 7


def test_command_not_found_is_127(bundle):
    res = bundle.run(["no-such-program"])
    assert res.returncode == 127
    assert "not found" in res.stderr and "Traceback" not in res.stderr


def test_readonly_root_refuses_writes(bundle):
    res = bundle.run(["sh", "-c", "touch /newfile"])
    assert res.returncode != 0
    assert "Read-only file system" in res.stderr
    res = bundle.run(["sh", "-c", "touch /newfile && echo ok"], root={"path": "rootfs", "readonly": False})
    os.unlink(bundle.path / "rootfs" / "newfile")
    assert res.stdout.strip() == "ok"


def test_namespaces_are_private(bundle):
    res = bundle.run(["sh", "-c", "ls /sys/class/net; cat /proc/self/uid_map | wc -l; ps -o pid | wc -l"])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split()
    assert lines[0] == "lo"  # a new network namespace has only loopback
    assert int(lines[-1]) <= 4  # header, sh, ps, wc: no host processes visible


def test_masked_and_readonly_paths(bundle):
    res = bundle.run(["sh", "-c", "cat /proc/kcore | wc -c; echo 1 > /proc/sys/kernel/domainname || echo ro"])
    assert res.stdout.split() == ["0", "ro"]


def test_no_host_fds_leak(bundle):
    res = bundle.run(["ls", "/proc/self/fd"])
    assert sorted(res.stdout.split()) == ["0", "1", "2", "3"]  # 3 is ls's own directory fd


def test_dropped_capabilities_block_mount(bundle):
    res = bundle.run(["sh", "-c", "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo mounted"])
    assert "mounted" not in res.stdout
    assert res.returncode != 0


def test_user_and_cwd_and_env(bundle):
    res = bundle.run(["sh", "-c", "id -u; id -g; pwd; echo $FOO"],
                     process__user={"uid": 65534, "gid": 65534}, process__cwd="/tmp",
                     process__env=["PATH=/bin", "FOO=bar"])
    assert res.stdout.split() == ["65534", "65534", "/tmp", "bar"], res.stderr


def test_rlimits_apply(bundle):
    res = bundle.run(["sh", "-c", "ulimit -n"], process__rlimits=[{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}])
    assert res.stdout.strip() == "256"


def test_rlimit_above_host_hard_limit_is_a_clear_error(bundle):
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    res = bundle.run(["true"], process__rlimits=[{"type": "RLIMIT_NOFILE", "hard": hard + 1000, "soft": hard + 1000}])
    assert res.returncode != 0
    assert "RLIMIT_NOFILE" in res.stderr and "Traceback" not in res.stderr


def test_seccomp_rule_returns_eperm(bundle):
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    res = bundle.run(["sh", "-c", "mkdir /tmp/x; echo done"], linux__seccomp=seccomp)
    assert "Operation not permitted" in res.stderr
    assert res.stdout.strip() == "done"


def test_create_start_separation(bundle, tmp_path):
    marker = tmp_path / "shared"
    marker.mkdir()
    cfg = make_config(["sh", "-c", "echo ran > /shared/out; sleep 30"])
    cfg["mounts"].append({"destination": "/shared", "type": "bind", "source": str(marker), "options": ["rbind", "rw"]})
    bundle.write(cfg)
    pidfile = tmp_path / "pid"
    bundle.rt("create", "--bundle", str(bundle.path), "--pid-file", str(pidfile), bundle.id, check=True)
    state = json.loads(bundle.rt("state", bundle.id, check=True).stdout)
    assert state["status"] == "created"
    assert state["pid"] == int(pidfile.read_text())
    time.sleep(0.3)
    assert not (marker / "out").exists(), "the program ran before start"
    bundle.rt("start", bundle.id, check=True)
    deadline = time.monotonic() + 10
    while not (marker / "out").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (marker / "out").read_text() == "ran\n"
    assert json.loads(bundle.rt("state", bundle.id).stdout)["status"] == "running"
    res = bundle.rt("start", bundle.id)
    assert res.returncode == 1 and "running" in res.stderr
    assert bundle.rt("delete", bundle.id).returncode == 1  # running: refused without --force
    bundle.rt("kill", bundle.id, "KILL", check=True)
    deadline = time.monotonic() + 10
    while json.loads(bundle.rt("state", bundle.id).stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    bundle.rt("delete", bundle.id, check=True)
    assert bundle.rt("state", bundle.id).returncode == 1


def _cgroup_dirs_named(name: str) -> list[str]:
    found = []
    for base in Path("/sys/fs/cgroup").iterdir():
        for dirpath, dirnames, _ in os.walk(base):
            if name in dirnames:
                found.append(os.path.join(dirpath, name))
    return found


def _mounts_mentioning(*paths) -> list[str]:
    """Mount-table lines about our bundle and state dirs (other tests' roots may be busy meanwhile)."""
    return [l for l in Path("/proc/self/mountinfo").read_text().splitlines() if any(str(p) in l for p in paths)]


def test_delete_leaves_nothing_behind(bundle):
    mounts_before = _mounts_mentioning(bundle.path, bundle.root)
    bundle.write(make_config(["sleep", "30"]))
    bundle.rt("create", "--bundle", str(bundle.path), bundle.id, check=True)
    assert _cgroup_dirs_named(bundle.id), "no cgroup was created"
    bundle.rt("start", bundle.id, check=True)
    bundle.rt("delete", "--force", bundle.id, check=True)
    assert _cgroup_dirs_named(bundle.id) == []
    assert not (bundle.root / bundle.id).exists()
    assert _mounts_mentioning(bundle.path, bundle.root) == mounts_before


def test_memory_limit_oom_kills(bundle):
    # a 32 MiB limit; the shell tries to hold ~100 MiB in a variable
    res = bundle.run(["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived ${#x}"],
                     linux__resources={"memory": {"limit": 32 * 1024 * 1024}})
    assert "survived" not in res.stdout
    assert res.returncode != 0


def test_pids_limit_stops_fork_bomb(bundle):
    # every loop iteration forks a sleeper; the pids controller must cap the container at 10 tasks
    bundle.write(make_config(["sleep", "60"], linux__resources={"pids": {"limit": 10}}))
    bundle.rt("run", "--detach", "--bundle", str(bundle.path), bundle.id, check=True)
    bundle.rt("exec", "--detach", bundle.id, "sh", "-c", "while :; do sleep 30 & done 2>/dev/null", check=True)
    pids_events = [Path(d, "pids.events") for d in _cgroup_dirs_named(bundle.id) if "/pids/" in d]
    assert pids_events, "no pids cgroup"
    deadline = time.monotonic() + 10
    while "max 0" in pids_events[0].read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "max 0" not in pids_events[0].read_text(), "the limit was never hit"
    count = len(json.loads(bundle.rt("ps", "--format", "json", bundle.id, check=True).stdout))
    assert 1 <= count <= 10
    bundle.rt("delete", "--force", bundle.id, check=True)


def test_cpu_quota_caps_busy_loop(bundle):
    # 20% of a CPU: in 1 s wall time the loop may use at most ~0.2 s of CPU (generous bound 0.45 s)
    script = "timeout 1 sh -c 'while :; do :; done'; cat /proc/self/stat >/dev/null"
    bundle.write(make_config(["sh", "-c", script], linux__resources={"cpu": {"quota": 20000, "period": 100000}}))
    start = os.times()
    res = bundle.rt("run", "--bundle", str(bundle.path), bundle.id)
    used = (os.times().children_user + os.times().children_system) - (start.children_user + start.children_system)
    assert res.returncode in (0, 124, 143), res.stderr
    assert used < 0.45, f"busy loop used {used:.2f}s of CPU in 1 s under a 20% quota"


def test_hooks_receive_state(bundle, tmp_path):
    out = tmp_path / "hooks"
    out.mkdir()
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ncat > {out}/$1.json\n")
    hook.chmod(0o755)
    hooks = {name: [{"path": str(hook), "args": ["hook.sh", name]}]
             for name in ("prestart", "createRuntime", "poststart", "poststop")}
    res = bundle.run(["true"], hooks=hooks)
    assert res.returncode == 0, res.stderr
    for name in hooks:
        state = json.loads((out / f"{name}.json").read_text())
        assert state["id"] == bundle.id
        assert state["bundle"] == str(bundle.path)
    assert json.loads((out / "poststop.json").read_text())["status"] == "stopped"
    assert json.loads((out / "prestart.json").read_text())["pid"] > 0


def test_failing_prestart_hook_aborts_create(bundle, tmp_path):
    res = bundle.run(["true"], hooks={"prestart": [{"path": "/bin/false"}]})
    assert res.returncode == 1
    assert "prestart hook /bin/false exited with status 1" in res.stderr
    assert not (bundle.root / bundle.id).exists()


def test_runtime_binary_cannot_be_executed_inside(bundle):
    res = bundle.run(["/proc/self/exe", "-c", "print(1)"])
    assert res.returncode != 0
    assert "runtime's own binary" in res.stderr


def test_tty_through_console_socket(bundle, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    got: dict = {}

    def accept():
        conn, _ = server.accept()
        fds = array.array("i")
        with conn:
            msg, anc, _flags, _addr = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
        fds.frombytes(anc[0][2][:fds.itemsize])
        got["name"] = msg
        got["fd"] = fds[0]

    t = threading.Thread(target=accept)
    t.start()
    cfg = make_config(["sh", "-c", "tty; stty size"])
    cfg["process"]["terminal"] = True
    cfg["process"]["consoleSize"] = {"height": 33, "width": 101}
    bundle.write(cfg)
    bundle.rt("create", "--bundle", str(bundle.path), "--console-socket", sock_path, bundle.id, check=True)
    t.join(10)
    server.close()
    assert got["name"] == b"/dev/ptmx"
    bundle.rt("start", bundle.id, check=True)
    output = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            chunk = os.read(got["fd"], 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(got["fd"])
    text = output.decode()
    assert "/dev/pts/0" in text
    assert "33 101" in text


def test_exec_pause_resume_ps(bundle):
    bundle.write(make_config(["sleep", "60"]))
    bundle.rt("run", "--detach", "--bundle", str(bundle.path), bundle.id, check=True)
    res = bundle.rt("exec", bundle.id, "sh", "-c", "echo from-exec $$; hostname; exit 3")
    assert res.returncode == 3
    assert res.stdout.split()[0] == "from-exec" and res.stdout.split()[2] == "vessel"
    pids = json.loads(bundle.rt("ps", "--format", "json", bundle.id, check=True).stdout)
    state = json.loads(bundle.rt("state", bundle.id).stdout)
    assert state["pid"] in pids
    bundle.rt("pause", bundle.id, check=True)
    assert json.loads(bundle.rt("state", bundle.id).stdout)["status"] == "paused"
    status = Path(f"/proc/{state['pid']}/status").read_text()
    bundle.rt("resume", bundle.id, check=True)
    assert json.loads(bundle.rt("state", bundle.id).stdout)["status"] == "running"
    assert "State:" in status
    listing = bundle.rt("list", "--format", "json", check=True).stdout
    assert json.loads(listing)[0]["id"] == bundle.id
    bundle.rt("delete", "--force", bundle.id, check=True)


def test_user_namespace_mapping(bundle, busybox_rootfs):
    # the mapped root (host uid 100000) must be able to walk to the rootfs
    for parent in [bundle.path, *bundle.path.parents, busybox_rootfs, *busybox_rootfs.parents]:
        if str(parent).startswith(tempfile.gettempdir() + "/"):
            parent.chmod(parent.stat().st_mode | 0o011)
    mapping = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg_ns = make_config(["sh", "-c", "id -u; cat /proc/self/uid_map"])["linux"]["namespaces"] + [{"type": "user"}]
    res = bundle.run(["sh", "-c", "id -u; cat /proc/self/uid_map"], root={"path": "rootfs", "readonly": False},
                     linux__namespaces=cfg_ns, linux__uidMappings=mapping, linux__gidMappings=mapping)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1].split() == ["0", "100000", "65536"]


def test_update_changes_memory_limit(bundle):
    bundle.write(make_config(["sleep", "60"], linux__resources={"memory": {"limit": 64 * 1024 * 1024}}))
    bundle.rt("run", "--detach", "--bundle", str(bundle.path), bundle.id, check=True)
    bundle.rt("update", "--memory", str(128 * 1024 * 1024), bundle.id, check=True)
    dirs = [d for d in _cgroup_dirs_named(bundle.id) if "/memory/" in d]
    assert dirs and Path(dirs[0], "memory.limit_in_bytes").read_text().strip() == str(128 * 1024 * 1024)
    bundle.rt("delete", "--force", bundle.id, check=True)


def test_bad_config_is_a_clear_error(bundle):
    bundle.write({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": [], "cwd": "/"},
                  "linux": {"namespaces": [{"type": "mount"}]}})
    res = bundle.rt("run", "--bundle", str(bundle.path), bundle.id)
    assert res.returncode == 1
    assert "process.args" in res.stderr and "Traceback" not in res.stderr
    res = bundle.rt("--log", str(bundle.path / "log.json"), "--log-format", "json", "start", "nonexistent")
    line = json.loads((bundle.path / "log.json").read_text().splitlines()[-1])
    assert line["level"] == "error" and "does not exist" in line["msg"]
