"""``--chmod`` values: octal (``0755``) or symbolic (``u=rwx,go=rx``, ``+x``) applied to a mode (pure)."""

from __future__ import annotations

import re
import stat

from vessel.errors import InvalidArgument

_CLAUSE = re.compile(r"([ugoa]*)([-+=])([rwxXst]*)\Z")
_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o1007}  # bits each class may touch (special bit included)


def apply_chmod(spec: str, mode: int, is_dir: bool) -> int:
    """The permission bits (``0o7777``) ``spec`` gives an entry whose current mode is ``mode``."""
    if spec == "":
        return stat.S_IMODE(mode)
    if re.fullmatch(r"[0-7]+", spec):
        value = int(spec, 8)
        if value > 0o7777:
            raise InvalidArgument(f"invalid chmod parameter: '{spec}'", value=spec)
        return value
    current = stat.S_IMODE(mode)
    for clause in spec.split(","):
        match = _CLAUSE.match(clause)
        if match is None:
            raise InvalidArgument(f"invalid chmod parameter: '{spec}'", value=spec,
                                  hint="use an octal mode (0755) or a symbolic one (u+x,go-w)")
        who, op, perms = match.groups()
        current = _apply_clause(current, who or "a", op, perms, is_dir)
    return current


def _apply_clause(current: int, who: str, op: str, perms: str, is_dir: bool) -> int:
    classes = "ugo" if "a" in who else who
    mask = 0
    for cls in classes:
        mask |= _WHO[cls]
    bits = 0
    for p in perms:
        if p == "r":
            bits |= 0o444
        elif p == "w":
            bits |= 0o222
        elif p == "x" or (p == "X" and (is_dir or current & 0o111)):
            bits |= 0o111
        elif p == "s":
            bits |= 0o6000
        elif p == "t":
            bits |= 0o1000
    bits &= mask
    if op == "+":
        return current | bits
    if op == "-":
        return current & ~bits
    return (current & ~mask) | bits
