"""`vessel run --isolation vm`: the same image under its own kernel, treated like a container by ps/logs/stop/rm."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VESSEL = str(Path(sys.executable).with_name("vessel"))

if os.geteuid() != 0 or shutil.which("qemu-system-x86_64") is None:
    pytest.skip("VMs need root and qemu-system-x86", allow_module_level=True)


@pytest.fixture
def vessel(tmp_path):
    root = tmp_path / "root"

    def run(*args, ok=True, timeout=180):
        proc = subprocess.run([VESSEL, "--root", str(root), *args], capture_output=True, text=True, timeout=timeout)
        if ok and proc.returncode != 0:
            raise AssertionError(f"vessel {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc
    yield run
    run("system", "reset", "--force", ok=False)


def test_vm_run_own_kernel_and_exit_code(vessel):
    res = vessel("run", "--rm", "--isolation", "vm", "-e", "WHO=guest", "-w", "/tmp", "busybox",
                 "sh", "-c", "uname -r; echo $WHO; pwd; exit 7", ok=False)
    assert res.returncode == 7, res.stderr
    kernel, who, cwd = res.stdout.split()
    assert kernel != platform.release() and who == "guest" and cwd == "/tmp"
    assert vessel("ps", "-aq").stdout == ""


def test_vm_detached_ps_logs_stop_rm(vessel):
    vessel("run", "-d", "--name", "vm1", "--isolation", "vm", "busybox",
           "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done")
    ps = vessel("ps").stdout
    assert "vm1" in ps and "(vm)" in ps
    deadline = time.monotonic() + 30
    while "tick 2" not in vessel("logs", "vm1").stdout:
        assert time.monotonic() < deadline, "no output from the VM"
        time.sleep(0.2)
    info = json.loads(vessel("inspect", "vm1").stdout)[0]
    assert info["Isolation"] == "vm" and info["State"]["Running"] is True
    vessel("stop", "-t", "5", "vm1")
    info = json.loads(vessel("inspect", "vm1").stdout)[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] in (143, 137)
    vessel("rm", "vm1")
    assert "vm1" not in vessel("ps", "-a").stdout
