"""load/save of docker-archive and OCI-archive tars, and the errors for broken ones."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from vessel.errors import InvalidArgument, NotFound
from vessel.image.ingest import create_image
from vessel.image.store import Store
from vessel.oci.image import ContainerConfig

pytestmark = pytest.mark.unit


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buf.getvalue()


def config_for(*layers: bytes) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Entrypoint": None},
                       "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]},
                       "container_config": {"Hostname": "x"}, "docker_version": "24.0.0"}).encode()


@pytest.fixture
def other(tmp_path, whiteouts):
    return Store(tmp_path / "other", is_root=False, whiteouts=whiteouts, overlay_xattr_prefix="user.overlay.")


def two_layer_image(store, tars):
    base = create_image(store, None, [io.BytesIO(tars.make(tars.F("a", b"A")))], reference="app:1")
    return create_image(store, base, [io.BytesIO(tars.make(tars.F("b", b"B"), compression="gzip"))],
                        reference="app:1", config=ContainerConfig(cmd=["run"]))


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_then_load_round_trip(store, other, tars, fmt):
    image = two_layer_image(store, tars)
    out = io.BytesIO()
    store.save(["app:1"], out, fmt)
    loaded = other.load(io.BytesIO(out.getvalue()))
    assert [(item.image.id, [str(t) for t in item.tags]) for item in loaded] == \
        [(image.id, ["docker.io/library/app:1"])]
    copy = other.get("app:1")
    assert copy.diff_ids == image.diff_ids
    assert [(p / n).read_bytes() for p, n in zip(other.rootfs_layers(copy), "ba")] == [b"B", b"A"]


def test_docker_archive_layout_and_uncompressed_layers(store, tars):
    image = two_layer_image(store, tars)
    out = io.BytesIO()
    store.save(["app:1"], out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        assert manifest == [{"Config": image.id[7:] + ".json", "RepoTags": ["docker.io/library/app:1"],
                             "Layers": [f"{d[7:]}/layer.tar" for d in image.diff_ids]}]
        for name, diff_id in zip(manifest[0]["Layers"], image.diff_ids):
            assert sha(tf.extractfile(name).read()) == diff_id  # gzip layers are written uncompressed
        assert sha(tf.extractfile(manifest[0]["Config"]).read()) == image.id


def test_save_by_id_has_no_tags_and_deterministic_bytes(store, tars):
    image = two_layer_image(store, tars)
    first, second = io.BytesIO(), io.BytesIO()
    store.save([image.id], first)
    store.save([image.id], second)
    assert first.getvalue() == second.getvalue()
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tf:
        assert json.load(tf.extractfile("manifest.json"))[0]["RepoTags"] == []


def test_load_legacy_docker_save_with_symlinked_layer(other, tars):
    layer = tars.make(tars.F("bin/x", b"x"))
    config = config_for(layer, layer)
    archive = tar_of({sha(config)[7:] + ".json": config, "l1/layer.tar": layer, "l1/VERSION": b"1.0",
                      "manifest.json": json.dumps([{"Config": sha(config)[7:] + ".json", "RepoTags": ["busy:1"],
                                                    "Layers": ["l1/layer.tar", "l2/layer.tar"]}]).encode(),
                      "repositories": b"{}"}, symlinks={"l2/layer.tar": "../l1/layer.tar"})
    (item,) = other.load(io.BytesIO(archive))
    assert item.image.id == sha(config)  # the config's bytes are kept: the ID is docker's
    assert other.get("busy:1").config.config.cmd == ["sh"]
    assert other.config_dict("busy:1")["docker_version"] == "24.0.0"  # unknown fields survive


def test_load_docker25_archive_with_blobs_paths(other, tars):
    layer = tars.make(tars.F("y", b"y"))
    config = config_for(layer)
    archive = tar_of({f"blobs/sha256/{sha(layer)[7:]}": layer, f"blobs/sha256/{sha(config)[7:]}": config,
                      "manifest.json": json.dumps([{"Config": f"blobs/sha256/{sha(config)[7:]}",
                                                    "RepoTags": ["localhost:5000/y:2"],
                                                    "Layers": [f"blobs/sha256/{sha(layer)[7:]}"]}]).encode()})
    (item,) = other.load(io.BytesIO(archive))
    assert [str(t) for t in item.tags] == ["localhost:5000/y:2"]


def oci_archive(layer_blob: bytes, config: bytes, annotations: dict, nested: bool = False) -> bytes:
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                                       "digest": sha(layer_blob), "size": len(layer_blob)}]}).encode()
    files = {f"blobs/sha256/{sha(b)[7:]}": b for b in (layer_blob, config, manifest)}
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
             "size": len(manifest), "platform": {"architecture": "amd64", "os": "linux"}}
    if nested:
        inner = json.dumps({"schemaVersion": 2, "manifests": [
            {**entry, "platform": {"architecture": "arm64", "os": "linux"}, "digest": sha(b"nope")}, entry]}).encode()
        files[f"blobs/sha256/{sha(inner)[7:]}"] = inner
        entry = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(inner), "size": len(inner)}
    index = {"schemaVersion": 2, "manifests": [{**entry, "annotations": annotations}]}
    files["index.json"] = json.dumps(index).encode()
    files["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    return tar_of(files)


@pytest.mark.parametrize("nested", [False, True])
def test_load_oci_archive_with_zstd_layer(other, tars, nested):
    raw = tars.make(tars.F("z", b"zstd!"))
    blob = tars.make(tars.F("z", b"zstd!"), compression="zstd")
    config = config_for(raw)
    (item,) = other.load(io.BytesIO(oci_archive(blob, config, {"io.containerd.image.name": "quay.io/z/z:1",
                                                                "org.opencontainers.image.ref.name": "1"},
                                                nested)))
    assert [str(t) for t in item.tags] == ["quay.io/z/z:1"]
    image = other.get("quay.io/z/z:1")
    assert image.manifest.layers[0].media_type.endswith("+zstd")
    assert (other.rootfs_layers(image)[0] / "z").read_bytes() == b"zstd!"


def test_oci_archive_with_a_bare_tag_loads_dangling(other, tars):
    raw = tars.make(tars.F("z", b"1"))
    (item,) = other.load(io.BytesIO(oci_archive(raw, config_for(raw), {"org.opencontainers.image.ref.name": "v1"})))
    assert item.tags == [] and other.get(item.image.id).tags == ()


# -- broken archives -------------------------------------------------------------------------------


def broken_cases(tars):
    layer = tars.make(tars.F("a", b"a"))
    config = config_for(layer)
    good = {"c.json": config, "l/layer.tar": layer}

    def manifest(**kw):
        return json.dumps([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"], **kw}]).encode()

    return {
        "not a tar": (b"hello world" * 100, "not a valid image archive"),
        "no manifest": (tar_of({"etc/passwd": b"root"}), "neither a docker-archive"),
        "manifest not json": (tar_of({**good, "manifest.json": b"[{"}), "manifest.json is not valid JSON"),
        "manifest empty": (tar_of({**good, "manifest.json": b"[]"}), "not a non-empty list"),
        "missing layer": (tar_of({"c.json": config, "manifest.json": manifest()}),
                          "names 'l/layer.tar', which the archive does not contain"),
        "layer count": (tar_of({**good, "manifest.json": manifest(Layers=[])}), "0 layers but the config lists 1"),
        "wrong layer": (tar_of({"c.json": config, "l/layer.tar": tars.make(tars.F("a", b"b")),
                                "manifest.json": manifest()}), "does not match"),
        "config name digest": (tar_of({**good, f"{'0' * 64}.json": config,
                                       "manifest.json": manifest(Config=f"{'0' * 64}.json")}), "does not match"),
        "hostile layer": (tar_of({"c.json": config_for(tars.make(tars.F("../x", b"x"))),
                                  "l/layer.tar": tars.make(tars.F("../x", b"x")), "manifest.json": manifest()}),
                          "escapes the root"),
        "bad tag": (tar_of({**good, "manifest.json": manifest(RepoTags=["Bad Tag"])}), "invalid reference"),
        "truncated gzip": (gzip.compress(tar_of({**good, "manifest.json": manifest()}))[:300],
                           "not a valid image archive|corrupt archive"),
    }


@pytest.mark.parametrize("case", ["not a tar", "no manifest", "manifest not json", "manifest empty",
                                  "missing layer", "layer count", "wrong layer", "config name digest",
                                  "hostile layer", "bad tag", "truncated gzip"])
def test_broken_archives_are_refused_and_leave_nothing(other, tars, case):
    data, message = broken_cases(tars)[case]
    with pytest.raises(InvalidArgument, match=message):
        other.load(io.BytesIO(data))
    assert other.images() == []
    assert os.listdir(other.tmp) == [] and other.snapshots.names() == []


def test_corrupt_oci_blob_is_named(other, tars):
    raw = tars.make(tars.F("z", b"1"))
    data = oci_archive(raw, config_for(raw), {})
    bad = data.replace(b'"Cmd": ["sh"]', b'"Cmd": ["sx"]')
    with pytest.raises(InvalidArgument, match=r"blob sha256:[0-9a-f]+ is corrupt"):
        other.load(io.BytesIO(bad))


def test_load_missing_file_and_unknown_format(store, tmp_path):
    with pytest.raises(NotFound, match="no such file"):
        store.load(tmp_path / "nope.tar")
    with pytest.raises(InvalidArgument, match="unknown archive format"):
        store.save(["x"], io.BytesIO(), "tarball")
    with pytest.raises(NotFound, match="No such image: x:latest"):
        store.save(["x"], io.BytesIO())
