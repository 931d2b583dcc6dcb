"""Unpacking layers: content, metadata, whiteouts, and hostile archives (no root needed)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from vessel.errors import InvalidArgument
from vessel.image.extract import extract_layer

pytestmark = pytest.mark.unit


def unpack(data: bytes, target: Path, whiteouts, lowers=(), layer="sha256:test"):
    target.mkdir(parents=True, exist_ok=True)
    return extract_layer(io.BytesIO(data), target, layer=layer, is_root=False, whiteouts=whiteouts,
                         lowers=list(lowers), opaque_xattr="user.overlay.opaque")


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_files_dirs_links_and_metadata(tmp_path, tars, whiteouts):
    t = tars
    data = t.make(t.D("etc", 0o750, mtime=111), t.F("etc/passwd", b"root\n", 0o640, mtime=222),
                  t.L("etc/link", "passwd"), t.H("etc/hard", "etc/passwd"), t.P("run.fifo"),
                  t.F("bin/tool", b"#!", 0o755), t.D("ro", 0o555), t.F("ro/inside", b"x"))
    stats = unpack(data, tmp_path / "fs", whiteouts)
    fs = tmp_path / "fs"
    assert (fs / "etc/passwd").read_bytes() == b"root\n"
    assert stat.S_IMODE(os.stat(fs / "etc/passwd").st_mode) == 0o640
    assert os.stat(fs / "etc/passwd").st_mtime == 222
    assert stat.S_IMODE(os.stat(fs / "etc").st_mode) == 0o750
    assert os.stat(fs / "etc").st_mtime == 111  # set after its children were added
    assert os.readlink(fs / "etc/link") == "passwd"
    assert os.stat(fs / "etc/hard").st_ino == os.stat(fs / "etc/passwd").st_ino
    assert stat.S_ISFIFO(os.lstat(fs / "run.fifo").st_mode)
    assert stat.S_IMODE(os.stat(fs / "bin").st_mode) == 0o755  # implicit parent
    assert stat.S_IMODE(os.stat(fs / "ro").st_mode) == 0o555
    assert (fs / "ro/inside").read_bytes() == b"x"
    assert stats.size == len(b"root\n") + len(b"#!") + 1
    assert stats.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert stats.tar_size == len(data)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_layers_have_the_diff_id_of_the_tar(tmp_path, tars, whiteouts, compression):
    raw = tars.make(tars.F("a", b"hello"))
    stats = unpack(tars.make(tars.F("a", b"hello"), compression=compression), tmp_path / "fs", whiteouts)
    assert stats.compression == compression
    assert stats.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert (tmp_path / "fs/a").read_bytes() == b"hello"


def test_non_root_drops_setuid_devices_and_privileged_xattrs(tmp_path, tars, whiteouts):
    data = tars.make(tars.F("su", b"x", 0o4755), tars.D("shared", 0o2775), tars.C("dev/null", 1, 3),
                     tars.F("cap", b"y", xattrs={"security.capability": "\x01", "user.note": "hi",
                                                   "trusted.overlay.opaque": "y"}))
    stats = unpack(data, tmp_path / "fs", whiteouts)
    fs = tmp_path / "fs"
    assert stat.S_IMODE(os.stat(fs / "su").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(fs / "shared").st_mode) == 0o775
    assert not (fs / "dev/null").exists()
    assert stats.skipped_devices == 1
    assert os.getxattr(fs / "cap", "user.note") == b"hi"
    assert "trusted.overlay.opaque" not in os.listxattr(fs / "cap")
    assert stats.skipped_xattrs == 2


def test_later_entries_replace_earlier_ones(tmp_path, tars, whiteouts):
    data = tars.make(tars.F("x", b"file"), tars.D("x"), tars.F("x/in", b"1"), tars.F("x", b"again"),
                     tars.L("y", "target"), tars.F("y", b"plain"))
    unpack(data, tmp_path / "fs", whiteouts)
    assert (tmp_path / "fs/x").read_bytes() == b"again"
    assert not (tmp_path / "fs/y").is_symlink()
    assert (tmp_path / "fs/y").read_bytes() == b"plain"


def test_whiteouts_and_opaque_dirs(tmp_path, tars, whiteouts):
    data = tars.make(tars.F("etc/.wh.motd"), tars.F("var/cache/.wh..wh..opq"), tars.F("var/cache/new", b"n"),
                     tars.F("keep"), tars.F(".wh.keep"), tars.F(".wh..wh.plnk"))
    unpack(data, tmp_path / "fs", whiteouts)
    fs = tmp_path / "fs"
    assert whiteouts.is_deleted(fs / "etc/motd")
    assert whiteouts.is_opaque(fs / "var/cache")
    assert (fs / "var/cache/new").read_bytes() == b"n"
    assert not whiteouts.is_deleted(fs / "keep")  # a whiteout never hides an entry of its own layer
    assert not (fs / ".wh..wh.plnk").exists() and not (fs / ".wh.keep").exists()


def test_directory_over_a_whiteout_of_the_same_layer_is_opaque(tmp_path, tars, whiteouts):
    unpack(tars.make(tars.F(".wh.data"), tars.D("data"), tars.F("data/new", b"1")), tmp_path / "fs", whiteouts)
    assert whiteouts.is_opaque(tmp_path / "fs/data")
    assert (tmp_path / "fs/data/new").exists()


def test_implicit_dirs_take_lower_attributes_and_lower_symlinks_are_followed(tmp_path, tars, whiteouts):
    lower = tmp_path / "lower"
    unpack(tars.make(tars.D("tmp", 0o1777), tars.D("usr/lib", 0o755), tars.L("lib", "usr/lib")), lower, whiteouts)
    unpack(tars.make(tars.F("tmp/x", b"1"), tars.F("lib/libx.so", b"2")), tmp_path / "upper", whiteouts,
           lowers=[lower])
    upper = tmp_path / "upper"
    assert stat.S_IMODE(os.stat(upper / "tmp").st_mode) == 0o1777
    assert (upper / "usr/lib/libx.so").read_bytes() == b"2"
    assert not (upper / "lib").exists()


# -- hostile archives -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../etc/x", "a/../../x", "./../x"])
def test_dotdot_escape_is_refused(tmp_path, tars, whiteouts, name):
    with pytest.raises(InvalidArgument, match=r"layer sha256:test entry '.*' escapes the root"):
        unpack(tars.make(tars.F(name, b"pwned")), tmp_path / "box" / "fs", whiteouts)
    assert tree(tmp_path) == {"box", "box/fs"}


def test_absolute_names_stay_inside(tmp_path, tars, whiteouts):
    unpack(tars.make(tars.F("/etc/abs", b"in")), tmp_path / "fs", whiteouts)
    assert (tmp_path / "fs/etc/abs").read_bytes() == b"in"


@pytest.mark.parametrize("target", ["/", "..", "../../..", "/etc/../..", str("/tmp")])
def test_symlinks_never_lead_outside(tmp_path, tars, whiteouts, target):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "etc").mkdir()
    fs = tmp_path / "box" / "fs"
    unpack(tars.make(tars.L("evil", target), tars.F("evil/etc/pwned", b"x"), tars.F("evil/pwned2", b"y")), fs,
           whiteouts)
    assert tree(outside) == {"etc"}
    found = {str(p.relative_to(fs)) for p in fs.rglob("pwned*")}
    assert found  # written, but inside the root


def test_symlink_chain_into_host_path_is_resolved_in_root(tmp_path, tars, whiteouts):
    host = tmp_path / "host"
    host.mkdir()
    fs = tmp_path / "fs"
    unpack(tars.make(tars.L("a", str(host)), tars.L("b", "a/sub"), tars.F("b/file", b"z")), fs, whiteouts)
    assert list(host.iterdir()) == []
    assert (fs / host.relative_to("/") / "sub" / "file").read_bytes() == b"z"


def test_symlink_loop_is_refused(tmp_path, tars, whiteouts):
    with pytest.raises(InvalidArgument, match="too many levels of symbolic links"):
        unpack(tars.make(tars.L("a", "b"), tars.L("b", "a"), tars.F("a/x")), tmp_path / "fs", whiteouts)


def test_file_entry_does_not_write_through_an_existing_symlink(tmp_path, tars, whiteouts):
    victim = tmp_path / "victim"
    victim.write_text("safe")
    fs = tmp_path / "fs"
    unpack(tars.make(tars.L("f", str(victim)), tars.F("f", b"pwned")), fs, whiteouts)
    assert victim.read_text() == "safe"
    assert (fs / "f").read_bytes() == b"pwned"


@pytest.mark.parametrize("target, message", [
    ("../outside", "escapes the root"),
    ("missing", "is not a file earlier in this layer"),
    ("dir", "is not a file earlier in this layer"),
])
def test_bad_hardlinks_are_refused(tmp_path, tars, whiteouts, target, message):
    (tmp_path / "outside").write_text("secret")
    with pytest.raises(InvalidArgument, match=message):
        unpack(tars.make(tars.D("dir"), tars.H("link", target)), tmp_path / "fs", whiteouts)
    assert os.stat(tmp_path / "outside").st_nlink == 1


def test_hardlink_through_symlink_to_outside_is_refused(tmp_path, tars, whiteouts):
    (tmp_path / "secret").write_text("s")
    with pytest.raises(InvalidArgument, match="is not a file earlier in this layer"):
        unpack(tars.make(tars.L("up", str(tmp_path)), tars.H("copy", "up/secret")), tmp_path / "fs", whiteouts)
    assert os.stat(tmp_path / "secret").st_nlink == 1


def test_whiteout_of_dotdot_is_refused(tmp_path, tars, whiteouts):
    with pytest.raises(InvalidArgument, match="not a valid whiteout"):
        unpack(tars.make(tars.F("a/.wh..."), ), tmp_path / "fs", whiteouts)


def test_odd_names_are_invalid_arguments(tmp_path, tars, whiteouts):
    with pytest.raises(InvalidArgument, match="symlink to nothing"):
        unpack(tars.make(tars.L("a", "")), tmp_path / "fs1", whiteouts)
    with pytest.raises(InvalidArgument, match="this filesystem refuses the name"):
        unpack(tars.make(tars.F("x" * 300)), tmp_path / "fs2", whiteouts)


def test_parent_that_is_a_file_is_refused(tmp_path, tars, whiteouts):
    with pytest.raises(InvalidArgument, match="'f' is not a directory"):
        unpack(tars.make(tars.F("f", b"x"), tars.F("f/g", b"y")), tmp_path / "fs", whiteouts)


@pytest.mark.parametrize("blob, message", [
    (b"this is not a tar archive at all" * 40, "not a valid tar archive"),
    (b"\x1f\x8b\x08\x00garbage-after-gzip-magic" * 10, "not a valid gzip-compressed tar"),
    (b"\x28\xb5\x2f\xfd" + b"\x00" * 64, "not a valid zstd-compressed tar"),
    (b"BZh91AY&SY", "bzip2, which is not supported"),
])
def test_corrupt_layers_are_invalid_arguments(tmp_path, whiteouts, blob, message):
    with pytest.raises(InvalidArgument, match=message):
        unpack(blob, tmp_path / "fs", whiteouts)


def test_truncated_tar_is_refused(tmp_path, tars, whiteouts):
    data = tars.make(tars.F("big", b"x" * 5000))
    with pytest.raises(InvalidArgument, match="not a valid tar archive"):
        unpack(data[:1500], tmp_path / "fs", whiteouts)
