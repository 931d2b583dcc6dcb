"""USER and --chown resolution against /etc/passwd and /etc/group, and --chmod modes (pure)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vessel.build.modes import apply_chmod
from vessel.build.users import parse_group, parse_passwd, read_text, resolve_chown, resolve_user
from vessel.errors import InvalidArgument

pytestmark = pytest.mark.unit

PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment
broken line
app:x:1000:1001::/home/app:/bin/sh
bad:x:notanumber:1:::
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
appgrp:x:1001:
wheel:x:10:app,other
video:x:44:app
nogroup:x:65534:
"""


def test_parsers_skip_malformed_lines() -> None:
    assert [e.name for e in parse_passwd(PASSWD)] == ["root", "app", "nobody"]
    assert parse_passwd(PASSWD)[1].home == "/home/app"
    groups = parse_group(GROUP)
    assert [(g.name, g.gid) for g in groups][:3] == [("root", 0), ("appgrp", 1001), ("wheel", 10)]
    assert groups[2].members == ("app", "other")
    assert parse_passwd(None) == [] and parse_group("") == []


@pytest.mark.parametrize(("spec", "uid", "gid", "extra", "home"), [
    ("", 0, 0, (), "/root"),
    ("root", 0, 0, (), "/root"),
    ("app", 1000, 1001, (10, 44), "/home/app"),
    ("1000", 1000, 1001, (10, 44), "/home/app"),
    ("app:wheel", 1000, 10, (), "/home/app"),
    ("app:7", 1000, 7, (), "/home/app"),
    ("4242", 4242, 0, (), "/"),  # unknown uid: gid 0, as runc
    ("4242:4343", 4242, 4343, (), "/"),
])
def test_resolve_user(spec: str, uid: int, gid: int, extra: tuple, home: str) -> None:
    user = resolve_user(spec, PASSWD, GROUP)
    assert (user.uid, user.gid, user.additional_gids, user.home) == (uid, gid, extra, home)


def test_resolve_user_without_passwd_file_knows_root_only() -> None:
    assert resolve_user("", None, None).uid == 0
    with pytest.raises(InvalidArgument, match="unable to find user ghost: no matching entries in passwd file"):
        resolve_user("ghost", None, None)
    with pytest.raises(InvalidArgument, match="unable to find group nope"):
        resolve_user("app:nope", PASSWD, GROUP)


@pytest.mark.parametrize(("spec", "expected"), [
    ("55", (55, 55)),  # without a group the gid is the uid (BuildKit)
    ("55:66", (55, 66)),
    ("app", (1000, 1000)),
    ("app:appgrp", (1000, 1001)),
    ("nobody:nogroup", (65534, 65534)),
    ("1:wheel", (1, 10)),
])
def test_resolve_chown(spec: str, expected: tuple[int, int]) -> None:
    assert resolve_chown(spec, PASSWD, GROUP) == expected


@pytest.mark.parametrize("spec", ["ghost", "app:", ":1", "app:ghostgroup"])
def test_resolve_chown_errors(spec: str) -> None:
    with pytest.raises(InvalidArgument):
        resolve_chown(spec, PASSWD, GROUP)


def test_read_text_stays_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "real").write_text("inside\n")
    os.symlink("/etc/real", root / "etc" / "passwd")  # absolute: resolved inside root
    outside = tmp_path / "outside"
    outside.write_text("secret\n")
    os.symlink("../../../../../../" + str(outside), root / "etc" / "group")
    assert read_text(root, "/etc/passwd") == "inside\n"
    assert read_text(root, "/etc/group") is None
    assert read_text(root, "/etc") is None  # a directory is not a file
    assert read_text(root, "/missing") is None


@pytest.mark.parametrize(("spec", "mode", "is_dir", "expected"), [
    ("", 0o100640, False, 0o640),
    ("0755", 0o100600, False, 0o755),
    ("4755", 0o100600, False, 0o4755),
    ("u+x", 0o100644, False, 0o744),
    ("+x", 0o100644, False, 0o755),
    ("go-w", 0o100666, False, 0o644),
    ("u=rwx,go=rx", 0o100600, False, 0o755),
    ("a=r", 0o100777, False, 0o444),
    ("o=", 0o100777, False, 0o770),
    ("a+X", 0o100644, False, 0o644),  # X: no execute bit, not a directory
    ("a+X", 0o40700, True, 0o711),
    ("a+X", 0o100744, False, 0o755),
    ("u+s", 0o100755, False, 0o4755),
    ("+t", 0o40777, True, 0o1777),
])
def test_apply_chmod(spec: str, mode: int, is_dir: bool, expected: int) -> None:
    assert apply_chmod(spec, mode, is_dir) == expected


@pytest.mark.parametrize("spec", ["999", "77777", "u+q", "x+r", "rwx"])
def test_apply_chmod_rejects_bad_values(spec: str) -> None:
    with pytest.raises(InvalidArgument):
        apply_chmod(spec, 0o644, False)
