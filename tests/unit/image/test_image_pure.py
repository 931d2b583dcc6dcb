"""Pure parts: index rules, config changes, times, layer digests, OCI dataclasses, inspect views, mounts."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from vessel.errors import InvalidArgument
from vessel.image import index as idx
from vessel.image.changes import apply_changes, derive_config, format_time, parse_time
from vessel.image.inspect import human_duration, human_size, list_rows
from vessel.image.layers import chain_ids, detect_compression, diff_id_of
from vessel.image.mount import escape_option_path, overlay_mount
from vessel.image.reference import parse_reference
from vessel.image.store import Image
from vessel.oci.image import (ContainerConfig, Descriptor, ImageConfig, Index, Manifest, parse_config,
                              parse_manifest)

pytestmark = pytest.mark.unit


def desc(n: int) -> Descriptor:
    return Descriptor("application/vnd.oci.image.manifest.v1+json", f"sha256:{n:064x}", 100 + n)


# -- index ---------------------------------------------------------------------------------------


def test_index_tag_rules():
    a, b = desc(1), desc(2)
    index = idx.add_image(Index(), a)
    assert [d.ref_name for d in index.manifests] == [None]
    assert idx.add_image(index, a) == index
    index = idx.set_tag(index, "r:1", a)
    assert [(d.digest, d.ref_name) for d in index.manifests] == [(a.digest, "r:1")]
    index = idx.set_tag(index, "r:2", a)
    index = idx.set_tag(index, "r:1", b)  # moves: a keeps r:2
    assert idx.tags_of(index, a.digest) == ["r:2"] and idx.tags_of(index, b.digest) == ["r:1"]
    index = idx.set_tag(index, "r:2", b)  # a loses its last name: dangling, not gone
    assert idx.tags_of(index, a.digest) == [] and a.digest in idx.manifest_digests(index)
    index = idx.untag(index, "r:1")
    index = idx.untag(index, "r:2")
    assert idx.manifest_digests(index) == [a.digest, b.digest]
    assert all(d.ref_name is None for d in index.manifests)
    assert idx.manifest_digests(idx.remove_image(index, a.digest)) == [b.digest]
    assert idx.find_tag(index, "nope") is None and idx.untag(index, "nope") == index


def test_index_json_round_trip_keeps_annotations():
    index = idx.set_tag(Index(), "docker.io/library/x:1", desc(3))
    data = json.loads(index.to_json())
    assert data["schemaVersion"] == 2
    assert data["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "docker.io/library/x:1"}
    assert json.loads(Index().to_json())["manifests"] == []


# -- OCI dataclasses ------------------------------------------------------------------------------


def test_docker_config_with_nulls_and_unknown_fields_decodes():
    raw = {"architecture": "amd64", "os": "linux", "docker_version": "24", "container_config": {"Tty": False},
           "config": {"Env": None, "Cmd": ["sh"], "Entrypoint": None, "Volumes": {"/data": {}},
                      "ExposedPorts": {"80/tcp": {}}, "Labels": None, "Healthcheck": {"Test": ["CMD", "true"],
                                                                                       "Interval": 1000000000}},
           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]},
           "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "x", "empty_layer": True}]}
    cfg = parse_config(json.dumps(raw).encode())
    assert cfg.config.cmd == ["sh"] and cfg.config.env is None and cfg.config.volumes == {"/data": {}}
    assert cfg.config.healthcheck.interval == 1_000_000_000
    assert cfg.history[0].empty_layer is True
    out = json.loads(cfg.to_json())
    assert out["config"]["ExposedPorts"] == {"80/tcp": {}} and "docker_version" not in out


def test_container_config_dict_round_trip():
    data = {"Cmd": ["sh"], "Env": ["A=1"], "Healthcheck": {"Test": ["NONE"]}, "Unknown": 1}
    cfg = ContainerConfig.from_dict(data)
    assert cfg.cmd == ["sh"] and cfg.healthcheck.test == ["NONE"]
    assert cfg.to_dict() == {"Cmd": ["sh"], "Env": ["A=1"], "Healthcheck": {"Test": ["NONE"]}}
    assert ContainerConfig.from_dict(None) == ContainerConfig()


def test_empty_rootfs_and_layers_are_written():
    assert json.loads(ImageConfig().to_json())["rootfs"] == {"type": "layers", "diff_ids": []}
    m = Manifest(config=Descriptor("application/vnd.oci.image.config.v1+json", "sha256:" + "0" * 64, 2))
    assert json.loads(m.to_json())["layers"] == []
    assert parse_manifest(m.to_json()) == m


def test_manifest_parser_refuses_an_index():
    with pytest.raises(InvalidArgument, match="is an image index"):
        parse_manifest(b'{"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}')
    with pytest.raises(InvalidArgument, match="missing required field"):
        parse_manifest(b'{"schemaVersion": 2}')


# -- config changes and times -----------------------------------------------------------------------


def test_changes():
    cfg = apply_changes(ContainerConfig(env=["PATH=/bin", "A=0"]), [
        'CMD ["sh", "-c", "x"]', "ENTRYPOINT /init", "ENV A=1 B=\"two words\"", "ENV C legacy form",
        "EXPOSE 80 53/udp", "LABEL k=v", "USER app:app", "WORKDIR /srv", "WORKDIR www", "VOLUME /data /logs",
        "STOPSIGNAL SIGINT", "ONBUILD RUN x", 'SHELL ["/bin/bash", "-c"]', "cmd echo hi"])
    assert cfg.cmd == ["/bin/bash", "-c", "echo hi"]
    assert cfg.entrypoint == ["/bin/sh", "-c", "/init"]
    assert cfg.env == ["PATH=/bin", "A=1", "B=two words", "C=legacy form"]
    assert cfg.exposed_ports == {"80/tcp": {}, "53/udp": {}}
    assert cfg.labels == {"k": "v"} and cfg.user == "app:app" and cfg.working_dir == "/srv/www"
    assert cfg.volumes == {"/data": {}, "/logs": {}} and cfg.stop_signal == "SIGINT"
    assert cfg.on_build == ["RUN x"] and cfg.shell == ["/bin/bash", "-c"]


@pytest.mark.parametrize("change, message", [
    ("FROM busybox", "not a valid change command"), ("EXPOSE http", "invalid port"),
    ("ENV =x", "expected NAME=VALUE"), ("SHELL sh", "JSON array"), ("ENV A='x", "No closing quotation"),
])
def test_bad_changes(change, message):
    with pytest.raises(InvalidArgument, match=message):
        apply_changes(None, [change])


def test_derive_config_appends_layers_and_history():
    base = derive_config(None, created="2024-01-01T00:00:00Z", created_by="a", diff_id="sha256:" + "1" * 64)
    assert base.config.env[0].startswith("PATH=")
    child = derive_config(base, created="2024-01-02T00:00:00Z", created_by="b", diff_id=None, comment="c")
    assert child.rootfs.diff_ids == base.rootfs.diff_ids
    assert [(h.created_by, h.empty_layer) for h in child.history] == [("a", None), ("b", True)]
    assert child.created == "2024-01-02T00:00:00Z"


def test_times():
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(1.5) == "1970-01-01T00:00:01.500000000Z"
    assert parse_time("2024-01-02T03:04:05.123456789Z") == pytest.approx(1704164645.123456789)
    assert parse_time("2024-01-02T04:04:05+01:00") == 1704164645
    assert parse_time("yesterday") is None and parse_time(None) is None


# -- layers --------------------------------------------------------------------------------------------


def test_compression_detection_and_chain_ids(tars):
    assert detect_compression(b"\x1f\x8b\x08") == "gzip"
    assert detect_compression(b"\x28\xb5\x2f\xfd") == "zstd"
    assert detect_compression(b"bin/\x00\x00") == "tar"
    with pytest.raises(InvalidArgument, match="xz"):
        detect_compression(b"\xfd7zXZ\x00")
    a, b, c = ("sha256:" + ch * 64 for ch in "abc")
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()]
    raw = tars.make(tars.F("x", b"y"))
    for kind in ("tar", "gzip", "zstd"):
        assert diff_id_of(io.BytesIO(tars.make(tars.F("x", b"y"), compression=kind))) == \
            (kind, "sha256:" + hashlib.sha256(raw).hexdigest(), len(raw))


# -- inspect views --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size, text", [(0, "0B"), (999, "999B"), (1234, "1.23kB"), (4_261_000, "4.26MB"),
                                        (1_982_357, "1.98MB"), (12_300_000_000, "12.3GB")])
def test_human_size(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize("seconds, text", [(0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"),
                                           (60, "About a minute"), (600, "10 minutes"), (3600, "About an hour"),
                                           (5 * 3600, "5 hours"), (3 * 86400, "3 days"), (20 * 86400, "2 weeks"),
                                           (90 * 86400, "3 months"), (800 * 86400, "2 years")])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_list_rows_one_per_tag_newest_first():
    old = Image("sha256:" + "1" * 64, "sha256:" + "2" * 64, 1, Manifest(config=desc(0)),
                ImageConfig(created="2020-01-01T00:00:00Z"), ())
    new = Image("sha256:" + "3" * 64, "sha256:" + "4" * 64, 1, Manifest(config=desc(0)),
                ImageConfig(created="2024-01-01T00:00:00Z"),
                (parse_reference("b:1"), parse_reference("localhost:5000/a:2")))
    rows = list_rows([(old, 5), (new, 7)])
    assert [(r.repository, r.tag, r.size) for r in rows] == [
        ("b", "1", 7), ("localhost:5000/a", "2", 7), ("<none>", "<none>", 5)]


# -- overlay mount data -----------------------------------------------------------------------------------


def test_overlay_mount(tmp_path):
    m = overlay_mount([tmp_path / "l2", tmp_path / "l1"], tmp_path / "up", tmp_path / "work", "/mnt/x")
    assert (m.type, m.source, m.target) == ("overlay", "overlay", "/mnt/x")
    assert m.options[:3] == (f"lowerdir={tmp_path}/l2:{tmp_path}/l1", f"upperdir={tmp_path}/up",
                             f"workdir={tmp_path}/work")
    assert m.mount_args() == ("overlay", "/mnt/x", "overlay", 0, ",".join(m.options))
    spec = m.to_spec()
    assert spec.destination == "/mnt/x" and spec.options == list(m.options)
    assert escape_option_path("/a:b,c\\d") == "/a\\:b\\,c\\\\d"


def test_overlay_mount_refusals(tmp_path):
    with pytest.raises(InvalidArgument, match="at least one lower"):
        overlay_mount([], tmp_path / "u", tmp_path / "w")
    with pytest.raises(InvalidArgument, match="must differ"):
        overlay_mount([tmp_path / "l"], tmp_path / "u", tmp_path / "u")
    with pytest.raises(InvalidArgument, match="more than the kernel's 4095"):
        overlay_mount([tmp_path / ("x" * 200 + str(i)) for i in range(40)], tmp_path / "u", tmp_path / "w")
