"""Splitting one instruction line into flags and argument words.

These are the per-instruction "line parsers" of Docker's Dockerfile parser:
they run before any variable expansion and keep quotes in the words (the
expansion step removes them later).  Each raises ``ValueError`` with Docker's
message; the parser adds the file and line.
"""

from __future__ import annotations

import json
import re

from vessel.build.expand import is_space

WHITESPACE = re.compile(r"[\t\v\f\r ]+")
NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


def go_trim_space(text: str) -> str:
    """Go's strings.TrimSpace (unicode.IsSpace on both ends)."""
    start, end = 0, len(text)
    while start < end and is_space(text[start]):
        start += 1
    while end > start and is_space(text[end - 1]):
        end -= 1
    return text[start:end]


def go_trim_left_space(text: str) -> str:
    start = 0
    while start < len(text) and is_space(text[start]):
        start += 1
    return text[start:]


def split_command(line: str) -> tuple[str, list[str], str]:
    """``RUN --mount=x echo hi`` -> ("RUN", ["--mount=x"], "echo hi")."""
    parts = WHITESPACE.split(go_trim_space(line), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = extract_flags(parts[1])
    return parts[0], flags, go_trim_space(rest)


def extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--flag[=value]`` words (quotes and ``\\`` honoured); ``--`` ends them."""
    words: list[str] = []
    pos, n = 0, len(line)
    while True:
        while pos < n and is_space(line[pos]):
            pos += 1
        if pos == n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        word, pos, blank_ok = _flag_word(line, pos)
        if word == "--":
            return line[pos:], words
        if blank_ok or word:
            words.append(word)


def _flag_word(line: str, pos: int) -> tuple[str, int, bool]:
    out: list[str] = []
    quote = ""
    blank_ok = False
    n = len(line)
    while pos < n:
        ch = line[pos]
        if quote:
            if ch == quote:
                quote = ""
                pos += 1
                continue
        elif is_space(ch):
            break
        elif ch in "'\"":
            quote = ch
            blank_ok = True
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        out.append(ch)
        pos += 1
    return "".join(out), pos, blank_ok


def parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept (ARG, ENV, LABEL)."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote = ""
    blank_ok = False
    pos, n = 0, len(rest)
    while pos < n:
        ch = rest[pos]
        if not in_word and not quote:
            if is_space(ch):
                pos += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if pos + 1 == n:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if is_space(ch):
            if blank_ok or word:
                words.append("".join(word))
            word, blank_ok, in_word = [], False, False
            pos += 1
            continue
        if ch in "'\"":
            quote = ch
            blank_ok = True
        elif ch == escape:
            if pos + 1 == n:
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    if (in_word or quote) and (blank_ok or word):
        words.append("".join(word))
    return words


def parse_json_array(rest: str) -> list[str] | None:
    """The JSON exec form, or None when ``rest`` is not valid JSON (shell form).

    Like Go's json.Decoder, only the first JSON value is read; text after the
    closing bracket is ignored.  A valid array holding a non-string is an error.
    """
    rest = go_trim_left_space(rest)
    if not rest.startswith("["):
        return None
    try:
        value, _ = json.JSONDecoder(strict=True).raw_decode(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise ValueError(NOT_STRING_ARRAY)
    return value


def parse_name_val(rest: str, keyword: str, escape: str) -> tuple[list[str], bool]:
    """ENV/LABEL pairs as a flat [k1, v1, k2, v2...] list, and whether the legacy form was used."""
    words = parse_words(rest, escape)
    if not words:
        return [], False
    if "=" not in words[0]:
        parts = WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise ValueError(f"{keyword} must have two arguments")
        return [parts[0], parts[1]], True
    flat: list[str] = []
    for word in words:
        if "=" not in word:
            raise ValueError(f"Syntax error - can't find = in {json.dumps(word)}. Must be of the form: name=value")
        key, value = word.split("=", 1)
        flat += [key, value]
    return flat, False
