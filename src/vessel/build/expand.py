"""Word expansion exactly as Docker's Dockerfile shell lexer does it.

The lexer reads one word (an instruction argument) and returns it with
``$VAR``/``${VAR...}`` substituted and quotes removed -- ``process_word`` --
or additionally split on unquoted whitespace -- ``process_words``.  It is
not a shell: there is no command substitution, globbing or arithmetic.

Supported forms: ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR-word}``,
``${VAR:+word}``, ``${VAR+word}``, ``${VAR:?msg}``, ``${VAR?msg}``,
``${VAR#pat}``, ``${VAR##pat}``, ``${VAR%pat}``, ``${VAR%%pat}``,
``${VAR/pat/repl}`` and ``${VAR//pat/repl}``.  Single quotes keep everything
literal; double quotes keep everything but ``$`` and the escape character,
which escapes only ``"``, ``$`` and itself there.  Outside quotes the escape
character (``\\`` or the ``# escape=`` backtick) makes the next character
literal.  Unset variables expand to the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vessel.build.errors import ExpansionError

_EOF = ""  # the scanner's end marker: every real character is a 1-char str


def is_space(ch: str) -> bool:
    """Go's unicode.IsSpace."""
    if ord(ch) < 256:
        return ch in "\t\n\v\f\r \x85\xa0"
    return ch.isspace()


class _Scanner:
    __slots__ = ("text", "pos")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch


class _Words:
    """Accumulates whitespace-split words the way Docker's lexer does."""

    __slots__ = ("buf", "words", "in_word")

    def __init__(self) -> None:
        self.buf = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.buf:
                self.words.append(self.buf)
                self.buf = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf += ch
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.buf += text
        self.in_word = True

    def get(self) -> list[str]:
        if self.buf:
            self.words.append(self.buf)
            self.buf = ""
            self.in_word = False
        return self.words


class Lexer:
    """Docker's shell-word lexer; one instance per escape token and mode.

    ``raw_quotes`` keeps quote characters in the output, ``raw_escapes`` keeps
    escape characters, ``skip_process_quotes`` treats quotes as ordinary
    characters (used for heredoc bodies) and ``skip_unset_env`` leaves
    references to unset variables as written.
    """

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_process_quotes: bool = False, skip_unset_env: bool = False) -> None:
        if escape not in ("\\", "`"):
            raise ValueError(f"escape token must be \\ or `, not {escape!r}")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand ``word`` as one word: quotes removed, whitespace kept."""
        return _Run(self, word, env).process()[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand ``word`` and split it on unquoted (and expanded) whitespace."""
        return _Run(self, word, env).process()[1]


class _Run:
    """One expansion of one word (the Go ``shellWord``)."""

    def __init__(self, lex: Lexer, word: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.source = word
        self.env = env
        self.scan = _Scanner(word)

    def process(self) -> tuple[str, list[str]]:
        try:
            return self.stop_on(_EOF, self.lex.raw_escapes)
        except ExpansionError as err:
            raise ExpansionError(f"failed to process {_go_quote(self.source)}: {err.message}",
                                 hint=err.hint, word=self.source) from None

    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        scan = self.scan
        while scan.peek() != _EOF:
            ch = scan.peek()
            if stop != _EOF and ch == stop:
                scan.next()
                return "".join(result), words.get()
            if ch == "$":
                tmp = self.dollar()
                result.append(tmp)
                words.add_string(tmp)
            elif ch in "'\"" and not self.lex.skip_process_quotes:
                tmp = self.single_quote() if ch == "'" else self.double_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            else:
                ch = scan.next()
                if ch == self.lex.escape:
                    if raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = scan.next()
                    if ch == _EOF:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop != _EOF:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def single_quote(self) -> str:
        out: list[str] = []
        opening = self.scan.next()
        if self.lex.raw_quotes:
            out.append(opening)
        while True:
            ch = self.scan.next()
            if ch == _EOF:
                raise ExpansionError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        opening = self.scan.next()
        if self.lex.raw_quotes:
            out.append(opening)
        escape = self.lex.escape
        while True:
            ch = self.scan.peek()
            if ch == _EOF:
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.scan.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.scan.next()
            if ch == escape:
                if self.lex.raw_escapes:
                    out.append(ch)
                nxt = self.scan.peek()
                if nxt == _EOF:
                    continue  # a lone escape at the end of the word is dropped
                if nxt in ('"', "$", escape):
                    ch = self.scan.next()
            out.append(ch)

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self) -> str:
        scan = self.scan
        scan.next()  # the $
        if scan.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value
        scan.next()  # the {
        if scan.peek() == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        if scan.peek() in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        ch = scan.next()
        if ch == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self.substitute(name)
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = scan.next()
            if ch == _EOF:
                raise ExpansionError("syntax error: missing '}'")
            modifier = ":" + ch
        if ch not in ("+", "-", "?", "#", "%"):
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        return self.modify(name, ch, modifier, null_is_unset)

    def modify(self, name: str, op: str, modifier: str, null_is_unset: bool) -> str:
        pattern_op = op in "#%"
        if null_is_unset and pattern_op:
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        word = self.inner_word("}", pattern_op, "syntax error: missing '}'")
        value, found = self.lookup(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + modifier + word + "}"
        empty = not found or (null_is_unset and value == "")
        if op == "-":
            return word if empty else value
        if op == "+":
            return "" if empty else word
        if op == "?":
            if not found:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word[:1] == op
        if greedy:
            word = word[1:]
        if op == "%":
            return _trim_suffix(word, value, greedy)
        return _trim_prefix(word, value, greedy)

    def substitute(self, name: str) -> str:
        replace_all = self.scan.peek() == "/"
        if replace_all:
            self.scan.next()
        pattern = self.inner_word("/", True, "syntax error: missing '/' in ${}")
        replacement = self.inner_word("}", True, "syntax error: missing '}'")
        value, found = self.lookup(name)
        if self.lex.skip_unset_env and not found:
            return "${%s/%s/%s}" % (name, pattern, replacement)
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        return regex.sub(lambda _m: replacement, value, count=1)

    def inner_word(self, stop: str, raw_escapes: bool, missing: str) -> str:
        try:
            word, _ = self.stop_on(stop, raw_escapes)
        except ExpansionError:
            if self.scan.peek() == _EOF:
                raise ExpansionError(missing) from None
            raise
        return word

    def name(self) -> str:
        scan = self.scan
        out: list[str] = []
        while scan.peek() != _EOF:
            ch = scan.peek()
            if not out and ch.isdecimal():
                while scan.peek() != _EOF and scan.peek().isdecimal():
                    out.append(scan.next())
                return "".join(out)
            if not out and ch in "@*#?-$!0":
                return scan.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(scan.next())
        return "".join(out)


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell pattern (``*``, ``?``, ``\\`` escapes) as a regular expression."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < len(pattern) and pattern[i] == "}":
                continue
            nxt = pattern[i] if i < len(pattern) else ""
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise ExpansionError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end():] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping escapes in front of what they escape."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _go_quote(text: str) -> str:
    """Go's %q of a string (close enough for messages)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
