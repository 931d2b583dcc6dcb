"""The store without root: making, finding, naming, removing images; crashes and gc."""

from __future__ import annotations

import io
import json
import os

import pytest

from vessel.errors import Conflict, InvalidArgument, NotFound
from vessel.image.ingest import create_image, import_rootfs
from vessel.image.layers import chain_ids
from vessel.image.store import Store
from vessel.oci.image import ContainerConfig

pytestmark = pytest.mark.unit


def layer(tars, *entries) -> io.BytesIO:
    return io.BytesIO(tars.make(*entries))


def make(store, tars, ref=None, content=b"1", parent=None, **kw):
    return create_image(store, parent, [layer(tars, tars.F("f", content))], reference=ref,
                        created="2024-01-02T03:04:05Z", **kw)


def blobs(store: Store) -> set[str]:
    return set(os.listdir(store.blobs.dir))


def test_layout_files(store):
    assert json.loads((store.dir / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads((store.dir / "index.json").read_text())["manifests"] == []
    assert store.images() == []


def test_create_image_writes_an_oci_image(store, tars):
    image = make(store, tars, "app:1", config=ContainerConfig(cmd=["sh"]))
    index = json.loads((store.dir / "index.json").read_text())
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "docker.io/library/app:1"}
    manifest = json.loads(store.blobs.path(image.manifest_digest).read_bytes())
    assert manifest["config"]["digest"] == image.id
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    config = json.loads(store.blobs.path(image.id).read_bytes())
    assert config["config"]["Cmd"] == ["sh"]
    assert config["rootfs"]["diff_ids"] == image.diff_ids
    assert [str(t) for t in image.tags] == ["docker.io/library/app:1"]
    assert store.image_size(image) == 1


def test_layers_on_a_parent_and_rootfs_layers_top_first(store, tars):
    base = make(store, tars, "base")
    child = create_image(store, base, [layer(tars, tars.F("g", b"2"))], reference="child", changes=["ENV A=1"])
    assert child.diff_ids[0] == base.diff_ids[0] and len(child.diff_ids) == 2
    lowers = store.rootfs_layers(child)
    assert lowers == [store.snapshots.fs(c) for c in reversed(chain_ids(child.diff_ids))]
    assert (lowers[0] / "g").read_bytes() == b"2" and (lowers[1] / "f").read_bytes() == b"1"
    assert child.config.config.env[-1] == "A=1"
    assert [h.created_by for h in child.config.history] == ["", ""]


def test_commit_an_upper_dir(store, tars, whiteouts):
    base = make(store, tars, "base")
    upper = store.tmp.parent.parent / "upper"
    (upper / "cache").mkdir(parents=True)
    (upper / "cache/new").write_bytes(b"n")
    os.setxattr(upper / "cache", "user.overlay.opaque", b"y")  # this store's overlay xattr prefix
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        store.commit(upper, base, reference="Bad Name")
    image = store.commit(upper, base, reference="committed:1", changes=["CMD sh"], created_by="sh", comment="c")
    assert len(image.diff_ids) == 2 and image.config.config.cmd == ["/bin/sh", "-c", "sh"]
    top = store.rootfs_layers(image)[0]
    assert whiteouts.is_opaque(top / "cache") and (top / "cache/new").read_bytes() == b"n"
    assert image.config.history[-1].comment == "c"
    with pytest.raises(NotFound, match="no such directory"):
        store.commit(upper / "missing", base)


def test_metadata_only_image_has_an_empty_layer_history_entry(store, tars):
    base = make(store, tars, "base")
    child = create_image(store, base, [], changes=["CMD echo hi"], reference="meta")
    assert child.diff_ids == base.diff_ids
    assert child.config.history[-1].empty_layer is True
    assert child.config.config.cmd == ["/bin/sh", "-c", "echo hi"]


def test_zero_layer_image_gets_the_empty_snapshot(store):
    image = create_image(store, None, [], reference="nothing")
    assert store.rootfs_layers(image) == [store.snapshots.empty()]
    assert list(store.snapshots.empty().iterdir()) == []


def test_find_by_name_id_prefix_and_digest(store, tars):
    image = make(store, tars, "app:1")
    assert store.get("app:1").id == image.id
    assert store.get("docker.io/library/app:1").id == image.id
    assert store.get(image.id).id == image.id
    assert store.get(image.short_id).id == image.id
    assert store.get(image.id[7:11]).id == image.id
    assert store.get(f"app@{image.manifest_digest}").id == image.id
    with pytest.raises(NotFound, match=r"^No such image: app:latest$"):
        store.get("app")
    with pytest.raises(NotFound, match="No such image: foo:latest"):
        store.get("foo:latest")
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        store.get("Not A Name")


def test_ambiguous_id_prefix(store, tars):
    ids = [make(store, tars, f"a{i}", content=str(i).encode()).id for i in range(17)]  # 17 IDs: two share a first hex digit
    first = {}
    for i in ids:
        first.setdefault(i[7], []).append(i)
    shared = next(k for k, v in first.items() if len(v) > 1)
    with pytest.raises(InvalidArgument, match="ambiguous"):
        store.get(shared)


def test_tag_moves_and_leaves_a_dangling_image(store, tars):
    old = make(store, tars, "app:1", content=b"old")
    new = make(store, tars, "app:1", content=b"new")
    assert store.get("app:1").id == new.id
    dangling = store.get(old.id)
    assert dangling.tags == ()
    ref = store.tag("app:1", "localhost:5000/app:v2")
    assert str(ref) == "localhost:5000/app:v2"
    assert {str(t) for t in store.get(new.id).tags} == {"docker.io/library/app:1", "localhost:5000/app:v2"}
    with pytest.raises(InvalidArgument, match="digest"):
        store.tag("app:1", f"app@{new.manifest_digest}")


def test_untag_keeps_the_image(store, tars):
    image = make(store, tars, "app:1")
    assert str(store.untag("app:1")) == "docker.io/library/app:1"
    assert store.get(image.id).tags == ()
    with pytest.raises(NotFound):
        store.untag("app:1")
    store.tag(image.id, "app:2")
    with pytest.raises(InvalidArgument, match="not a tag"):
        store.untag(f"app@{image.manifest_digest}")


def test_same_config_loaded_twice_is_one_image(store, tars):
    a = make(store, tars, "x:1")
    b = make(store, tars, "x:2")
    assert a.id == b.id and len(store.images()) == 1


def test_rmi_untags_then_deletes_and_frees_blobs_and_snapshots(store, tars):
    image = make(store, tars, "app:1")
    store.tag("app:1", "app:2")
    assert store.remove("app:1").untagged == ["app:1"]
    assert store.get("app:2")
    result = store.remove("app:2")
    assert result.untagged == ["app:2"] and result.deleted == [image.id]
    assert store.images() == [] and blobs(store) == set()
    assert store.snapshots.names() == []


def test_rmi_by_id_with_several_tags_needs_force(store, tars):
    image = make(store, tars, "app:1")
    store.tag("app:1", "app:2")
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        store.remove(image.short_id)
    result = store.remove(image.short_id, force=True)
    assert sorted(result.untagged) == ["app:1", "app:2"] and result.deleted == [image.id]


def test_rmi_refused_while_a_container_uses_the_image(tmp_path, tars, whiteouts):
    users: dict[str, list[str]] = {}
    store = Store(tmp_path / "r", is_root=False, whiteouts=whiteouts, in_use=lambda i: users.get(i, []))
    image = make(store, tars, "app:1")
    users[image.id] = ["c0ffee0123456789"]
    with pytest.raises(Conflict, match="container c0ffee012345 is using its referenced image"):
        store.remove("app:1")
    with pytest.raises(Conflict, match="being used by container c0ffee012345"):
        store.remove(image.id)
    result = store.remove("app:1", force=True)
    assert result.untagged == ["app:1"] and result.deleted == []
    assert store.get(image.id).tags == ()  # kept, dangling, while the container exists
    assert store.prune() == ([], 0)
    users.clear()
    deleted, freed = store.prune()
    assert deleted == [image.id] and freed > 0


def test_prune_all_keeps_nothing_unused(store, tars):
    make(store, tars, "a", content=b"a")
    make(store, tars, "b", content=b"b")
    assert store.prune() == ([], 0)
    deleted, _ = store.prune(all=True)
    assert len(deleted) == 2 and store.images() == []


def test_hostile_import_leaves_nothing_behind(store, tars):
    before = blobs(store)
    with pytest.raises(InvalidArgument, match=r"layer sha256:[0-9a-f]{64} entry '../../etc/x' escapes the root"):
        import_rootfs(store, io.BytesIO(tars.make(tars.F("ok", b"1"), tars.F("../../etc/x", b"x"))),
                      reference="evil")
    assert store.images() == [] and blobs(store) == before
    assert store.snapshots.names() == [] and os.listdir(store.tmp) == []


def test_interrupted_ingest_is_invisible_and_gc_cleans_it(store, tars):
    image = make(store, tars, "keep")
    (store.tmp / "snap-crashed" / "fs").mkdir(parents=True)
    (store.tmp / "blob-crashed").write_bytes(b"half")
    orphan, _ = store.blobs.put_bytes(b"unreferenced")
    (store.snapshots.root / ("ab" * 32)).mkdir()
    assert [i.id for i in store.images()] == [image.id]
    result = store.gc()
    assert result.blobs == 1 and result.snapshots == 1 and result.temp == 2
    assert not store.blobs.has(orphan) and os.listdir(store.tmp) == []
    assert store.get("keep").id == image.id and (store.rootfs_layers(image)[0] / "f").exists()


def test_gc_waits_for_writers(store):
    with store.using_blobs():
        assert store.gc(blocking=False).blobs == 0  # skipped: a writer holds the lock
        other = Store(store.dir.parent, is_root=False, whiteouts=store.snapshots.whiteouts)
        with other.using_blobs() as shared:
            assert shared  # readers and writers share


def test_blob_digest_mismatch_leaves_nothing(store):
    before = blobs(store)
    with pytest.raises(InvalidArgument, match="does not match"):
        store.blobs.put_bytes(b"data", "sha256:" + "0" * 64)
    assert blobs(store) == before and os.listdir(store.tmp) == []


def test_missing_snapshot_is_unpacked_again(store, tars):
    image = make(store, tars, "app")
    store.snapshots.remove(image.chain_ids[0][7:])
    assert (store.rootfs_layers(image)[0] / "f").read_bytes() == b"1"


def test_corrupt_index_is_reported(store):
    (store.dir / "index.json").write_text("{not json")
    with pytest.raises(InvalidArgument, match="index.json is not valid JSON"):
        store.images()


def test_inspect_and_history_shapes(store, tars):
    image = make(store, tars, "app:1", config=ContainerConfig(cmd=["sh"], env=["PATH=/bin"]),
                 created_by="/bin/sh -c make", comment="built")
    info = store.inspect("app:1")
    assert info["Id"] == image.id and info["RepoTags"] == ["app:1"]
    assert info["RepoDigests"] == [f"app@{image.manifest_digest}"]
    assert info["Config"]["Cmd"] == ["sh"] and info["Config"]["Entrypoint"] is None
    assert info["RootFS"] == {"Type": "layers", "Layers": image.diff_ids}
    assert info["Os"] == "linux" and info["Architecture"] == "amd64" and info["Size"] == 1
    history = store.history("app:1")
    assert history == [{"Id": image.id, "Created": 1704164645, "CreatedBy": "/bin/sh -c make",
                        "Tags": ["app:1"], "Size": 1, "Comment": "built"}]
