"""A VM's command is resolved against the image's PATH (busybox env would prefer its applets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vessel.engine.vmbackend import resolve_program

pytestmark = pytest.mark.unit


def test_bare_names_resolve_in_the_image_rootfs(tmp_path: Path):
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "bin").mkdir()
    (tmp_path / "usr/bin/ls").write_text("")
    os.symlink("/etc/alternatives/py", tmp_path / "bin/python3")      # dangling on the host: still found
    path = "/usr/local/bin:/usr/bin:/bin"
    assert resolve_program("ls", path, tmp_path) == "/usr/bin/ls"
    assert resolve_program("python3", path, tmp_path) == "/bin/python3"
    assert resolve_program("nope", path, tmp_path) == "nope"                # the guest reports 127
    assert resolve_program("/bin/sh", path, tmp_path) == "/bin/sh"          # absolute: untouched
    assert resolve_program("./run", path, tmp_path) == "./run"
    assert resolve_program("ls", "relative:dirs", tmp_path) == "ls"
