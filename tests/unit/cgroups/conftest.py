"""Fixture hosts for the cgroup unit tests (see fixtures/README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vessel.runtime.cgroups import Layout, detect

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_layout(kind: str, sysroot: Path | None = None) -> Layout:
    """The Layout of fixture host `kind` ("v1", "v2", "hybrid"), mount points under `sysroot`."""
    return detect(FIXTURES / kind / "mountinfo", FIXTURES / kind / "cgroup", sysroot=sysroot or FIXTURES / kind)


@pytest.fixture
def host(tmp_path):
    """host(kind) -> (layout, root): a writable copy of fixture host `kind` in tmp_path."""

    def make(kind: str) -> tuple[Layout, Path]:
        root = tmp_path / kind
        shutil.copytree(FIXTURES / kind / "sys", root / "sys")
        return fixture_layout(kind, root), root

    return make


@pytest.fixture
def layout_of():
    """layout_of(kind) -> the read-only fixture Layout (mount points inside tests/unit/cgroups/fixtures)."""
    return fixture_layout


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


class FakeCgroupfs:
    """Stands in for the kernel under plain directories: every interface file exists unless named in
    `absent` (it is created on first write, as if the kernel had shown it), and a write into a
    directory that does not exist fails as it would on cgroupfs."""

    def __init__(self) -> None:
        self.absent: set[str] = set()
        self.writes: list[tuple[str, str]] = []

    def write_raw(self, path: str, value: str) -> None:
        import errno
        import os

        if os.path.basename(path) in self.absent or not os.path.isdir(os.path.dirname(path)):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
        self.writes.append((path, value))


@pytest.fixture
def cgroupfs(monkeypatch) -> FakeCgroupfs:
    from vessel.runtime.cgroups import fs

    fake = FakeCgroupfs()
    monkeypatch.setattr(fs, "write_raw", fake.write_raw)
    return fake
