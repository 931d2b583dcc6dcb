"""docker-py against `vessel daemon`: run, attach and exec streams byte-exact (binary, large, stdin),
logs streaming, archives, images, networks and volumes."""

from __future__ import annotations

import io
import os
import socket
import struct
import tarfile
import time

import pytest

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.e2e]

from support import Daemon, wait_until

if os.geteuid() != 0:
    pytest.skip("the engine needs root", allow_module_level=True)


@pytest.fixture(scope="module")
def client(request):
    d = Daemon("vdp-")
    failed_before = request.session.testsfailed
    d.start()
    try:
        c = docker.DockerClient(base_url=f"unix://{d.sock}", version="auto", timeout=120)
        yield c
        c.close()
    finally:
        d.finish(request.session.testsfailed > failed_before)


@pytest.fixture
def sleeper(client):
    ctr = client.containers.run("busybox", "sleep 300", detach=True)
    yield ctr
    ctr.remove(force=True)


def frames(sock, stop_after: int | None = None, timeout: float = 30) -> dict[int, bytes]:
    """Read docker's multiplexed frames from a raw attach/exec socket until EOF (or `stop_after` bytes)."""
    raw = getattr(sock, "_sock", sock)
    raw.settimeout(timeout)
    out: dict[int, bytes] = {1: b"", 2: b""}
    buf = b""
    while True:
        data = raw.recv(65536)
        if not data:
            break
        buf += data
        while len(buf) >= 8:
            stream, size = struct.unpack(">BxxxL", buf[:8])
            if len(buf) < 8 + size:
                break
            out[stream] = out.get(stream, b"") + buf[8:8 + size]
            buf = buf[8 + size:]
        if stop_after is not None and len(out[1]) >= stop_after:
            break
    assert buf == b""
    return out


def test_run_echo_remove(client):
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    assert client.containers.list(all=True, filters={"ancestor": "busybox", "status": "exited"}) == []


def test_run_failure_raises_with_stderr(client):
    with pytest.raises(docker.errors.ContainerError) as err:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 9"], remove=True)
    assert err.value.exit_status == 9 and b"oops" in err.value.stderr


def test_missing_things_are_not_found(client):
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("ghost")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("ghost:1")
    with pytest.raises(docker.errors.NotFound):
        client.networks.get("ghostnet")
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("ghostvol")


def test_attach_stdin_binary_byte_exact(client):
    ctr = client.containers.create("busybox", "cat", stdin_open=True)
    try:
        sock = client.api.attach_socket(ctr.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        ctr.start()
        data = os.urandom(2 << 20)
        raw = sock._sock
        raw.sendall(data)
        raw.shutdown(socket.SHUT_WR)
        got = frames(sock)
        assert got[1] == data and got[2] == b""
        assert ctr.wait(timeout=30)["StatusCode"] == 0
        sock.close()
        raw.close()
    finally:
        ctr.remove(force=True)


def test_attach_to_a_running_container_streams_live_output(client):
    ctr = client.containers.run("busybox", ["sh", "-c", "echo before; sleep 0.5; for i in 1 2 3; do echo n$i; done; "
                                                        "echo e >&2"], detach=True)
    try:
        wait_until(lambda: ctr.logs() == b"before\n", what="the first line")
        sock = client.api.attach_socket(ctr.id, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 1})
        raw = sock._sock
        got = frames(sock)
        sock.close()
        raw.close()
        assert got[1] == b"before\nn1\nn2\nn3\n" and got[2] == b"e\n"  # the log replayed, then live output
    finally:
        ctr.remove(force=True)


def test_exec_large_output_byte_exact(client, sleeper):
    payload = os.urandom(3 << 20)
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w") as tar:
        info = tarfile.TarInfo("payload.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    assert sleeper.put_archive("/tmp", tar_buf.getvalue())
    code, out = sleeper.exec_run("cat /tmp/payload.bin")
    assert code == 0 and out == payload
    code, (out, err) = sleeper.exec_run(["sh", "-c", "echo to-out; echo to-err >&2; exit 4"], demux=True)
    assert (code, out, err) == (4, b"to-out\n", b"to-err\n")
    bits, stat = sleeper.get_archive("/tmp/payload.bin")
    assert stat["name"] == "payload.bin" and stat["size"] == len(payload)
    with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
        assert tar.extractfile("payload.bin").read() == payload


def test_exec_stdin_round_trip_and_exit_code(client, sleeper):
    exec_id = client.api.exec_create(sleeper.id, ["sh", "-c", "cat; exit 3"], stdin=True)["Id"]
    sock = client.api.exec_start(exec_id, socket=True)
    data = os.urandom(500_000)
    raw = sock._sock
    raw.sendall(data)
    raw.shutdown(socket.SHUT_WR)
    got = frames(sock)
    sock.close()
    raw.close()
    assert got[1] == data
    info = client.api.exec_inspect(exec_id)
    assert info["ExitCode"] == 3 and info["Running"] is False and info["ProcessConfig"]["entrypoint"] == "sh"


def test_exec_tty_is_raw(client, sleeper):
    code, out = sleeper.exec_run("tty", tty=True)
    assert code == 0 and out.startswith(b"/dev/pts/")


def test_logs_stream_as_they_come(client):
    ctr = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3 4; do echo l$i; sleep 0.3; done"],
                                detach=True)
    try:
        stream = ctr.logs(stream=True, follow=True)
        first = next(stream)
        assert first == b"l1\n"
        assert ctr.reload() is None and ctr.status == "running"  # the line arrived while it still ran
        rest = b"".join(stream)
        assert rest == b"l2\nl3\nl4\n"
        assert ctr.logs(tail=1) == b"l4\n"
        stamped = ctr.logs(timestamps=True).splitlines()
        assert len(stamped) == 4 and stamped[0].endswith(b" l1") and b"T" in stamped[0].split(b" ")[0]
    finally:
        ctr.remove(force=True)


def test_container_views(client, sleeper):
    top = wait_until(lambda: (t := sleeper.top()) and any("sleep 300" in " ".join(p) for p in t["Processes"]) and t,
                     what="sleep to show in top")
    assert "PID" in top["Titles"]
    stats = sleeper.stats(stream=False)
    assert stats["memory_stats"]["usage"] > 0 and stats["pids_stats"]["current"] >= 1
    assert stats["precpu_stats"]["cpu_usage"]["total_usage"] > 0
    sleeper.exec_run("touch /tmp/made-here")
    assert {"Path": "/tmp/made-here", "Kind": 1} in sleeper.diff()
    export = b"".join(sleeper.export())
    with tarfile.open(fileobj=io.BytesIO(export)) as tar:
        assert "tmp/made-here" in tar.getnames()
    sleeper.rename("renamed-sleeper")
    sleeper.reload()
    assert sleeper.name == "renamed-sleeper"
    sleeper.pause()
    sleeper.reload()
    assert sleeper.status == "paused"
    sleeper.unpause()
    sleeper.update(mem_limit="64m")
    assert client.api.inspect_container(sleeper.id)["HostConfig"]["Memory"] == 64 << 20


def test_wait_conditions_and_restart(client):
    ctr = client.containers.create("busybox", ["sh", "-c", "exit 5"])
    try:
        assert client.api.wait(ctr.id, condition="not-running")["StatusCode"] == 0  # created is not running
        ctr.start()
        assert ctr.wait(timeout=30)["StatusCode"] == 5
        ctr.restart()
        assert ctr.wait(timeout=30)["StatusCode"] == 5
        with pytest.raises(docker.errors.APIError) as err:
            client.api.wait(ctr.id, condition="whenever")
        assert err.value.status_code == 400
    finally:
        ctr.remove(force=True)


def test_images_networks_volumes(client, tmp_path):
    image = client.images.get("busybox")
    image.tag("pytag", "v1")
    assert "pytag:v1" in client.images.get("pytag:v1").tags
    saved = b"".join(client.api.get_image("pytag:v1"))
    client.images.remove("pytag:v1")
    loaded = client.images.load(saved)
    assert any("pytag:v1" in i.tags for i in loaded)
    client.images.remove("pytag:v1")
    net = client.networks.create("pynet", labels={"k": "v"})
    vol = client.volumes.create("pyvol", labels={"k": "v"})
    try:
        assert client.networks.get("pynet").attrs["Labels"] == {"k": "v"}
        assert [n.name for n in client.networks.list(filters={"label": "k=v"})] == ["pynet"]
        assert client.volumes.get("pyvol").attrs["Labels"] == {"k": "v"}
        out = client.containers.run("busybox", "sh -c 'echo v > /v/f; cat /v/f'", remove=True, network="pynet",
                                    volumes={"pyvol": {"bind": "/v", "mode": "rw"}})
        assert out == b"v\n"
        ctr = client.containers.run("busybox", "sleep 300", detach=True)
        try:
            net.connect(ctr, aliases=["extra"])
            ctr.reload()
            assert "pynet" in ctr.attrs["NetworkSettings"]["Networks"]
            net.disconnect(ctr)
        finally:
            ctr.remove(force=True)
    finally:
        net.remove()
        vol.remove()
    assert client.volumes.prune()["VolumesDeleted"] is None or isinstance(client.volumes.prune(), dict)


def test_events_stream(client):
    since = time.time()
    client.containers.run("busybox", "true", remove=True, name="evpy")
    events = client.events(since=since, until=time.time() + 1, decode=True,
                           filters={"type": "container", "container": "evpy"})
    actions = [e["Action"] for e in events]
    assert actions[0] == "create" and "start" in actions and "die" in actions


def test_df_and_info(client):
    df = client.df()
    assert {"Images", "Containers", "Volumes", "LayersSize"} <= set(df)
    info = client.info()
    assert info["OSType"] == "linux" and info["ServerVersion"]
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.42"


def test_network_connect_before_start_as_compose_does(client):
    net = client.networks.create("composenet")
    ctr = client.containers.create("busybox", ["sh", "-c", "ip -4 -o addr show | awk '{print $2}'; sleep 300"])
    try:
        net.connect(ctr, aliases=["svc"])
        ctr.reload()
        assert set(ctr.attrs["NetworkSettings"]["Networks"]) == {"bridge", "composenet"}
        ctr.start()
        wait_until(lambda: b"eth1" in ctr.logs(), what="the second interface")
        ctr.reload()
        assert ctr.attrs["NetworkSettings"]["Networks"]["composenet"]["IPAddress"]
        net.disconnect(ctr)
        code, out = ctr.exec_run("ip -4 -o addr show")
        assert code == 0 and b"eth1" not in out
    finally:
        ctr.remove(force=True)
        net.remove()
