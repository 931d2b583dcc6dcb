"""-u user[:group] resolved from an image's /etc/passwd and /etc/group as docker (runc's GetExecUser) does."""

from __future__ import annotations

import pytest

from vessel.engine.users import parse_group, parse_passwd, resolve_user
from vessel.errors import InvalidArgument

pytestmark = pytest.mark.unit

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
# a comment line

alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:100::/home/bob:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
broken:x:notanumber
"""
GROUP = """\
root:x:0:
daemon:x:1:
wheel:x:10:root,alice
audio:x:29:alice,bob
users:x:100:
alice:x:1000:
staff:x:50:
nogroup:x:65534:
"""


@pytest.mark.parametrize("spec, expected", [
    (None, (0, 0, [0, 10], "/root")),
    ("", (0, 0, [0, 10], "/root")),
    ("root", (0, 0, [0, 10], "/root")),
    ("0", (0, 0, [0, 10], "/root")),
    ("nobody", (65534, 65534, [65534], "/home")),
    ("alice", (1000, 1000, [1000, 10, 29], "/home/alice")),
    ("1000", (1000, 1000, [1000, 10, 29], "/home/alice")),
    ("bob", (1001, 100, [100, 29], "/home/bob")),
    ("alice:staff", (1000, 50, [50], "/home/alice")),
    ("alice:50", (1000, 50, [50], "/home/alice")),
    ("alice:4242", (1000, 4242, [4242], "/home/alice")),
    ("4242", (4242, 0, [0], "/")),
    ("4242:4242", (4242, 4242, [4242], "/")),
    ("4242:audio", (4242, 29, [29], "/")),
    ("root:nogroup", (0, 65534, [65534], "/root")),
    (":staff", (0, 50, [50], "/root")),
    ("broken", (0, 0, [0], "/")),
])
def test_resolve_user(spec, expected):
    assert resolve_user(spec, PASSWD, GROUP) == expected


@pytest.mark.parametrize("spec, message", [
    ("foo", "unable to find user foo: no matching entries in passwd file"),
    ("root:nosuchgroup", "unable to find group nosuchgroup: no matching entries in group file"),
    ("99999999999", "uids and gids must be in range 0-2147483647"),
    ("1:99999999999", "uids and gids must be in range 0-2147483647"),
    ("-5", "uids and gids must be in range 0-2147483647"),
])
def test_resolve_user_rejects(spec, message):
    with pytest.raises(InvalidArgument) as err:
        resolve_user(spec, PASSWD, GROUP)
    assert err.value.message == message
    assert err.value.hint


def test_numeric_ids_work_without_the_files():
    assert resolve_user("1000:1000", None, None) == (1000, 1000, [1000], "/")
    assert resolve_user(None, None, None) == (0, 0, [0], "/")
    with pytest.raises(InvalidArgument, match="unable to find user alice"):
        resolve_user("alice", None, None)
    with pytest.raises(InvalidArgument, match="unable to find group staff"):
        resolve_user("0:staff", None, None)


def test_first_matching_entry_wins():
    passwd = "dup:x:7:7::/one:/bin/sh\ndup:x:8:8::/two:/bin/sh\n"
    assert resolve_user("dup", passwd, "") == (7, 7, [7], "/one")


def test_parsers_tolerate_short_and_odd_lines():
    assert parse_passwd("short:x:5\n")[0].uid == 5
    assert parse_passwd("short:x:5\n")[0].home == ""
    assert parse_group("g:x:9:a,,b\n")[0].members == ("a", "b")
    assert parse_group("  \n#c\n") == []
