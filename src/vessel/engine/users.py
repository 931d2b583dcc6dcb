"""`-u user[:group]` -> uid, gid, supplementary gids and home, from the image's /etc/passwd and /etc/group (pure).

Follows runc's `user.GetExecUser` as docker uses it:

* no spec: root (uid 0, gid 0), with root's passwd entry if there is one;
* the user part is a name or a number; a number is always a uid (matched
  against passwd when an entry has it, else used as it is, gid 0, home "/");
  an unknown name is an error;
* the group part (after ":") is a name or a number, looked up in /etc/group;
  a number not found there is used as it is; it replaces the primary gid;
* without an explicit group, a user found in passwd gets as supplementary
  groups every /etc/group entry that lists the user's name;
* the OCI `additionalGids` are the primary gid followed by those groups
  (what dockerd's getUser builds), without repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

from vessel.errors import InvalidArgument

MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _int(text: str) -> int:
    """runc's parseLine: a malformed number reads as 0."""
    try:
        return int(text)
    except ValueError:
        return 0


def _fields(text: str | None, count: int) -> list[list[str]]:
    rows = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        rows.append(parts + [""] * (count - len(parts)))
    return rows


def parse_passwd(text: str | None) -> list[PasswdEntry]:
    """name:password:uid:gid:gecos:home:shell lines."""
    return [PasswdEntry(p[0], _int(p[2]), _int(p[3]), p[5]) for p in _fields(text, 7)]


def parse_group(text: str | None) -> list[GroupEntry]:
    """name:password:gid:member,member lines."""
    return [GroupEntry(p[0], _int(p[2]), tuple(m for m in p[3].split(",") if m)) for p in _fields(text, 4)]


def _numeric(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _in_range(value: int, spec: str) -> int:
    if not 0 <= value <= MAX_ID:
        raise InvalidArgument(f"uids and gids must be in range 0-{MAX_ID}", value=spec,
                              hint=f"user {spec!r} gives an id outside 0..{MAX_ID}")
    return value


def _find_user(user_arg: str, passwd_text: str | None) -> PasswdEntry | None:
    uid = _numeric(user_arg)
    for entry in parse_passwd(passwd_text):
        if (entry.uid == 0 if user_arg == "" else entry.uid == uid if uid is not None else entry.name == user_arg):
            return entry
    return None


def _primary_group(group_arg: str, group_text: str | None, spec: str) -> int:
    gid = _numeric(group_arg)
    for entry in parse_group(group_text):
        if (entry.gid == gid) if gid is not None else (entry.name == group_arg):
            return entry.gid
    if gid is None:
        raise InvalidArgument(f"unable to find group {group_arg}: no matching entries in group file", value=spec,
                              hint="use a group of the image's /etc/group, or a numeric gid")
    return _in_range(gid, spec)


def resolve_user(spec: str | None, passwd_text: str | None,
                 group_text: str | None) -> tuple[int, int, list[int], str]:
    """(uid, gid, additional_gids, home) of `spec` ("", "name", "1000", "name:group", "1000:1000")."""
    spec = spec or ""
    user_arg, _, group_arg = spec.partition(":")
    uid, gid, home = 0, 0, "/"
    entry = _find_user(user_arg, passwd_text)
    if entry is not None:
        uid, gid, home = entry.uid, entry.gid, entry.home or "/"
    elif user_arg:
        number = _numeric(user_arg)
        if number is None:
            raise InvalidArgument(f"unable to find user {user_arg}: no matching entries in passwd file", value=spec,
                                  hint="use a user of the image's /etc/passwd, or a numeric uid")
        uid = _in_range(number, spec)
    supplementary: list[int] = []
    if group_arg:
        gid = _primary_group(group_arg, group_text, spec)
    elif entry is not None:
        supplementary = [g.gid for g in parse_group(group_text) if entry.name in g.members]
    additional = []
    for g in (gid, *supplementary):
        if g not in additional:
            additional.append(g)
    return uid, gid, additional, home
