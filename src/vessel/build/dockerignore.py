"""``.dockerignore``: which files of the build context COPY and ADD can see.

Patterns are read as Docker reads them (a line starting with ``#`` is a
comment, blank lines are skipped, surrounding whitespace trimmed, a leading
``!`` makes an exception, each pattern is cleaned like Go's
``filepath.Clean`` and a leading ``/`` dropped) and matched as Docker's
patternmatcher does: Go ``filepath.Match`` syntax (``*``, ``?``, ``[...]``,
``\\`` escapes) plus ``**`` for any number of directories.  A path is
excluded when it or one of its parent directories matches the last pattern
that applies; later ``!`` patterns re-include.

``<Dockerfile>.dockerignore`` next to the Dockerfile wins over the context's
``.dockerignore``.  The Dockerfile and ``.dockerignore`` themselves obey the
patterns like any file (COPY . does not copy them when they are excluded);
the builder still reads them whatever the patterns say.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from vessel.build.errors import DockerfileError


def go_clean(path: str) -> str:
    """Go's path.Clean."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(comp)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file, normalised as Docker's ReadAll does."""
    out: list[str] = []
    for n, line in enumerate(text.split("\n")):
        if n == 0:
            line = line.removeprefix("\ufeff")
        line = line.rstrip("\r")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if pattern == "":
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def load_ignore(context_dir: Path | str, dockerfile: Path | str | None = None) -> tuple[list[str], Path | None]:
    """Patterns for a build and the file they came from (None when there is none).

    ``<dockerfile>.dockerignore`` beside the Dockerfile takes precedence over
    ``<context_dir>/.dockerignore``; pass ``dockerfile=None`` for a Dockerfile
    read from stdin.
    """
    candidates = []
    if dockerfile is not None:
        df = Path(dockerfile)
        candidates.append(df.with_name(df.name + ".dockerignore"))
    candidates.append(Path(context_dir) / ".dockerignore")
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            continue
        except OSError as err:
            raise DockerfileError(str(path), 0, f"cannot read: {err.strerror}") from None
        return read_patterns(text), path
    return [], None


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled pattern: ``kind`` is exact, prefix, suffix or regexp (as Docker's)."""

    text: str
    exclusion: bool
    kind: str
    regex: re.Pattern[str] | None
    literal_prefix: str

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None


def _class(pattern: str, pos: int, original: str) -> tuple[str, int]:
    """A ``[...]`` class starting after ``[``: (regex class, position after ``]``)."""
    bad = ValueError(f"syntax error in pattern: {original}")
    negated = pos < len(pattern) and pattern[pos] == "^"
    if negated:
        pos += 1
    parts: list[str] = []
    count = 0
    while True:
        if pos < len(pattern) and pattern[pos] == "]" and count:
            if not parts:  # only reversed ranges: Go matches nothing (or anything, negated)
                return ("[\\s\\S]" if negated else "[^\\s\\S]"), pos + 1
            return "[" + ("^" if negated else "") + "".join(parts) + "]", pos + 1
        lo, pos = _class_char(pattern, pos, bad)
        hi = lo
        if pattern[pos] == "-":
            hi, pos = _class_char(pattern, pos + 1, bad)
        count += 1
        if lo <= hi:
            parts.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")


def _class_char(pattern: str, pos: int, bad: ValueError) -> tuple[str, int]:
    if pos >= len(pattern) or pattern[pos] in "-]":
        raise bad
    if pattern[pos] == "\\":
        pos += 1
        if pos >= len(pattern):
            raise bad
    ch = pattern[pos]
    pos += 1
    if pos >= len(pattern):
        raise bad
    return ch, pos


def compile_pattern(raw: str) -> Pattern:
    """One pattern (with its ``!``) compiled; ValueError when Go would call it malformed."""
    text = go_clean(raw.strip())
    exclusion = text.startswith("!")
    if exclusion:
        if text == "!":
            raise ValueError('illegal exclusion pattern: "!"')
        text = text[1:]
    regex, kind, pos, step = "^", "exact", 0, 0
    literal = None
    while pos < len(text):
        ch = text[pos]
        pos += 1
        if ch in "*?[\\" and literal is None:
            literal = text[:pos - 1]
        if ch == "*" and pos < len(text) and text[pos] == "*":
            pos += 1
            if pos < len(text) and text[pos] == "/":
                pos += 1
            if pos == len(text):
                regex, kind = (regex, "prefix") if kind == "exact" else (regex + ".*", "regexp")
            else:
                regex, kind = regex + "(?:.*/)?", "regexp"
            if step == 0:
                kind = "suffix"
        elif ch in "*?":
            regex, kind = regex + ("[^/]*" if ch == "*" else "[^/]"), "regexp"
        elif ch == "\\":
            if pos >= len(text):
                raise ValueError(f"syntax error in pattern: {raw}")
            regex, kind, pos = regex + re.escape(text[pos]), "regexp", pos + 1
        elif ch == "[":
            cls, pos = _class(text, pos, raw)
            regex, kind = regex + cls, "regexp"
        else:
            regex += re.escape(ch)
            kind = "regexp" if ch == "]" else kind
        step += 1
    compiled = re.compile(regex + r"\Z", re.DOTALL) if kind == "regexp" else None
    return Pattern(text, exclusion, kind, compiled, text if literal is None else literal)


class Matcher:
    """Compiled .dockerignore patterns; ``excluded(relpath)`` answers for one context path."""

    def __init__(self, patterns: list[str] | tuple[str, ...]) -> None:
        self.patterns = tuple(compile_pattern(p) for p in patterns if p.strip())
        self.has_exceptions = any(p.exclusion for p in self.patterns)

    def excluded(self, relpath: str, is_dir: bool = False) -> bool:
        """Whether ``relpath`` (slash-separated, relative to the context) is ignored."""
        del is_dir  # Docker's patterns do not tell directories from files
        path = go_clean(relpath)
        if path in (".", "/"):
            return False
        parents = path.split("/")[:-1]
        matched = False
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue
            hit = pat.match(path)
            if not hit:
                hit = any(pat.match("/".join(parents[:i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pat.exclusion
        return matched

    def can_skip_dir(self, relpath: str) -> bool:
        """True when ``relpath`` is excluded and no exception could re-include anything below it."""
        if not self.excluded(relpath, True):
            return False
        prefix = go_clean(relpath) + "/"
        for pat in self.patterns:
            if pat.exclusion and (prefix.startswith(pat.literal_prefix) or pat.literal_prefix.startswith(prefix)):
                return False
        return True


def matcher(patterns: list[str] | tuple[str, ...]) -> Matcher:
    """Compile patterns; raises InvalidArgument-style errors for malformed ones."""
    try:
        return Matcher(patterns)
    except ValueError as err:
        raise DockerfileError(".dockerignore", 0, str(err)) from None


def context_files(context_dir: Path | str, ignore: Matcher) -> list[str]:
    """Every entry of the context COPY/ADD can use: files, symlinks and directories.

    Paths are relative, slash-separated and sorted.  Excluded directories are
    not descended when no exception could re-include something inside; a
    re-included file brings its parent directories along.
    """
    root = Path(context_dir)
    out: set[str] = set()

    def walk(directory: Path, rel: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as err:
            raise DockerfileError(str(directory), 0, f"cannot read the build context: {err.strerror}") from None
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if not ignore.excluded(path, is_dir):
                out.add(path)
                _add_parents(out, path)
            if is_dir and not ignore.can_skip_dir(path):
                walk(Path(entry.path), path)

    walk(root, "")
    return sorted(out)


def _add_parents(out: set[str], path: str) -> None:
    parts = path.split("/")
    for i in range(1, len(parts)):
        out.add("/".join(parts[:i]))
