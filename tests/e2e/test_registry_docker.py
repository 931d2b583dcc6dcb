"""The real docker CLI pushing to and pulling from a registry through `vessel daemon`.

The registry is Debian's docker-registry on 127.0.0.1 (a child of the test, storage in a temp dir).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

from support import Daemon, wait_until
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
REGISTRY_BIN = "/usr/bin/docker-registry"

if os.geteuid() != 0:
    pytest.skip("the engine needs root", allow_module_level=True)
if not os.path.exists(DOCKER):
    pytest.skip("the docker CLI is not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def registry():
    base = Path(tempfile.mkdtemp(prefix="vdr-reg-"))
    host = f"127.0.0.1:{free_port()}"
    config = base / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                      f"storage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n"
                      f"http:\n  addr: {host}\n")
    with open(base / "registry.log", "wb") as log:
        proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log)
    try:
        wait_until(lambda: answers(f"http://{host}/v2/") or proc.poll() is not None, 15, "docker-registry")
        assert proc.poll() is None, (base / "registry.log").read_text()[-2000:]
        yield host
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(request):
    d = Daemon("vdr-")
    failed_before = request.session.testsfailed
    d.start()
    yield d
    d.finish(request.session.testsfailed > failed_before)


@pytest.fixture(scope="module")
def docker(daemon):
    config = Path(tempfile.mkdtemp(prefix="vdr-config-"))
    env = {**os.environ, "DOCKER_HOST": f"unix://{daemon.sock}", "DOCKER_CONFIG": str(config),
           "DOCKER_CLI_HINTS": "false"}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=120)
        if ok and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc
    yield run
    shutil.rmtree(config, ignore_errors=True)


def test_docker_push_rmi_pull_run(docker, daemon, registry):
    name = f"{registry}/bb"
    docker("pull", "busybox")
    docker("tag", "busybox", name)
    out = docker("push", name).stdout
    assert f"The push refers to repository [{name}]" in out
    assert ": Pushed" in out and "latest: digest: sha256:" in out
    digest = out.split("latest: digest: ")[1].split()[0]
    docker("rmi", name, "busybox")
    out = docker("pull", name).stdout
    assert "latest: Pulling from bb" in out and "Pull complete" in out
    assert f"Digest: {digest}" in out and f"Status: Downloaded newer image for {name}:latest" in out
    assert docker("run", "--rm", name, "echo", "hi").stdout == "hi\n"
    assert f"{name}@{digest}" in docker("image", "inspect", "-f", "{{json .RepoDigests}}", name).stdout
    # the daemonless CLI sees what the daemon pulled
    assert daemon.vessel("images", "-q", name).stdout.strip()


def test_docker_pull_unknown_and_push_missing(docker, registry):
    proc = docker("pull", f"{registry}/nothing:here", ok=False)
    assert proc.returncode != 0
    assert f"manifest for {registry}/nothing:here not found" in proc.stderr
    proc = docker("push", f"{registry}/not-local", ok=False)
    assert proc.returncode != 0 and "does not exist locally" in proc.stderr


def test_docker_login_is_checked_against_the_registry(docker, registry):
    out = docker("login", registry, "-u", "someone", "-p", "secret").stdout
    assert "Login Succeeded" in out                  # this registry asks for no credentials: GET /v2/ is 200
    closed = f"127.0.0.1:{free_port()}"              # nothing listens there
    proc = docker("login", closed, "-u", "someone", "-p", "secret", ok=False)
    assert proc.returncode != 0 and closed in proc.stderr
