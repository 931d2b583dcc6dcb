"""Pure shapes: stats JSON, docker cp's path stat, typed body reads, query and JSON parsing, --host."""

from __future__ import annotations

import base64
import json
import os
import stat
from types import SimpleNamespace

import pytest

from vessel.api.archive import GO_DIR, GO_SETUID, GO_SYMLINK, go_file_mode, path_stat, stat_header
from vessel.api.body import Fields
from vessel.api.messages import Request, parse_json
from vessel.api.stats import (Sample, docker_stats, parse_blkio_v1, parse_io_stat_v2, parse_keyed, parse_net_dev,
                              parse_proc_stat_cpu)
from vessel.api.wire import Body, Headers
from vessel.cli.daemon import Listen, check_tls, parse_host
from vessel.errors import InvalidArgument, VesselError

pytestmark = pytest.mark.unit

NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    1370      12    1    2    0     0          0         0      877      9    3    4    0     0       0          0
"""


def test_stats_from_two_samples():
    cg = {"memory": {"usage": 4096, "max_usage": 8192, "limit": None, "oom_kills": 0},
          "cpu": {"usage_ns": 2_000_000, "user_ns": 1_500_000, "system_ns": 500_000, "periods": 3,
                  "throttled_periods": 1, "throttled_ns": 10},
          "pids": {"current": 2, "limit": 100}}
    prev = Sample(read=100.0, cgroup={**cg, "cpu": {**cg["cpu"], "usage_ns": 1_000_000}}, system_cpu_ns=10**9)
    cur = Sample(read=101.0, cgroup=cg, memory_stat={"inactive_file": 10}, networks=parse_net_dev(NET_DEV),
                 system_cpu_ns=2 * 10**9, online_cpus=2, host_memory=1 << 30)
    out = docker_stats("web", "abc", cur, prev)
    assert out["name"] == "/web" and out["id"] == "abc"
    assert out["cpu_stats"]["cpu_usage"]["total_usage"] == 2_000_000
    assert out["precpu_stats"]["cpu_usage"]["total_usage"] == 1_000_000
    assert out["cpu_stats"]["system_cpu_usage"] == 2 * 10**9 and out["cpu_stats"]["online_cpus"] == 2
    assert out["memory_stats"]["limit"] == 1 << 30  # no limit: the host's memory, as dockerd reports
    assert out["memory_stats"]["stats"] == {"inactive_file": 10}
    assert out["pids_stats"] == {"current": 2, "limit": 100}
    assert out["networks"] == {"eth0": {"rx_bytes": 1370, "rx_packets": 12, "rx_errors": 1, "rx_dropped": 2,
                                        "tx_bytes": 877, "tx_packets": 9, "tx_errors": 3, "tx_dropped": 4}}
    assert out["read"].startswith("1970-01-01T00:01:41") and out["preread"].startswith("1970-01-01T00:01:40")


def test_stats_of_a_stopped_container_are_zero():
    out = docker_stats("web", "abc", None, None)
    assert out["read"] == "0001-01-01T00:00:00Z" and out["memory_stats"] == {}
    assert out["cpu_stats"]["cpu_usage"]["total_usage"] == 0


def test_proc_and_cgroup_file_parsers():
    assert parse_proc_stat_cpu("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1\n", 100) == 36 * 10_000_000
    assert parse_keyed("cache 10\nrss 20\nbad line here\n") == {"cache": 10, "rss": 20}
    assert parse_blkio_v1("8:0 Read 100\n8:0 Write 50\nTotal 150\n") == [
        {"major": 8, "minor": 0, "op": "read", "value": 100}, {"major": 8, "minor": 0, "op": "write", "value": 50}]
    assert parse_io_stat_v2("8:0 rbytes=10 wbytes=20 rios=1\n") == [
        {"major": 8, "minor": 0, "op": "read", "value": 10}, {"major": 8, "minor": 0, "op": "write", "value": 20}]


def test_go_file_modes():
    assert go_file_mode(stat.S_IFDIR | 0o755) == GO_DIR | 0o755
    assert go_file_mode(stat.S_IFLNK | 0o777) == GO_SYMLINK | 0o777
    assert go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == GO_SETUID | 0o755
    assert go_file_mode(stat.S_IFREG | 0o644) == 0o644


def test_path_stat_header_is_base64_json(tmp_path):
    f = tmp_path / "hostname"
    f.write_text("abc\n")
    info = path_stat("hostname", os.lstat(f))
    name, value = stat_header(info)
    decoded = json.loads(base64.b64decode(value))
    assert name == "X-Docker-Container-Path-Stat"
    assert decoded["name"] == "hostname" and decoded["size"] == 4 and decoded["mode"] == os.lstat(f).st_mode & 0o777
    assert decoded["mtime"].endswith("Z") and decoded["linkTarget"] == ""


def test_fields_type_errors_name_the_field():
    body = Fields({"Name": 3, "Labels": {"a": 1}, "Cmd": ["a", 2], "n": 2.0, "flag": "yes"}, "Config")
    with pytest.raises(InvalidArgument, match="Config.Name of type string"):
        body.str("Name")
    with pytest.raises(InvalidArgument, match="Config.Labels"):
        body.map("Labels")
    with pytest.raises(InvalidArgument, match="Config.Cmd"):
        body.strs("Cmd")
    with pytest.raises(InvalidArgument):
        body.bool("flag")
    assert body.int("n") == 2 and body.str("missing") is None and body.obj("missing").data == {}
    with pytest.raises(InvalidArgument, match="cannot unmarshal array"):
        Fields([1], "Config")


@pytest.mark.parametrize("raw", [b"{", b"NaN", b"[" * 100000, b"\xff\xfe", b'{"a": Infinity}', b"1" * 5000])
def test_bad_json_is_invalid_argument(raw):
    with pytest.raises(InvalidArgument):
        parse_json(raw)


def test_request_query_helpers():
    req = Request("GET", "/", (1, 41), {"all": ["1"], "size": ["false"], "t": ["5"], "bad": ["x"], "empty": [""]},
                  Headers(), Body(None, "none", 0), ctx=None)
    assert req.flag("all") and not req.flag("size") and not req.flag("empty") and req.flag("missing", True)
    assert req.int_arg("t") == 5 and req.int_arg("missing", 7) == 7 and req.int_arg("empty", 3) == 3
    with pytest.raises(InvalidArgument):
        req.int_arg("bad")
    with pytest.raises(InvalidArgument):
        req.int_arg("t", minimum=10)
    assert req.at_least(41) and not req.at_least(42)
    assert req.json() is None and req.json_object() == {}
    with pytest.raises(InvalidArgument):
        req.json(required=True)


def test_parse_host():
    assert parse_host("unix:///run/vessel/vessel.sock") == Listen("unix", path="/run/vessel/vessel.sock")
    assert parse_host("/tmp/v.sock") == Listen("unix", path="/tmp/v.sock")
    assert parse_host("tcp://127.0.0.1:2376") == Listen("tcp", host="127.0.0.1", port=2376)
    assert parse_host("tcp://:2376") == Listen("tcp", host="0.0.0.0", port=2376)
    for bad in ("unix://relative", "tcp://host", "tcp://h:99999", "fd://", "http://x"):
        with pytest.raises(InvalidArgument):
            parse_host(bad)


def test_tcp_needs_mutual_tls():
    tcp = [Listen("tcp", host="0.0.0.0", port=2376)]
    none = SimpleNamespace(tlsverify=False, tlscacert=None, tlscert=None, tlskey=None)
    with pytest.raises(InvalidArgument, match="--tlsverify"):
        check_tls(tcp, none)
    with pytest.raises(InvalidArgument, match="missing --tlskey"):
        check_tls(tcp, SimpleNamespace(tlsverify=True, tlscacert="ca", tlscert="c", tlskey=None))
    check_tls(tcp, SimpleNamespace(tlsverify=True, tlscacert="ca", tlscert="c", tlskey="k"))
    check_tls([Listen("unix", path="/x")], none)


def test_fs_changes_of_an_upper_dir(tmp_path):
    from vessel.api.ctrinfo import ADDED, MODIFIED, fs_changes

    upper = tmp_path / "upper"
    (upper / "tmp").mkdir(parents=True)
    (upper / "tmp" / "new.txt").write_text("x")
    (upper / "etc").mkdir()
    (upper / "etc" / "hostname").write_text("mount point")
    (upper / "proc").mkdir()
    lower = {"/tmp", "/etc", "/etc/hostname"}
    found = fs_changes(upper, lambda p: p in lower, hidden={"/etc/hostname", "/proc"})
    assert found == [{"Path": "/tmp", "Kind": MODIFIED}, {"Path": "/tmp/new.txt", "Kind": ADDED}]


def test_build_messages_pass_through():
    from vessel.api.build import pass_through

    assert pass_through(b'{"stream": "Step 1/2\\n"}') == (b'{"stream":"Step 1/2\\n"}\n', False)
    assert pass_through(b'{"error": "x", "errorDetail": {"message": "x"}}')[1] is True
    out, error = pass_through(b"Traceback (most recent call last):")
    assert json.loads(out) == {"stream": "Traceback (most recent call last):\n"} and not error


def test_build_spec_reads_dockers_query(tmp_path):
    from vessel.api.build import build_spec

    query = {"t": ["app:1", "app:latest"], "buildargs": ['{"A": "1", "B": null}'], "labels": ['{"l": "v"}'],
             "target": ["build"], "nocache": ["1"], "q": ["0"], "dockerfile": ["sub/Dockerfile"]}
    req = Request("POST", "/build", (1, 42), query, Headers(), Body(None, "none", 0), ctx=None)
    spec = build_spec(req, tmp_path, tmp_path / "ctx")
    assert spec["tags"] == ["app:1", "app:latest"] and spec["build_args"] == {"A": "1"}
    assert spec["labels"] == {"l": "v"} and spec["target"] == "build" and spec["no_cache"] and not spec["quiet"]
    assert spec["dockerfile"] == "sub/Dockerfile" and spec["network"] == "default"
    for bad in ({"buildargs": ["[1]"]}, {"t": ["UPPER:case"]}, {"networkmode": ["container:x"]},
                {"remote": ["https://example.com/x.tar"]}):
        bad_req = Request("POST", "/build", (1, 42), bad, Headers(), Body(None, "none", 0), ctx=None)
        with pytest.raises(VesselError) as err:
            build_spec(bad_req, tmp_path, tmp_path / "ctx")
        assert err.value.http_status in (400, 501)
