"""Real guests under QEMU (TCG here): boot, exit codes, env/user/workdir, volumes, kill,
suspend/resume, export/import, live migration.  Boots are few (each costs seconds under TCG)."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from vessel.errors import SystemFailure
from vessel.vm import ProcessSpec, Status, VmBackend, VolumeSpec
from vessel.vm.rootfs import busybox_rootfs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (virtiofsd, /run)"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86 is not installed"),
]

COUNTER = "i=0; while :; do i=$((i+1)); echo count $i; sleep 0.2; done"


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def last_count(path: Path) -> int:
    counts = [int(line.split()[1]) for line in path.read_text().splitlines() if line.startswith("count ")]
    return counts[-1] if counts else 0


@pytest.fixture(scope="module")
def area():
    top = Path(tempfile.mkdtemp(prefix="vessel-vmtest-"))
    run = Path(tempfile.mkdtemp(prefix="vr", dir="/tmp"))
    rootfs = busybox_rootfs(top / "rootfs")
    yield top, run, rootfs
    for root in top.glob("root*"):
        for vm in VmBackend(root, run_root=run).list():
            vm.delete(force=True)
    shutil.rmtree(top, ignore_errors=True)
    shutil.rmtree(run, ignore_errors=True)


@pytest.fixture()
def backend(area):
    top, run, _ = area
    b = VmBackend(top / "root", run_root=run, boot_timeout=90)
    yield b
    for vm in b.list():
        vm.delete(force=True)


def keep_evidence(vm):
    """On failure, the console and output logs say what the guest saw."""
    return f"\n--- console ---\n{vm.console_path.read_text()[-2000:]}\n--- output ---\n{vm.logs_path.read_text()[-2000:]}"


def test_process_runs_in_guest_kernel_with_env_user_workdir_volume(backend, area, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    share.chmod(0o777)  # the guest process writes as uid 1000
    (share / "hello.txt").write_text("from the host\n")
    script = ("uname -r; id -u; id -g; pwd; echo \"FOO=$FOO\"; hostname; cat /data/hello.txt; "
              "echo written > /data/out.txt; exit 7")
    vm = backend.create("t1", area[2], ProcessSpec(("sh", "-c", script), env=("FOO=bar baz", "PATH=/bin"),
                                                   cwd="/home/app", user="app", hostname="guest1"),
                        memory_mb=192, volumes=(VolumeSpec(str(share), "/data"),))
    vm.start()
    try:
        code = vm.wait(60)
    except TimeoutError:
        pytest.fail("the guest did not finish" + keep_evidence(vm))
    assert code == 7, keep_evidence(vm)
    lines = vm.logs_path.read_text().splitlines()
    assert lines[0] != platform.release() and lines[0].endswith("cloud-amd64"), lines
    assert lines[1:7] == ["1000", "1000", "/home/app", "FOO=bar baz", "guest1", "from the host"], keep_evidence(vm)
    assert (share / "out.txt").read_text() == "written\n"
    state = vm.state()
    assert state.status is Status.EXITED and state.exit_code == 7 and state.accel in ("tcg", "kvm")


def test_setup_failure_is_a_clear_error_with_the_console_tail(backend, area):
    vm = backend.create("t2", area[2], ProcessSpec(("true",), user="nosuchuser"), memory_mb=128)
    with pytest.raises(SystemFailure, match="user nosuchuser not found") as err:
        vm.start()
    assert "serial console" in str(err.value)
    assert vm.state().status is Status.EXITED


def test_signal_suspend_resume_export_import(backend, area, tmp_path):
    vm = backend.create("t3", area[2], ProcessSpec(("sh", "-c", COUNTER)), memory_mb=128, network=None)
    vm.start()
    wait_until(lambda: last_count(vm.logs_path) >= 3, 30, "the counter to start")

    vm.suspend()
    assert vm.state().status is Status.SUSPENDED and vm.paths.ram_state.stat().st_size > 0
    frozen = last_count(vm.logs_path)
    vm.resume()
    wait_until(lambda: last_count(vm.logs_path) >= frozen + 3, 30, "the counter to go on after resume")
    counts = [int(x.split()[1]) for x in vm.logs_path.read_text().splitlines() if x.startswith("count ")]
    assert counts == list(range(1, len(counts) + 1)), "the process restarted instead of resuming"

    assert vm.stop(timeout=20) == 143  # SIGTERM relayed to the guest's process
    archive = vm.export(tmp_path / "vm.tar")
    copy = backend.import_(archive, name="t3-copy")
    assert copy.id != vm.id and copy.config.mac != vm.config.mac and copy.config.name == "t3-copy"
    before = len(copy.logs_path.read_text().splitlines())
    copy.start()
    wait_until(lambda: len(copy.logs_path.read_text().splitlines()) > before + 1, 30, "the imported copy to run")
    copy.kill("KILL")
    assert copy.wait(10) == 137


@pytest.mark.slow
def test_live_migration_keeps_the_process_running(backend, area):
    other = VmBackend(area[0] / "root2", run_root=area[1], boot_timeout=90)
    vm = backend.create("t4", area[2], ProcessSpec(("sh", "-c", COUNTER)), memory_mb=128)
    vm.start()
    wait_until(lambda: last_count(vm.logs_path) >= 3, 30, "the counter to start")
    report = vm.migrate(other.root)
    assert not vm.paths.dir.exists()
    moved = other.get("t4")
    assert moved.state().status is Status.RUNNING
    assert report.ram_bytes > 1 << 20 and 0 <= report.downtime_ms < report.total_ms
    mark = last_count(moved.logs_path)
    wait_until(lambda: last_count(moved.logs_path) >= mark + 3, 30, "the counter to go on after migration")
    lines = moved.logs_path.read_text().splitlines()
    assert lines.count("count 1") == 1, "the process restarted on the destination"
    assert moved.stop(timeout=20) == 143
    moved.delete()
