"""Fixtures for tests against the real kernel: a busybox rootfs and OCI bundles."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"
RUNTIME = str(Path(sys.executable).with_name("vessel-runtime"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath) and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="integration tests need root"))


def build_busybox_rootfs(dest: Path) -> Path:
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "root", "var", "home"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = dest / "bin" / applet
        if applet != "busybox" and not link.exists():
            os.symlink("busybox", link)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    (dest / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")
    os.chmod(dest / "tmp", 0o1777)
    return dest


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> Path:
    if not os.path.exists(BUSYBOX):
        pytest.fail("busybox-static is not installed (apt-get install busybox-static)")
    return build_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


BASE_CONFIG = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["true"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        "capabilities": {k: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                         for k in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "vessel",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
        "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
}


class Bundle:
    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.id = "t" + uuid.uuid4().hex[:10]

    def write(self, config: dict) -> None:
        (self.path / "config.json").write_text(json.dumps(config))

    def rt(self, *args: str, check: bool = False, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        # Output goes to files, not pipes: a created or detached container inherits the
        # runtime's stdio and would hold a pipe open long after the runtime exits.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run([RUNTIME, "--root", str(self.root), *args], stdout=out, stderr=err,
                                  text=True, timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            res = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
        if check and res.returncode != 0:
            raise AssertionError(f"vessel-runtime {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def run(self, args: list[str], **over) -> subprocess.CompletedProcess:
        self.write(make_config(args, **over))
        return self.rt("run", "--bundle", str(self.path), self.id)


def make_config(args: list[str], **over) -> dict:
    cfg = copy.deepcopy(BASE_CONFIG)
    cfg["process"]["args"] = args
    for key, value in over.items():
        target = cfg
        *parents, last = key.split("__")
        for p in parents:
            target = target.setdefault(p, {})
        target[last] = value
    return cfg


@pytest.fixture
def bundle(tmp_path, busybox_rootfs):
    path = tmp_path / "bundle"
    path.mkdir()
    os.symlink(busybox_rootfs, path / "rootfs")
    b = Bundle(path, tmp_path / "state")
    yield b
    if (b.root / b.id).exists():
        b.rt("delete", "--force", b.id)
