"""The real docker CLI (28.x) against `vessel daemon` on a temporary socket and root.

Each command of issue 8's list, `docker run -it` through a pty, `cp` both ways,
`logs -f` streaming, `build` of a multi-stage Dockerfile, events, the shared
state with the daemonless CLI, and a daemon killed with SIGKILL while a
container runs.  The daemon's log stays in the test's directory as evidence.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

from support import Daemon, wait_until
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"

if os.geteuid() != 0:
    pytest.skip("the engine needs root", allow_module_level=True)
if not os.path.exists(DOCKER):
    pytest.skip("the docker CLI is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def daemon(request):
    d = Daemon("vdk-", "--log-level", "debug")
    failed_before = request.session.testsfailed
    d.start()
    yield d
    d.finish(request.session.testsfailed > failed_before)


@pytest.fixture(scope="module")
def env(daemon):
    config = Path(tempfile.mkdtemp(prefix="vdk-config-"))
    yield {**os.environ, "DOCKER_HOST": f"unix://{daemon.sock}", "DOCKER_CONFIG": str(config),
           "DOCKER_CLI_HINTS": "false"}
    shutil.rmtree(config, ignore_errors=True)


@pytest.fixture
def docker(env):
    def run(*args: str, ok: bool = True, input: bytes | None = None, timeout: float = 120, cwd=None):
        proc = subprocess.run([DOCKER, *args], env=env, input=input, capture_output=True, timeout=timeout, cwd=cwd)
        if ok and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
        return proc
    return run


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_version_info_and_ping_headers(docker, daemon):
    out = docker("version", "--format", "{{json .}}").stdout
    version = json.loads(out)
    assert version["Server"]["ApiVersion"] == "1.42" and version["Server"]["MinAPIVersion"] == "1.24"
    assert version["Client"]["ApiVersion"] == "1.42"  # the 28.x client negotiated down
    info = json.loads(docker("info", "--format", "{{json .}}").stdout)
    assert info["OSType"] == "linux" and info["Driver"] == "overlay" and info["DockerRootDir"] == str(daemon.root)
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    s.sendall(b"HEAD /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
    head = s.recv(4096).decode()
    s.close()
    assert head.startswith("HTTP/1.1 200") and "Api-Version: 1.42" in head and "Ostype: linux" in head
    assert "Docker-Experimental: false" in head
    plugins = docker("plugin", "ls", "--format", "{{.Name}}")
    assert plugins.returncode == 0 and plugins.stdout == b""   # no managed plugins, but the endpoint answers


def test_run_rm_echo_and_exit_codes(docker):
    res = docker("run", "--rm", "busybox", "echo", "hi")
    assert res.stdout == b"hi\n"
    res = docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", ok=False)
    assert (res.returncode, res.stdout, res.stderr) == (3, b"out\n", b"err\n")
    assert docker("ps", "-aq", "--filter", "ancestor=busybox", "--filter", "status=exited").stdout == b""
    res = docker("run", "--rm", "no-such-image-here", "true", ok=False)
    assert res.returncode == 125 and b"not in the local store" in res.stderr
    res = docker("run", "--rm", "--name", "cannot-start", "busybox", "no-such-command", ok=False, timeout=60)
    assert res.returncode == 127 and b"executable file not found" in res.stderr
    assert docker("run", "--rm", "busybox", "/etc/passwd", ok=False, timeout=60).returncode == 126
    assert b"cannot-start" not in docker("ps", "-a", "--format", "{{.Names}}").stdout  # removed, as dockerd does


def test_stdin_binary_byte_exact(docker):
    data = os.urandom(1 << 20)
    res = docker("run", "--rm", "-i", "busybox", "cat", input=data)
    assert res.stdout == data
    assert docker("run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input=b"shout\n").stdout == b"SHOUT\n"


def test_web_container_end_to_end(docker, tmp_path):
    port = free_port()
    cid = docker("run", "-d", "--name", "web", "-p", f"{port}:80", "busybox", "httpd", "-f", "-p", "80").stdout
    cid = cid.decode().strip()
    try:
        docker("exec", "web", "sh", "-c", "echo hello-web > /index.html")
        body = wait_until(lambda: _get(f"http://127.0.0.1:{port}/index.html"), what="httpd to answer")
        assert body == b"hello-web\n"
        ps = docker("ps", "--format", "{{.Names}} {{.Ports}} {{.Status}}").stdout.decode()
        assert f"web 0.0.0.0:{port}->80/tcp Up" in ps
        assert docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode().split() == ["busybox:latest"]
        top = docker("top", "web").stdout.decode()
        assert "httpd -f -p 80" in top and "PID" in top
        stats = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "web").stdout
        name, rest = stats.decode().split(" ", 1)
        assert name == "web" and "B /" in rest and rest.strip().endswith("1")
        inspect = json.loads(docker("inspect", "web").stdout)[0]
        assert inspect["Id"] == cid and inspect["State"]["Running"] is True
        assert inspect["Config"]["Cmd"] == ["httpd", "-f", "-p", "80"]
        assert inspect["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
        assert docker("exec", "web", "sh", "-c", "exit 7", ok=False).returncode == 7
        docker("cp", "web:/etc/hostname", str(tmp_path))
        assert (tmp_path / "hostname").read_text().strip() == cid[:12]
        docker("stop", "-t", "1", "web")
        assert json.loads(docker("inspect", "web").stdout)[0]["State"]["Status"] == "exited"
    finally:
        docker("rm", "-f", "web", ok=False)
    assert b"No such container: web" in docker("container", "inspect", "web", ok=False).stderr


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read()
    except OSError:
        return None


def test_logs_follow_streams_as_output_comes(docker, env):
    docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
           "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.3; done; echo bye >&2")
    try:
        proc = subprocess.Popen([DOCKER, "logs", "-f", "-t", "ticker"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        first = proc.stdout.readline()
        assert first.split(b" ", 1)[1] == b"tick 1\n" and first[:4].isdigit()
        still_running = json.loads(docker("inspect", "ticker").stdout)[0]["State"]["Running"]
        assert still_running  # the line came while the container was still writing
        out, err = proc.communicate(timeout=30)
        assert [l.split(b" ", 1)[1] for l in out.splitlines()] == [b"tick %d" % i for i in range(2, 7)]
        assert err.split(b" ", 1)[1] == b"bye\n"
        tail = docker("logs", "--tail", "3", "ticker")  # the last 3 lines of both streams
        assert (tail.stdout, tail.stderr) == (b"tick 5\ntick 6\n", b"bye\n")
    finally:
        docker("rm", "-f", "ticker", ok=False)


def test_cp_both_ways_byte_exact(docker, tmp_path):
    docker("run", "-d", "--name", "cpbox", "-v", "cpvol:/vol", "busybox", "sleep", "300")
    try:
        blob = os.urandom(300_000)
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "blob.bin").write_bytes(blob)
        (tmp_path / "in" / "sub").mkdir()
        (tmp_path / "in" / "sub" / "note.txt").write_text("note\n")
        docker("cp", str(tmp_path / "in"), "cpbox:/tmp/")
        docker("cp", str(tmp_path / "in" / "blob.bin"), "cpbox:/vol/renamed.bin")
        md5 = docker("exec", "cpbox", "md5sum", "/tmp/in/blob.bin", "/vol/renamed.bin").stdout.decode().split()
        assert md5[0] == md5[2]
        assert docker("exec", "cpbox", "cat", "/tmp/in/sub/note.txt").stdout == b"note\n"
        docker("cp", "cpbox:/tmp/in", str(tmp_path / "out"))
        assert (tmp_path / "out" / "blob.bin").read_bytes() == blob
        docker("cp", "cpbox:/vol/renamed.bin", str(tmp_path / "back.bin"))
        assert (tmp_path / "back.bin").read_bytes() == blob
        assert docker("cp", "cpbox:/nope", str(tmp_path), ok=False).returncode != 0
    finally:
        docker("rm", "-f", "cpbox", ok=False)
        docker("volume", "rm", "cpvol", ok=False)


def test_save_load_tag_rmi(docker, tmp_path):
    docker("tag", "busybox", "app:2")
    assert b"app:2" in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    docker("save", "app:2", "-o", str(tmp_path / "app.tar"))
    assert (tmp_path / "app.tar").stat().st_size > 100_000
    out = docker("rmi", "app:2").stdout
    assert b"Untagged: app:2" in out
    assert b"app:2" not in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert b"Loaded image: app:2" in docker("load", "-i", str(tmp_path / "app.tar")).stdout
    assert docker("run", "--rm", "app:2", "echo", "loaded").stdout == b"loaded\n"
    history = docker("history", "app:2").stdout.decode()
    assert "IMAGE" in history and "CREATED BY" in history
    docker("rmi", "app:2")


def test_network_and_volume_commands(docker):
    net_id = docker("network", "create", "n1").stdout.decode().strip()
    vol = docker("volume", "create", "v1").stdout.decode().strip()
    try:
        assert vol == "v1"
        names = docker("network", "ls", "--format", "{{.Name}}").stdout.decode().split()
        assert {"bridge", "host", "none", "n1"} <= set(names)
        assert json.loads(docker("network", "inspect", "n1").stdout)[0]["Id"] == net_id
        assert docker("volume", "ls", "-q").stdout.decode().split() == ["v1"]
        assert json.loads(docker("volume", "inspect", "v1").stdout)[0]["Driver"] == "local"
        docker("run", "--rm", "--network", "n1", "-v", "v1:/data", "busybox", "sh", "-c", "echo kept > /data/f")
        assert docker("run", "--rm", "-v", "v1:/data", "busybox", "cat", "/data/f").stdout == b"kept\n"
        df = docker("system", "df").stdout.decode()
        assert "Images" in df and "Local Volumes" in df
        assert docker("network", "rm", "bridge", ok=False).returncode != 0
    finally:
        docker("network", "rm", "n1", ok=False)
        docker("volume", "rm", "v1", ok=False)
    assert b"n1" not in docker("network", "ls").stdout


def test_run_it_through_a_pty(env):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, "run", "-it", "--rm", "busybox", "sh"], env)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        out = _converse(fd, [b"echo hello-$((6*7))\r", b"stty size\r", b"exit 5\r"])
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert b"hello-42" in out and b"33 101" in out
    assert os.waitstatus_to_exitcode(status) == 5


def _converse(fd: int, lines: list[bytes], timeout: float = 30) -> bytes:
    out, deadline, pending = b"", time.monotonic() + timeout, list(lines)
    last = time.monotonic()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
            last = time.monotonic()
        elif pending and out and time.monotonic() - last > 0.3:
            os.write(fd, pending.pop(0))
            last = time.monotonic()
    return out


def test_exec_it_through_a_pty(docker, env):
    docker("run", "-d", "--name", "shell", "busybox", "sleep", "300")
    try:
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(DOCKER, [DOCKER, "exec", "-it", "shell", "sh"], env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 70, 0, 0))
        out = _converse(fd, [b"tty\r", b"stty size\r", b"exit 4\r"])
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        assert b"/dev/pts/" in out and b"20 70" in out and os.waitstatus_to_exitcode(status) == 4
    finally:
        docker("rm", "-f", "shell", ok=False)


DOCKERFILE = """\
FROM busybox AS build
WORKDIR /src
COPY greeting.txt .
RUN tr a-z A-Z < greeting.txt > shout.txt
FROM busybox
COPY --from=build /src/shout.txt /shout.txt
CMD ["cat", "/shout.txt"]
"""


def test_build_multi_stage(docker, tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "greeting.txt").write_text("hello build\n")
    res = docker("build", "-t", "built:1", str(tmp_path), timeout=300)
    assert b"Successfully tagged built:1" in res.stdout
    assert docker("run", "--rm", "built:1").stdout == b"HELLO BUILD\n"
    image_id = docker("build", "-q", "-t", "built:1", str(tmp_path), timeout=300).stdout.decode().strip()
    assert image_id.startswith("sha256:")
    assert json.loads(docker("image", "inspect", "built:1").stdout)[0]["Id"] == image_id
    (tmp_path / "Dockerfile.bad").write_text("FROM busybox\nRUN exit 3\n")
    assert docker("build", "-f", str(tmp_path / "Dockerfile.bad"), str(tmp_path), ok=False).returncode == 1
    docker("rmi", "built:1")


def test_healthcheck_from_the_image_and_from_flags(docker, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nHEALTHCHECK --interval=300ms --retries=1 CMD test -f /tmp/ok\n")
    docker("build", "-q", "-t", "checked:1", str(tmp_path), timeout=300)
    docker("run", "-d", "--name", "hc-image", "checked:1", "sh", "-c", "touch /tmp/ok; sleep 100")
    docker("run", "-d", "--name", "hc-flags", "--health-cmd", "exit 1", "--health-interval", "300ms",
           "--health-retries", "1", "busybox", "sleep", "100")
    docker("run", "-d", "--name", "hc-none", "--no-healthcheck", "checked:1", "sleep", "100")

    def status(name: str) -> str:
        return docker("inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", name).stdout.decode().strip()
    wait_until(lambda: status("hc-image") == "healthy", what="hc-image healthy")
    wait_until(lambda: status("hc-flags") == "unhealthy", what="hc-flags unhealthy")
    assert status("hc-none") == ""
    healthy = docker("ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}").stdout.decode()
    assert healthy.startswith("hc-image Up") and "(healthy)" in healthy and "hc-flags" not in healthy
    assert "hc-none" in docker("ps", "--filter", "health=none", "--format", "{{.Names}}").stdout.decode()
    docker("rm", "-f", "hc-image", "hc-flags", "hc-none")
    docker("rmi", "checked:1")


def test_events_since_until(docker):
    since = time.time()
    docker("run", "--rm", "--name", "evt", "busybox", "true")
    docker("volume", "create", "evtvol")
    docker("volume", "rm", "evtvol")
    until = time.time() + 1
    out = docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--format",
                 '{{.Type}} {{.Action}} {{index .Actor.Attributes "name"}} {{.Actor.ID}}', timeout=60).stdout.decode()
    lines = out.splitlines()
    for want in ("container create evt", "container start evt", "container die evt", "container destroy evt"):
        assert any(l.startswith(want) for l in lines), out
    assert "volume create  evtvol" in lines and "volume destroy  evtvol" in lines
    flt = docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--filter", "type=volume",
                 "--format", "{{.Action}}").stdout.decode().split()
    assert flt == ["create", "destroy"]


def test_state_is_shared_with_the_daemonless_cli(docker, daemon):
    made_by_cli = daemon.vessel("run", "-d", "--name", "from-cli", "busybox", "sleep", "300")
    assert made_by_cli.returncode == 0, made_by_cli.stderr
    try:
        docker("run", "-d", "--name", "from-docker", "busybox", "sleep", "300")
        names = docker("ps", "--format", "{{.Names}}").stdout.decode().split()
        assert {"from-cli", "from-docker"} <= set(names)
        assert b"from-docker" in daemon.vessel("ps").stdout
        assert docker("exec", "from-cli", "echo", "reached").stdout == b"reached\n"
    finally:
        docker("rm", "-f", "from-cli", "from-docker", ok=False)


def test_daemon_killed_with_sigkill_keeps_containers(docker, daemon, env):
    docker("run", "-d", "--name", "survivor", "busybox", "sh", "-c",
           "trap 'exit 42' TERM; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done")
    try:
        wait_until(lambda: b"line 1" in docker("logs", "survivor").stdout, what="output")
        daemon.kill(signal.SIGKILL)
        daemon.start()
        assert json.loads(docker("inspect", "survivor").stdout)[0]["State"]["Running"] is True
        assert b"line 0" in docker("logs", "survivor").stdout
        attach = subprocess.Popen([DOCKER, "attach", "--no-stdin", "survivor"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        assert attach.stdout.readline().startswith(b"line ")  # live output through the restarted daemon
        docker("stop", "survivor")
        attach.communicate(timeout=30)
        assert docker("wait", "survivor").stdout == b"42\n"
        assert json.loads(docker("inspect", "survivor").stdout)[0]["State"]["ExitCode"] == 42
    finally:
        docker("rm", "-f", "survivor", ok=False)


def test_errors_keep_dockers_statuses_and_texts(docker):
    assert b"No such container: ghost" in docker("stop", "ghost", ok=False).stderr
    assert b"No such image: ghost:latest" in docker("image", "inspect", "ghost", ok=False).stderr
    docker("create", "--name", "dup", "busybox", "true")
    try:
        res = docker("create", "--name", "dup", "busybox", "true", ok=False)
        assert res.returncode != 0 and b"already in use" in res.stderr
        docker("start", "dup")
        docker("wait", "dup")
        assert docker("kill", "dup", ok=False).returncode != 0
    finally:
        docker("rm", "-f", "dup", ok=False)
