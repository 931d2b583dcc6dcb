import os

import pytest

from vessel.runtime.linux import libc as L
from vessel.runtime.mountopts import locked_flags, parse_options
from vessel.runtime.paths import secure_join

pytestmark = pytest.mark.unit


def test_flags_set_and_clear_in_order():
    opts = parse_options(["nosuid", "noexec", "nodev", "ro", "rw", "exec"])
    assert opts.flags == L.MS_NOSUID | L.MS_NODEV
    assert opts.data == ""


def test_data_and_propagation():
    opts = parse_options(["nosuid", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", "rprivate"])
    assert opts.flags == L.MS_NOSUID
    assert opts.data == "newinstance,ptmxmode=0666,mode=0620,gid=5"
    assert opts.propagation == (L.MS_PRIVATE | L.MS_REC,)


def test_bind_and_rbind():
    assert parse_options(["bind"]).is_bind and not parse_options(["bind"]).recursive
    assert parse_options(["rbind", "ro"]).recursive
    assert parse_options(["rbind", "ro"]).flags & L.MS_RDONLY


def test_locked_flags_from_statvfs():
    assert locked_flags(2 | 4 | 8) == L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC
    assert locked_flags(1) == 0  # read-only is what we set, not a locked flag


def test_secure_join_never_escapes(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc/passwd", root / "abs")
    os.symlink("../../../../outside", root / "rel")
    os.symlink("etc", root / "e")
    assert secure_join(str(root), "/abs") == str(root / "etc" / "passwd")
    assert secure_join(str(root), "rel") == str(root / "outside")
    assert secure_join(str(root), "/../../x") == str(root / "x")
    assert secure_join(str(root), "/e/hosts") == str(root / "etc" / "hosts")


def test_secure_join_symlink_loop(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(OSError, match="symbolic links"):
        secure_join(str(tmp_path), "a/x")
