"""Real clients drive vessel-runtime unchanged: conmon, and podman --runtime."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid

import pytest

from conftest import RUNTIME, make_config

pytestmark = pytest.mark.integration
PODMAN_ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=32768:32768"]


@pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon is not installed")
def test_conmon_drives_create_start_and_exit_code(bundle, tmp_path):
    bundle.write(make_config(["sh", "-c", "echo out; echo err >&2; exit 5"]))
    exits = tmp_path / "exits"
    exits.mkdir()
    r, w = os.pipe()
    env = dict(os.environ, _OCI_SYNCPIPE=str(w))
    log = tmp_path / "ctr.log"
    sockets = tempfile.mkdtemp(prefix="vs-", dir="/tmp")  # attach socket paths must fit in sun_path
    proc = subprocess.run(["conmon", "--api-version", "1", "-c", bundle.id, "-u", bundle.id, "-r", RUNTIME,
                    "-b", str(bundle.path), "-p", str(tmp_path / "pid"), "-n", bundle.id, "--exit-dir", str(exits),
                    "-l", f"k8s-file:{log}", "--runtime-arg", f"--root={bundle.root}", "--runtime-arg", f"--log={tmp_path / 'runtime.log'}",
                    "--socket-dir-path", sockets, "--conmon-pidfile", str(tmp_path / "conmon.pid")],
                   env=env, pass_fds=(w,), check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, start_new_session=True)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        line = pipe.readline()
    runtime_log = tmp_path / "runtime.log"
    assert line.strip(), f"conmon sent nothing: {proc.stderr} {runtime_log.read_text() if runtime_log.exists() else ''}"
    msg = json.loads(line)
    assert msg["data"] > 0, msg
    assert json.loads(bundle.rt("state", bundle.id, check=True).stdout)["status"] == "created"
    bundle.rt("start", bundle.id, check=True)
    deadline = time.monotonic() + 20
    while not (exits / bundle.id).exists():
        assert time.monotonic() < deadline, "conmon wrote no exit file"
        time.sleep(0.05)
    assert (exits / bundle.id).read_text().strip() == "5"
    lines = log.read_text().splitlines()
    assert any(l.endswith("stdout F out") for l in lines) and any(l.endswith("stderr F err") for l in lines)
    bundle.rt("delete", bundle.id, check=True)
    shutil.rmtree(sockets, ignore_errors=True)


@pytest.fixture(scope="module")
def podman_image(busybox_rootfs, tmp_path_factory):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    tar = tmp_path_factory.mktemp("podman") / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(busybox_rootfs, arcname=".")
    name = f"localhost/vessel-test-{uuid.uuid4().hex[:8]}:latest"
    subprocess.run(["podman", "import", str(tar), name], check=True, capture_output=True)
    yield name
    subprocess.run(["podman", "rmi", "-f", name], capture_output=True)


def podman(*args, timeout=120):
    return subprocess.run(["podman", "--runtime", RUNTIME, *args], capture_output=True, text=True, timeout=timeout)


def test_podman_run_with_vessel_runtime(podman_image):
    res = podman("run", "--rm", *PODMAN_ULIMITS, "--network", "none", podman_image, "sh", "-c", "echo hello; exit 3")
    assert res.returncode == 3, res.stderr
    assert res.stdout == "hello\n"


def test_podman_detached_exec_stop_rm(podman_image):
    name = f"vt-{uuid.uuid4().hex[:8]}"
    res = podman("run", "-d", "--name", name, *PODMAN_ULIMITS, podman_image, "sleep", "60")
    assert res.returncode == 0, res.stderr
    try:
        res = podman("exec", name, "cat", "/proc/1/cmdline")
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("sleep")
        assert podman("stop", "-t", "1", name).returncode == 0
        inspect = json.loads(podman("inspect", name).stdout)[0]
        assert inspect["State"]["Status"] == "exited"
    finally:
        podman("rm", "-f", name)
