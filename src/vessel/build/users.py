"""USER and ``--chown`` names resolved against an image's /etc/passwd and /etc/group (pure).

Docker's rules:

* RUN as ``user[:group]``: a name is looked up in /etc/passwd (a number may
  be absent); without a group the user's primary group is used, and the
  supplementary groups are those of /etc/group that list the user.  An
  unknown name fails with ``unable to find user app: no matching entries in
  passwd file``.
* ``COPY --chown=user[:group]``: the same lookup, but without a group the
  gid is the *uid* (``--chown=55`` gives 55:55, ``--chown=app`` gives
  uid(app):uid(app)), as BuildKit does.

``read_text(root, path)`` reads a file of a root filesystem without letting
a symlink in it lead outside.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from vessel.errors import InvalidArgument
from vessel.runtime.paths import secure_join


@dataclass(frozen=True, slots=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True, slots=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"
    name: str = ""


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def parse_passwd(text: str | None) -> list[PasswdEntry]:
    """``name:x:uid:gid:gecos:home:shell`` lines; malformed lines are skipped as libc does."""
    out = []
    for line in (text or "").splitlines():
        parts = line.split(":")
        if len(parts) < 4 or line.startswith("#"):
            continue
        uid, gid = _int(parts[2]), _int(parts[3])
        if uid is None or gid is None:
            continue
        out.append(PasswdEntry(parts[0], uid, gid, parts[5] if len(parts) > 5 else ""))
    return out


def parse_group(text: str | None) -> list[GroupEntry]:
    """``name:x:gid:member,member`` lines."""
    out = []
    for line in (text or "").splitlines():
        parts = line.split(":")
        if len(parts) < 3 or line.startswith("#"):
            continue
        gid = _int(parts[2])
        if gid is None:
            continue
        members = tuple(m for m in (parts[3].split(",") if len(parts) > 3 else []) if m)
        out.append(GroupEntry(parts[0], gid, members))
    return out


def _find_user(spec: str, passwd: list[PasswdEntry]) -> PasswdEntry | None:
    number = _int(spec)
    for entry in passwd:
        if (number is not None and entry.uid == number) or (number is None and entry.name == spec):
            return entry
    return None


def _group_id(spec: str, groups: list[GroupEntry]) -> int:
    number = _int(spec)
    if number is not None:
        return number
    for entry in groups:
        if entry.name == spec:
            return entry.gid
    raise InvalidArgument(f"unable to find group {spec}: no matching entries in group file", group=spec)


def resolve_user(spec: str, passwd_text: str | None, group_text: str | None) -> ResolvedUser:
    """The ids a process runs with for USER ``spec`` (empty: root)."""
    user, _, group = (spec or "").partition(":")
    user = user or "root"
    passwd = parse_passwd(passwd_text)
    groups = parse_group(group_text)
    entry = _find_user(user, passwd)
    if entry is None:
        number = _int(user)
        if number is None:
            if user == "root":
                entry = PasswdEntry("root", 0, 0, "/root")
            else:
                raise InvalidArgument(f"unable to find user {user}: no matching entries in passwd file", user=user)
        else:
            entry = PasswdEntry("", number, 0, "/")  # runc: an unknown uid runs with gid 0
    gid = _group_id(group, groups) if group else entry.gid
    extra = tuple(sorted({g.gid for g in groups if entry.name and entry.name in g.members and g.gid != gid}))
    if group:
        extra = ()  # an explicit group replaces the supplementary ones, as runc's user lookup does
    return ResolvedUser(entry.uid, gid, extra, entry.home or "/", entry.name)


def resolve_chown(spec: str, passwd_text: str | None, group_text: str | None) -> tuple[int, int]:
    """``--chown`` value -> (uid, gid); without a group the gid is the uid (BuildKit)."""
    user, sep, group = spec.partition(":")
    if user == "" or (sep and group == ""):
        raise InvalidArgument(f"invalid --chown value {spec!r}", hint="use user, user:group, uid or uid:gid",
                              value=spec)
    number = _int(user)
    if number is not None:
        uid = number
    else:
        entry = _find_user(user, parse_passwd(passwd_text))
        if entry is None:
            raise InvalidArgument(f"unable to find user {user}: no matching entries in passwd file", user=user)
        uid = entry.uid
    gid = _group_id(group, parse_group(group_text)) if group else uid
    return uid, gid


def read_text(root: Path | str, path: str) -> str | None:
    """The text of ``path`` inside the root filesystem ``root``; None if it is not a readable file."""
    try:
        real = secure_join(str(root), path)
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with open(fd, "rb") as f:
        return f.read(1 << 22).decode("utf-8", "replace")


def user_in_root(spec: str, root: Path | str) -> ResolvedUser:
    return resolve_user(spec, read_text(root, "/etc/passwd"), read_text(root, "/etc/group"))


def chown_in_root(spec: str, root: Path | str) -> tuple[int, int]:
    return resolve_chown(spec, read_text(root, "/etc/passwd"), read_text(root, "/etc/group"))
