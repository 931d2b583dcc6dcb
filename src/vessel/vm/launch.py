"""The thin shell that starts and watches processes: QEMU, virtiofsd, and the boot supervisor.

QEMU runs daemonized (``-daemonize -pidfile``), so a VM outlives the vessel
command that started it; its parent becomes init, which reaps it.  Whether it
still runs is checked against ``/proc/PID/cmdline`` (which names the VM's
folder, so a recycled pid is not mistaken for it); waiting uses a pidfd.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

from vessel.errors import NotFound, SystemFailure
from vessel.vm.qemu_args import VmPaths, virtiofsd_argv
from vessel.vm.spec import VmConfig
from vessel.vm.status import GuestReport, parse_status

Clock = Callable[[], float]
POLL = 0.02


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"


def alive(pid: int, marker: str) -> bool:
    """True when ``pid`` runs and its command line mentions ``marker`` (the VM folder)."""
    if pid <= 0:
        return False
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def wait_exit(pid: int, timeout: float | None) -> bool:
    """Wait until ``pid`` (not necessarily our child) ends; False on timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def run_qemu(argv: list[str], vm_id: str, paths: VmPaths) -> int:
    """Start a daemonized QEMU; returns its pid.  Start-up errors come back on stderr at once."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError as err:
        raise NotFound(f"cannot start VM {vm_id}: {argv[0]} is not installed",
                       hint="apt-get install --no-install-recommends qemu-system-x86") from err
    if done.returncode != 0:
        raise SystemFailure(f"QEMU could not start VM {vm_id} (exit {done.returncode}): {done.stderr.strip()[-800:]}",
                            vm=vm_id)
    return int(paths.pidfile.read_text().strip())


def start_virtiofsd(config: VmConfig, paths: VmPaths, clock: Clock = time.monotonic, timeout: float = 10.0) -> None:
    """One detached virtiofsd per volume; returns once every socket exists (QEMU connects to it)."""
    for i, vol in enumerate(config.volumes):
        if not Path(vol.source).is_dir():
            raise NotFound(f"volume source {vol.source} is not a directory", vm=config.id, path=vol.source)
        sock = paths.virtiofs_socket(i)
        sock.unlink(missing_ok=True)
        argv = virtiofsd_argv(vol.source, sock, vol.readonly)
        log = paths.dir / f"virtiofsd{i}.log"
        # `sh -c '... &'` detaches it: init becomes its parent and reaps it; it exits with QEMU.
        subprocess.run(["sh", "-c", f'"$@" </dev/null >>"{log}" 2>&1 &', "sh", *argv], check=True)
        deadline = clock() + timeout
        while not sock.exists():
            if clock() > deadline:
                raise SystemFailure(f"virtiofsd for volume {vol.source} did not create {sock} within {timeout:.0f}s",
                                    hint=tail(log, 5), vm=config.id)
            time.sleep(POLL)


def read_report(paths: VmPaths) -> GuestReport:
    try:
        return parse_status(paths.status.read_text(errors="replace"))
    except FileNotFoundError:
        return GuestReport()


def supervise_boot(vm_id: str, paths: VmPaths, pid: int, timeout: float, clock: Clock = time.monotonic) -> GuestReport:
    """Wait until the guest reports its process started (or failed, or QEMU died).

    A boot that says nothing within ``timeout`` is killed and raised as SystemFailure
    carrying the tail of the serial console.
    """
    deadline = clock() + timeout
    marker = str(paths.dir)
    while True:
        report = read_report(paths)
        if report.started_pid is not None or report.failure or report.exit_code is not None:
            if report.failure:
                raise SystemFailure(f"VM {vm_id} failed to boot: {report.failure}",
                                    hint="serial console:\n" + tail(paths.console_log), vm=vm_id)
            return report
        if not alive(pid, marker):
            raise SystemFailure(f"VM {vm_id}: QEMU exited during boot",
                                hint="serial console:\n" + tail(paths.console_log), vm=vm_id)
        if clock() > deadline:
            terminate(pid, marker)
            raise SystemFailure(f"VM {vm_id} did not boot within {timeout:.0f}s",
                                hint="serial console:\n" + tail(paths.console_log), vm=vm_id, timeout=timeout)
        time.sleep(POLL)


def terminate(pid: int, marker: str, grace: float = 5.0) -> None:
    """SIGKILL QEMU (the guest holds nothing QEMU must flush) and wait for it to go."""
    if not alive(pid, marker):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_exit(pid, grace)


def send_control(paths: VmPaths, line: str) -> None:
    """Write one line to the guest's control port (the FIFO QEMU reads)."""
    try:
        fd = os.open(str(paths.ctl) + ".in", os.O_WRONLY | os.O_NONBLOCK)
    except OSError as err:
        raise SystemFailure.from_os_error(f"cannot reach the control port of {paths.dir.name}", err) from err
    try:
        os.write(fd, line.encode() + b"\n")
    finally:
        os.close(fd)


def make_fifos(paths: VmPaths) -> None:
    for suffix in (".in", ".out"):
        fifo = Path(str(paths.ctl) + suffix)
        if not fifo.exists():
            os.mkfifo(fifo, 0o600)
