"""Base images (busybox from Debian's busybox-static, scratch, debian's mirror choice) and layer tars of dirs."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from vessel.errors import InvalidArgument, NotFound, Unsupported
from vessel.image.bootstrap import BootstrapConfig, mirror_from_sources
from vessel.image.difftar import tar_directory
from vessel.image.extract import extract_layer
from vessel.image.store import Store

pytestmark = pytest.mark.unit

BUSYBOX = Path("/bin/busybox")


def new_store(path: Path, whiteouts, **kw) -> Store:
    return Store(path, is_root=False, whiteouts=whiteouts, overlay_xattr_prefix="user.overlay.", **kw)


@pytest.fixture(scope="module")
def busybox_present():
    if not BUSYBOX.is_file():
        pytest.fail("busybox-static is not installed (it is in scripts/apt-packages.txt)")


def test_busybox_is_deterministic_and_laid_out_like_docker_hub(tmp_path, whiteouts, busybox_present):
    first = new_store(tmp_path / "a", whiteouts).ensure_base("busybox")
    store = new_store(tmp_path / "b", whiteouts)
    second = store.ensure_base("busybox")
    assert first.id == second.id and first.manifest_digest == second.manifest_digest
    assert [str(t) for t in second.tags] == ["docker.io/library/busybox:latest"]
    cfg = second.config.config
    assert cfg.cmd == ["sh"] and cfg.env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    (fs,) = store.rootfs_layers(second)
    assert os.stat(fs / "bin/sh").st_ino == os.stat(fs / "bin/busybox").st_ino
    assert os.stat(fs / "bin/ls").st_ino == os.stat(fs / "bin/busybox").st_ino
    assert (fs / "etc/passwd").read_text().splitlines()[0] == "root:x:0:0:root:/root:/bin/sh"
    assert "nobody:x:65534:" in (fs / "etc/group").read_text()
    assert stat.S_IMODE(os.stat(fs / "tmp").st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(fs / "root").st_mode) == 0o700
    for d in ("var", "home", "dev", "usr/sbin"):
        assert (fs / d).is_dir()
    assert store.ensure_base("busybox").id == second.id  # built once


def test_get_builds_busybox_on_first_use_only_when_asked(tmp_path, whiteouts, busybox_present):
    store = new_store(tmp_path, whiteouts)
    with pytest.raises(NotFound, match="No such image: busybox:latest") as err:
        store.get("busybox")
    assert "vessel image bootstrap busybox" in str(err.value)
    assert store.get("busybox", bootstrap=True).tags
    with pytest.raises(NotFound, match="No such image: alpine:latest"):
        store.get("alpine", bootstrap=True)


def test_scratch_is_empty_and_not_stored(store):
    image = store.ensure_base("scratch")
    assert image.diff_ids == [] and image.manifest.layers == []
    assert store.images() == []


def test_unknown_base_and_missing_tools(tmp_path, whiteouts):
    store = new_store(tmp_path, whiteouts, bootstrap=BootstrapConfig(busybox=tmp_path / "nope"))
    with pytest.raises(InvalidArgument, match="cannot build alpine:latest by itself"):
        store.ensure_base("alpine")
    with pytest.raises(Unsupported, match="nope is missing: cannot build the busybox image"):
        store.ensure_base("busybox")
    with pytest.raises(Unsupported, match="needs root"):
        store.ensure_base("debian:bookworm")
    with pytest.raises(NotFound, match="debian:bookworm") as err:
        store.get("debian:bookworm")
    assert "debootstrap" in str(err.value)


def test_mirror_from_sources():
    deb822 = ("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
              "Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n"
              "Suites: bookworm-security\n")
    assert mirror_from_sources([("debian.sources", deb822)], "bookworm") == "http://deb.debian.org/debian"
    one_line = ("# comment\ndeb-src http://src.example/debian bookworm main\n"
                "deb [arch=amd64 signed-by=/k.gpg] http://security.debian.org/debian-security bookworm-security main\n"
                "deb http://mirror.example/debian/ bullseye main\ndeb http://ftp.example/debian bookworm main\n")
    assert mirror_from_sources([("sources.list", one_line)], "bookworm") == "http://ftp.example/debian"
    assert mirror_from_sources([("sources.list", one_line)], "trixie") == "http://mirror.example/debian"
    assert mirror_from_sources([("x.sources", "Types: deb\nEnabled: no\nURIs: http://a/debian\nSuites: x\n")],
                               "x") is None
    assert mirror_from_sources([], "bookworm") is None


def test_tar_directory_round_trips_and_is_deterministic(tmp_path, whiteouts):
    src = tmp_path / "src"
    (src / "d/sub").mkdir(parents=True)
    (src / "d/file").write_bytes(b"content")
    os.chmod(src / "d/file", 0o640)
    os.link(src / "d/file", src / "d/hard")
    os.symlink("../d/file", src / "d/sub/link")
    os.mkfifo(src / "pipe")
    os.setxattr(src / "d/file", "user.note", b"n")
    first, second = io.BytesIO(), io.BytesIO()
    tar_directory(src, first, mtime=7)
    tar_directory(src, second, mtime=7)
    assert first.getvalue() == second.getvalue()
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert list(members) == ["d", "pipe", "d/file", "d/hard", "d/sub", "d/sub/link"]
    assert members["d/hard"].islnk() and members["d/hard"].linkname == "d/file"
    assert members["d/file"].pax_headers["SCHILY.xattr.user.note"] == "n"
    assert all(m.mtime == 7 and m.uname == "" for m in members.values())
    out = tmp_path / "out"
    out.mkdir()
    extract_layer(io.BytesIO(first.getvalue()), out, layer="l", is_root=False, whiteouts=whiteouts)
    assert (out / "d/file").read_bytes() == b"content" and stat.S_IMODE(os.stat(out / "d/file").st_mode) == 0o640
    assert os.readlink(out / "d/sub/link") == "../d/file"
    assert os.stat(out / "d/hard").st_ino == os.stat(out / "d/file").st_ino


def test_tar_directory_turns_opaque_xattr_into_marker(tmp_path):
    src = tmp_path / "upper"
    (src / "cache").mkdir(parents=True)
    os.setxattr(src / "cache", "user.overlay.opaque", b"y")
    out = io.BytesIO()
    tar_directory(src, out, overlay_whiteouts=True, opaque_xattr="user.overlay.opaque")
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.getnames() == ["cache", "cache/.wh..wh..opq"]
