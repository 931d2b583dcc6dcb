"""Detach keys: the key sequence that leaves an attached TTY session without stopping the container.

Docker's format and default: ``ctrl-p,ctrl-q``; each comma-separated item is one character
(``a``) or ``ctrl-X`` with X in ``a-z @ [ \\ ] ^ _``.  As in dockerd, the sequence is only
watched for on a TTY session's stdin; its bytes never reach the container, and a partial match
is held back until the next byte shows whether it was the sequence or ordinary input.
"""

from __future__ import annotations

from vessel.errors import InvalidArgument

DEFAULT = "ctrl-p,ctrl-q"
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse(spec: str | None) -> bytes:
    """The byte sequence of a detach-keys spec (empty or None: docker's default)."""
    text = spec if spec else DEFAULT
    out = bytearray()
    for item in text.split(","):
        key = item.strip().lower()
        if len(key) == 1 and key.isascii():
            out.append(ord(key))
        elif key.startswith("ctrl-") and len(key) == 6 and ("a" <= key[5] <= "z" or key[5] in _CTRL_SPECIAL):
            c = key[5]
            out.append(ord(c) - ord("a") + 1 if "a" <= c <= "z" else _CTRL_SPECIAL[c])
        else:
            raise InvalidArgument(f"Invalid detach keys ({text}) provided", detach_keys=text,
                                  hint="use comma-separated keys: a letter, or ctrl-<a-z, @, [, \\, ], ^, _>, "
                                       "e.g. ctrl-p,ctrl-q")
    return bytes(out)


class Detector:
    """Feed stdin chunks; get back what may go to the container, and whether the sequence was typed."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""         # a prefix of keys seen at the end of the last chunk

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        out = bytearray()
        buf = self.held + data
        self.held = b""
        i = 0
        while i < len(buf):
            if buf[i] != self.keys[0]:
                out.append(buf[i])
                i += 1
                continue
            rest = buf[i:i + len(self.keys)]
            if rest == self.keys:
                return bytes(out), True
            if self.keys.startswith(rest):          # the chunk ends inside a possible sequence: hold it
                self.held = bytes(rest)
                return bytes(out), False
            out.append(buf[i])                      # not the sequence after all: ordinary input
            i += 1
        return bytes(out), False
