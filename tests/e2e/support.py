"""Helpers shared by the e2e tests: conditions with a timeout, and a `vessel daemon` child process."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vessel.cli.daemon import answers

VESSEL = str(Path(sys.executable).with_name("vessel"))


def wait_until(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ping(sock: str) -> bool:
    return answers(sock, timeout=2)


def keep_evidence(base: Path, failed: bool) -> None:
    """A failing module keeps the daemon's log (its path is printed); a passing one leaves nothing."""
    if failed:
        print(f"daemon log kept in {base / 'daemon.log'}")
    else:
        shutil.rmtree(base, ignore_errors=True)


class Daemon:
    """`vessel --root R daemon --host unix://S` as a child process, in a short /tmp dir (sun_path is 108 bytes)."""

    def __init__(self, prefix: str, *args: str) -> None:
        self.base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        self.root = self.base / "root"
        self.sock = str(self.base / "d.sock")
        self.log = self.base / "daemon.log"
        self.args = args
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([VESSEL, "--root", str(self.root), "daemon", "--host", f"unix://{self.sock}",
                                          *self.args], stdout=log, stderr=log)
        wait_until(lambda: ping(self.sock) or self.proc.poll() is not None, what="the daemon to answer")
        assert self.proc.poll() is None, self.log.read_text()[-3000:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def vessel(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([VESSEL, "--root", str(self.root), *args], capture_output=True, timeout=120, **kw)

    def finish(self, failed: bool) -> None:
        """Stop the daemon, reset the root (containers, volumes, bridge, nft table), keep evidence on failure."""
        self.kill()
        reset = self.vessel("system", "reset", "--force")
        keep_evidence(self.base, failed or reset.returncode != 0)
        assert reset.returncode == 0, reset.stderr
