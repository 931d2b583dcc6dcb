"""Dockerfile text -> a list of instruction nodes, as Docker's frontend reads it.

What happens here (nothing is expanded yet):

* parser directives (``# syntax=``, ``# escape=``, ``# check=``) are read from
  the top of the file until the first line that is not one;
* comments are dropped, line continuations (the escape character at the end
  of a line) joined, with comment and blank lines inside a continued
  instruction skipped (blank ones give a warning, as Docker's);
* each logical line is split into keyword (case-insensitive), ``--flags`` and
  arguments, with the JSON (exec) form recognised and invalid JSON falling
  back to the shell form;
* heredocs (``<<EOF``, ``<<-EOF``, ``<<"EOF"``) of RUN, COPY and ADD (and of
  ONBUILD RUN/COPY/ADD) collect the following lines as their content.

Errors are :class:`~vessel.build.errors.DockerfileError` naming the file and
the line where the instruction starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from vessel.build import words as w
from vessel.build.errors import DockerfileError, ExpansionError, suggest
from vessel.build.expand import Lexer

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
                "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir")
DIRECTIVES = ("syntax", "escape", "check")
_DIRECTIVE = re.compile(r"^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)\Z", re.DOTALL)
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_HEREDOC_KEYWORDS = ("run", "copy", "add")


@dataclass(frozen=True, slots=True)
class Heredoc:
    """One here-document: its delimiter word, its body and how to treat it."""

    name: str
    content: str = ""
    expand: bool = True  # False when any part of the delimiter was quoted
    chomp: bool = False  # <<- : leading tabs are stripped from the body
    fd: int = 0  # 2<<EOF

    def body(self) -> str:
        """The content with leading tabs removed for ``<<-``."""
        return chomp_heredoc(self.content) if self.chomp else self.content


@dataclass(frozen=True, slots=True)
class Node:
    """One instruction as written.

    ``args`` depend on the instruction: the JSON array items (``json`` True),
    the shell-form text as one string (RUN, CMD, ENTRYPOINT, SHELL), words
    (FROM, EXPOSE, COPY/ADD/VOLUME shell form, ARG), flat key/value pairs
    (ENV, LABEL; ``legacy_kv`` for ``ENV key value``) or the whole text
    (USER, WORKDIR, STOPSIGNAL, MAINTAINER).  HEALTHCHECK has its type first.
    ONBUILD keeps its trigger instruction in ``sub``.
    """

    keyword: str
    args: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    json: bool = False
    legacy_kv: bool = False
    original: str = ""
    start_line: int = 0
    end_line: int = 0
    heredocs: tuple[Heredoc, ...] = ()
    sub: "Node | None" = None
    comments: tuple[str, ...] = ()

    @property
    def cmd(self) -> str:
        """The lower-case instruction name (``run``)."""
        return self.keyword.lower()

    def can_contain_heredoc(self) -> bool:
        node: Node = self.sub if self.cmd == "onbuild" and self.sub is not None else self
        return node.cmd in _HEREDOC_KEYWORDS and not node.json


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile: directives, nodes and parse warnings."""

    path: str
    nodes: tuple[Node, ...]
    escape: str = "\\"
    directives: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = field(default="", repr=False, compare=False)

    @property
    def syntax(self) -> str | None:
        return dict(self.directives).get("syntax")


def chomp_heredoc(content: str) -> str:
    return _LEADING_TABS.sub("", content)


def parse_file(path: Path | str, display: str | None = None) -> Dockerfile:
    """Read and parse a Dockerfile; ``display`` names it in errors (default: the path)."""
    path = Path(path)
    name = display or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DockerfileError(name, 0, "no such file", hint="pass the Dockerfile with -f PATH") from None
    except OSError as err:
        raise DockerfileError(name, 0, f"cannot read: {err.strerror}") from None
    return parse(data.decode("utf-8", errors="surrogateescape"), name)


def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text; ``path`` is only used in messages."""
    if text == "":
        raise DockerfileError(path, 0, "the Dockerfile cannot be empty")
    return _Parser(text, path).run()


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.done = False
        self.seen: dict[str, str] = {}
        self.continuation = self._continuation_regex("\\")

    @staticmethod
    def _continuation_regex(esc: str) -> re.Pattern[str]:
        e = re.escape(esc)
        return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def check(self, line: str) -> None:
        """Look for a directive in ``line``; raises ValueError on a bad one."""
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        if not match:
            self.done = True
            return
        key = match.group(1).lower()
        if key not in DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise ValueError(f"only one {key} parser directive can be used")
        value = match.group(2)
        self.seen[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise ValueError(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self.continuation = self._continuation_regex(value)

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """(line without its continuation escape, whether the instruction ends here)."""
        match = self.continuation.search(line)
        if match is None:
            return line, True
        return line[:match.start()] + (match.group(1) or ""), False


def _split_lines(text: str) -> list[str]:
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    if lines[-1] == "":
        lines.pop()
    return lines


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return w.go_trim_left_space(_trim_newline(line)).startswith("#")


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = _split_lines(text[1:] if text.startswith("\ufeff") else text)
        self.pos = 0
        self.line_no = 0
        self.d = _Directives()
        self.warnings: list[str] = []

    def fail(self, line: int, reason: str, hint: str | None = None) -> DockerfileError:
        return DockerfileError(self.path, line, reason, hint=hint)

    def next_line(self) -> str | None:
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        self.pos += 1
        self.line_no += 1
        return line

    def process(self, raw: str, strip_left: bool) -> str:
        token = _trim_newline(raw)
        if strip_left:
            token = w.go_trim_left_space(token)
        try:
            self.d.check(token)
        except ValueError as err:
            raise self.fail(self.line_no, str(err)) from None
        return "" if token.startswith("#") else token

    def run(self) -> Dockerfile:
        nodes: list[Node] = []
        comments: list[str] = []
        while (raw := self.next_line()) is not None:
            if _is_comment(raw):
                comments.append(w.go_trim_space(w.go_trim_left_space(raw)[1:]))
            token = self.process(raw, strip_left=True)
            start = self.line_no
            line, done = self.d.trim_continuation(token)
            if done and line == "":
                continue
            line = self.continue_line(line, done)
            node = self.make_node(line, start)
            if node.can_contain_heredoc() and "<<" in line:
                node = self.read_heredocs(node, line, start)
            nodes.append(_with_lines(node, start, self.line_no, tuple(comments)))
            comments = []
        if not nodes:
            raise self.fail(self.line_no, "file with no instructions")
        return Dockerfile(self.path, tuple(nodes), self.d.escape, tuple(self.d.seen.items()),
                          tuple(self.warnings), source="".join(self.lines))

    def continue_line(self, line: str, done: bool) -> str:
        empty_continuation = False
        while not done:
            raw = self.next_line()
            if raw is None:
                break
            token = self.process(raw, strip_left=False)
            if _is_comment(raw):
                continue
            if w.go_trim_left_space(token) == "":
                empty_continuation = True
                continue
            more, done = self.d.trim_continuation(token)
            line += more
        if empty_continuation:
            self.warnings.append(f"{self.path}:{self.line_no}: empty continuation line found in: {line}"
                                 " (empty continuation lines will become errors in a future release)")
        return line

    def make_node(self, line: str, start: int) -> Node:
        try:
            return make_node(line, self.d.escape)
        except ValueError as err:
            raise self.fail(start, str(err)) from None
        except DockerfileError as err:
            raise self.fail(start, err.reason, err.hint) from None

    def read_heredocs(self, node: Node, line: str, start: int) -> Node:
        try:
            docs = heredocs_from_line(line)
        except ExpansionError as err:
            raise self.fail(start, err.message) from None
        filled: list[Heredoc] = []
        for doc in docs:
            body: list[str] = []
            while True:
                raw = self.next_line()
                if raw is None:
                    raise self.fail(start, "unterminated heredoc",
                                    hint=f"end the here-document with a line holding only {doc.name}")
                candidate = _trim_newline(raw)
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    break
                body.append(raw)
            filled.append(Heredoc(doc.name, "".join(body), doc.expand, doc.chomp, doc.fd))
        return _replace(node, heredocs=tuple(filled))


def _replace(node: Node, **changes: object) -> Node:
    from dataclasses import replace
    return replace(node, **changes)


def _with_lines(node: Node, start: int, end: int, comments: tuple[str, ...]) -> Node:
    return _replace(node, start_line=start, end_line=end, comments=comments)


def make_node(line: str, escape: str = "\\") -> Node:
    """One logical line (continuations joined) -> a Node; ValueError on bad syntax."""
    keyword, flags, rest = w.split_command(line)
    cmd = keyword.lower()
    if cmd not in INSTRUCTIONS:
        close = suggest(cmd, INSTRUCTIONS)
        raise DockerfileError("", 0, f"unknown instruction: {keyword}",
                              hint=f"did you mean {close.upper()}?" if close else None)
    args, is_json, legacy, sub = _LINE_PARSERS[cmd](rest, escape)
    return Node(keyword, tuple(args), tuple(flags), is_json, legacy, line, sub=sub)


_Parsed = tuple[list[str], bool, bool, "Node | None"]


def _maybe_json(rest: str, _escape: str) -> _Parsed:
    if rest == "":
        return [], False, False, None
    items = w.parse_json_array(rest)
    if items is not None:
        return items, True, False, None
    return [rest], False, False, None


def _maybe_json_to_list(rest: str, _escape: str) -> _Parsed:
    items = w.parse_json_array(rest)
    if items is not None:
        return items, True, False, None
    return _whitespace_words(rest, _escape)


def _whitespace_words(rest: str, _escape: str) -> _Parsed:
    if rest == "":
        return [], False, False, None
    return [part for part in w.WHITESPACE.split(rest) if part != ""], False, False, None


def _string(rest: str, _escape: str) -> _Parsed:
    return ([rest] if rest else []), False, False, None


def _name_or_name_val(rest: str, escape: str) -> _Parsed:
    return w.parse_words(rest, escape), False, False, None


def _env(rest: str, escape: str) -> _Parsed:
    flat, legacy = w.parse_name_val(rest, "ENV", escape)
    return flat, False, legacy, None


def _label(rest: str, escape: str) -> _Parsed:
    flat, legacy = w.parse_name_val(rest, "LABEL", escape)
    return flat, False, legacy, None


def _health(rest: str, escape: str) -> _Parsed:
    sep = 0
    while sep < len(rest) and not rest[sep].isspace():
        sep += 1
    if sep == 0:
        return [], False, False, None
    nxt = sep
    while nxt < len(rest) and rest[nxt].isspace():
        nxt += 1
    cmd, is_json, _, _ = _maybe_json(rest[nxt:], escape)
    return [rest[:sep], *cmd], is_json, False, None


def _sub_command(rest: str, escape: str) -> _Parsed:
    if rest == "":
        return [], False, False, None
    child = make_node(rest, escape)
    return [child.keyword], False, False, child


_LINE_PARSERS = {
    "add": _maybe_json_to_list, "arg": _name_or_name_val, "cmd": _maybe_json, "copy": _maybe_json_to_list,
    "entrypoint": _maybe_json, "env": _env, "expose": _whitespace_words, "from": _whitespace_words,
    "healthcheck": _health, "label": _label, "maintainer": _string, "onbuild": _sub_command,
    "run": _maybe_json, "shell": _maybe_json, "stopsignal": _string, "user": _string,
    "volume": _maybe_json_to_list, "workdir": _string,
}


_EMPTY_ENV: dict[str, str] = {}


def parse_heredoc(word: str) -> Heredoc | None:
    """A ``<<EOF`` / ``<<-'EOF'`` / ``2<<EOF`` word as a Heredoc (no content), else None."""
    match = _HEREDOC.match(word)
    if not match or match.group(3) == "":
        return None
    fd = int(match.group(1) or "0")
    chomp = match.group(2) == "-"
    rest = match.group(3)
    plain = Lexer("\\", skip_unset_env=True).process_words(rest, _EMPTY_ENV)
    if len(plain) != 1:
        return None
    raw = Lexer("\\", skip_unset_env=True, raw_quotes=True).process_words(rest, _EMPTY_ENV)
    if len(raw) != 1:
        raise ExpansionError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    quotes = plain[0].count("'") + plain[0].count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(plain[0], expand=quotes == raw_quotes, chomp=chomp, fd=fd)


def heredocs_from_line(line: str) -> list[Heredoc]:
    """Every heredoc word of an instruction line, in order."""
    lex = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line, _EMPTY_ENV)
    except ExpansionError:
        return []
    docs = []
    for word in words:
        doc = parse_heredoc(word)
        if doc is not None:
            docs.append(doc)
    return docs
