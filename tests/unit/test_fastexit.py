"""vessel.fastexit.leave: exit code kept, buffered output flushed, non-daemon threads still joined."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(body: str) -> subprocess.CompletedProcess:
    code = f"import sys\nsys.path.insert(0, {SRC!r})\nfrom vessel.fastexit import leave\n{body}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)


def test_code_and_buffered_output_survive():
    res = run("sys.stdout.write('x' * 100000)\nsys.stderr.write('err')\nleave(7)")
    assert res.returncode == 7 and len(res.stdout) == 100000 and res.stderr == "err"


def test_none_and_message_codes():
    assert run("leave(None)").returncode == 0
    res = run("leave('went wrong')")
    assert res.returncode == 1 and res.stderr == "went wrong\n"


def test_a_live_non_daemon_thread_is_joined():
    res = run("import threading, time\n"
              "t = threading.Thread(target=lambda: (time.sleep(0.3), print('joined', flush=True)))\n"
              "t.start()\nleave(3)")
    assert res.returncode == 3 and res.stdout == "joined\n"
