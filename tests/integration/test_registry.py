"""vessel pull/push/login against a real registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1.

Each registry is a child of the test with its storage in a temp dir; nothing but loopback is contacted.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

VESSEL = str(Path(sys.executable).with_name("vessel"))
REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True  # 401 from an auth registry: it is up
    except OSError:
        return False


class Registry:
    def __init__(self, base: Path, htpasswd: Path | None = None) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.data = base / "data"
        config = base / "config.yml"
        text = (f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.data}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {self.host}\n")
        if htpasswd is not None:
            text += f"auth:\n  htpasswd:\n    realm: vessel-test\n    path: {htpasswd}\n"
        config.write_text(text)
        self.log = open(base / "registry.log", "wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while not answers(f"http://{self.host}/v2/"):
            assert self.proc.poll() is None, (base / "registry.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "docker-registry did not answer"
            time.sleep(0.05)

    def blob_file(self, digest: str) -> Path:
        hexpart = digest.split(":", 1)[1]
        return self.data / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def base():
    if not Path(REGISTRY_BIN).exists():
        pytest.fail("docker-registry is not installed (scripts/apt-packages.txt lists it)")
    path = Path(tempfile.mkdtemp(prefix="vessel-registry-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def registry(base):
    (base / "open").mkdir()
    reg = Registry(base / "open")
    yield reg
    reg.stop()


@pytest.fixture
def root(base):
    path = Path(tempfile.mkdtemp(prefix="root-", dir=base))
    yield path
    subprocess.run([VESSEL, "--root", str(path), "system", "reset", "--force"], capture_output=True, timeout=120)
    shutil.rmtree(path, ignore_errors=True)


def vessel(root: Path, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([VESSEL, "--root", str(root), *args], capture_output=True, text=True, timeout=120,
                          input=input)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def push_busybox(root: Path, host: str, name: str = "busybox") -> str:
    vessel(root, "image", "bootstrap", "busybox")
    vessel(root, "tag", "busybox", f"{host}/{name}")
    out = vessel(root, "push", f"{host}/{name}").stdout
    assert f"The push refers to repository [{host}/{name}]" in out
    assert ": Pushed" in out
    return out.strip().splitlines()[-1].split("digest: ")[1].split()[0]


def test_push_delete_pull_run(registry, root):
    digest = push_busybox(root, registry.host)
    again = vessel(root, "push", f"{registry.host}/busybox").stdout
    assert ": Layer already exists" in again and ": Pushed" not in again
    vessel(root, "rmi", f"{registry.host}/busybox", "busybox")
    assert vessel(root, "images", "-q").stdout.strip() == ""

    out = vessel(root, "pull", f"{registry.host}/busybox").stdout
    assert "latest: Pulling from busybox" in out and ": Pull complete" in out
    assert f"Digest: {digest}" in out
    assert f"Status: Downloaded newer image for {registry.host}/busybox:latest" in out
    assert "Image is up to date" in vessel(root, "pull", f"{registry.host}/busybox").stdout
    run = vessel(root, "run", "--rm", f"{registry.host}/busybox", "echo", "hi")
    assert run.stdout == "hi\n"


def test_corrupt_blob_is_refused(registry, root, base):
    push_busybox(root, registry.host, "corrupt")
    config = vessel(root, "inspect", f"{registry.host}/corrupt").stdout
    assert config
    layer = _layer_digests(root, f"{registry.host}/corrupt")[0]
    blob = registry.blob_file(layer)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    fresh = Path(tempfile.mkdtemp(prefix="root-", dir=base))
    try:
        proc = vessel(fresh, "pull", f"{registry.host}/corrupt", check=False)
        assert proc.returncode != 0
        assert "does not match" in proc.stderr and "Traceback" not in proc.stderr
        assert vessel(fresh, "images", "-q").stdout.strip() == ""
    finally:
        vessel(fresh, "system", "reset", "--force", check=False)
        shutil.rmtree(fresh, ignore_errors=True)


def _layer_digests(root: Path, name: str) -> list[str]:
    import json

    store = root / "image"
    index = json.loads((store / "index.json").read_text())
    entry = next(m for m in index["manifests"] if m.get("annotations", {}).get(
        "org.opencontainers.image.ref.name") == f"{name}:latest")
    manifest = json.loads((store / "blobs/sha256" / entry["digest"].split(":")[1]).read_text())
    return [layer["digest"] for layer in manifest["layers"]]


def test_unknown_manifest_and_unreachable_registry(registry, root):
    proc = vessel(root, "pull", f"{registry.host}/nothing:here", check=False)
    assert proc.returncode == 125
    assert proc.stderr.startswith(f"Error: manifest for {registry.host}/nothing:here not found")
    assert "Hint:" in proc.stderr and "Traceback" not in proc.stderr
    proc = vessel(root, "pull", f"127.0.0.1:{free_port()}/busybox", check=False)
    assert proc.returncode == 125 and "cannot reach registry" in proc.stderr and "Connection refused" in proc.stderr


def test_basic_auth_login_push_logout(base, root):
    if shutil.which("htpasswd") is None:
        pytest.fail("htpasswd is missing (apache2-utils is in scripts/apt-packages.txt)")
    auth_dir = base / "auth"
    auth_dir.mkdir()
    htpasswd = auth_dir / "htpasswd"
    htpasswd.write_text(subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True,
                                       check=True).stdout)
    reg = Registry(auth_dir, htpasswd)
    try:
        vessel(root, "image", "bootstrap", "busybox")
        vessel(root, "tag", "busybox", f"{reg.host}/private")
        proc = vessel(root, "push", f"{reg.host}/private", check=False)
        assert proc.returncode != 0 and f"vessel login {reg.host}" in proc.stderr
        proc = vessel(root, "login", "-u", "alice", "--password-stdin", reg.host, input="wrong\n", check=False)
        assert proc.returncode != 0 and "incorrect username or password" in proc.stderr
        assert not (root / "auth.json").exists()
        assert vessel(root, "login", "-u", "alice", "--password-stdin", reg.host, input="s3cret\n").stdout \
            == "Login Succeeded\n"
        assert (root / "auth.json").stat().st_mode & 0o777 == 0o600
        assert ": Pushed" in vessel(root, "push", f"{reg.host}/private").stdout
        vessel(root, "rmi", f"{reg.host}/private")
        assert "Downloaded newer image" in vessel(root, "pull", f"{reg.host}/private").stdout  # layers kept by busybox
        assert "Removing login credentials" in vessel(root, "logout", reg.host).stdout
        proc = vessel(root, "pull", f"{reg.host}/other", check=False)
        assert proc.returncode != 0 and "unauthorized" in proc.stderr
    finally:
        reg.stop()
