"""Word expansion: Docker's shell-lexer rules, as tables and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vessel.build.errors import ExpansionError
from vessel.build.expand import Lexer

pytestmark = pytest.mark.unit

ENV = {"FOO": "foo", "BAR": "bar baz", "EMPTY": "", "PATH": "/usr/bin", "NUM": "1", "FILE": "archive.tar.gz",
       "URL": "https://example.com/a/b/c"}

# (word, process_word result, process_words result)
CASES = [
    # plain words and variables (Dockerfile reference "Environment replacement")
    ("hello", "hello", ["hello"]),
    ("$FOO", "foo", ["foo"]),
    ("${FOO}", "foo", ["foo"]),
    ("${FOO}_bar", "foo_bar", ["foo_bar"]),
    ("$FOO_bar", "", []),  # the name is FOO_bar, unset
    ("a$FOO", "afoo", ["afoo"]),
    ("$UNSET", "", []),
    ("x${UNSET}y", "xy", ["xy"]),
    ("$", "$", ["$"]),
    ("$ x", "$ x", ["$", "x"]),
    ("$1", "", []),
    ("${FOO}${FOO}", "foofoo", ["foofoo"]),
    # modifiers
    ("${FOO:-word}", "foo", ["foo"]),
    ("${UNSET:-word}", "word", ["word"]),
    ("${EMPTY:-word}", "word", ["word"]),
    ("${EMPTY-word}", "", []),
    ("${UNSET-word}", "word", ["word"]),
    ("${FOO:+word}", "word", ["word"]),
    ("${EMPTY:+word}", "", []),
    ("${EMPTY+word}", "word", ["word"]),
    ("${UNSET+word}", "", []),
    ("${UNSET:-$FOO}", "foo", ["foo"]),
    ("${UNSET:-${EMPTY:-deep}}", "deep", ["deep"]),
    ('${UNSET:-"a b"}', "a b", ["a", "b"]),  # Docker splits what a ${} produces, quoted or not
    ("${FOO:?must be set}", "foo", ["foo"]),
    ("${EMPTY?ok when empty}", "", []),
    # pattern modifiers
    ("${FILE#*.}", "tar.gz", ["tar.gz"]),
    ("${FILE##*.}", "gz", ["gz"]),
    ("${FILE%.*}", "archive.tar", ["archive.tar"]),
    ("${FILE%%.*}", "archive", ["archive"]),
    ("${URL#https://}", "example.com/a/b/c", ["example.com/a/b/c"]),
    ("${FILE/a/A}", "Archive.tar.gz", ["Archive.tar.gz"]),
    ("${FILE//a/A}", "Archive.tAr.gz", ["Archive.tAr.gz"]),
    ("${FILE#nomatch}", "archive.tar.gz", ["archive.tar.gz"]),
    # quotes
    ("'$FOO'", "$FOO", ["$FOO"]),
    ('"$FOO"', "foo", ["foo"]),
    ('"$BAR"', "bar baz", ["bar baz"]),
    ("$BAR", "bar baz", ["bar", "baz"]),
    ('"a b" c', "a b c", ["a b", "c"]),
    ("'a  b'", "a  b", ["a  b"]),
    ('"it\'s"', "it's", ["it's"]),
    ("'say \"hi\"'", 'say "hi"', ['say "hi"']),
    ('"\\"q\\""', '"q"', ['"q"']),
    ('"\\$FOO"', "$FOO", ["$FOO"]),
    ('"a\\b"', "a\\b", ["a\\b"]),  # other escapes stay inside double quotes
    ('"a\\\\b"', "a\\b", ["a\\b"]),
    ('""', "", []),
    ("a''b", "ab", ["ab"]),
    # escapes outside quotes
    ("\\$FOO", "$FOO", ["$FOO"]),
    ("\\${FOO}", "${FOO}", ["${FOO}"]),
    ("a\\ b", "a b", ["a b"]),
    ("\\'", "'", ["'"]),
    ("\\\\", "\\", ["\\"]),
    ("abc\\", "abc", ["abc"]),
    ("  lead  trail  ", "  lead  trail  ", ["lead", "trail"]),
]


@pytest.mark.parametrize(("word", "single", "split"), CASES)
def test_expansion_table(word: str, single: str, split: list[str]) -> None:
    lex = Lexer()
    assert lex.process_word(word, ENV) == single
    assert lex.process_words(word, ENV) == split


BACKTICK_CASES = [
    ("c:\\windows", "c:\\windows"),  # backslash is an ordinary character with # escape=`
    ("`$FOO", "$FOO"),
    ("a` b", "a b"),
    ('"`"x"', '"x'),
    ("$FOO\\", "foo\\"),
]


@pytest.mark.parametrize(("word", "single"), BACKTICK_CASES)
def test_backtick_escape(word: str, single: str) -> None:
    assert Lexer("`").process_word(word, ENV) == single


ERRORS = [
    ("${UNSET:?must be set}", "UNSET: must be set"),
    ("${UNSET:?}", "UNSET: is not allowed to be unset"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("${UNSET?}", "UNSET: is not allowed to be unset"),
    ("'open", "unexpected end of statement while looking for matching single-quote"),
    ('"open', "unexpected end of statement while looking for matching double-quote"),
    ("${FOO", "syntax error: missing '}'"),
    ("${FOO:-x", "syntax error: missing '}'"),
    ("${}", "syntax error: bad substitution"),
    ("${:x}", "syntax error: bad substitution"),
    ("${FOO:0:2}", "unsupported modifier (:0) in substitution"),
    ("${FOO:#x}", "unsupported modifier (:#) in substitution"),
    ("${FOO x}", "unsupported modifier ( ) in substitution"),
]


@pytest.mark.parametrize(("word", "reason"), ERRORS)
def test_expansion_errors(word: str, reason: str) -> None:
    with pytest.raises(ExpansionError) as err:
        Lexer().process_word(word, ENV)
    assert reason in err.value.message
    assert err.value.message.startswith("failed to process")


def test_raw_modes_keep_quotes_and_escapes() -> None:
    raw = Lexer(raw_quotes=True, raw_escapes=True)
    assert raw.process_word("'a b' \"c\" \\d", {}) == "'a b' \"c\" \\d"
    skip = Lexer(skip_process_quotes=True)
    assert skip.process_word("'$FOO' \"$FOO\"", ENV) == "'foo' \"foo\""
    unset = Lexer(skip_unset_env=True)
    assert unset.process_word("$FOO $NOPE ${NOPE} ${NOPE:-x}", ENV) == "foo $NOPE ${NOPE} ${NOPE:-x}"


# ----- properties -----

_PLAIN = st.text(alphabet=st.characters(blacklist_characters="$'\"\\`", blacklist_categories=("Cs",)), max_size=40)
_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@given(_PLAIN)
def test_text_without_special_characters_is_unchanged(text: str) -> None:
    assert Lexer().process_word(text, ENV) == text


@given(st.text(alphabet=st.characters(blacklist_characters="'", blacklist_categories=("Cs",)), max_size=40))
def test_single_quotes_keep_everything(text: str) -> None:
    assert Lexer().process_word(f"'{text}'", ENV) == text


@given(_NAMES, _PLAIN)
def test_variable_substitutes_its_value(name: str, value: str) -> None:
    env = {name: value}
    lex = Lexer()
    assert lex.process_word("${" + name + "}", env) == value
    assert lex.process_word('"$' + name + '"', env) == value
    assert lex.process_word("${" + name + ":-default}", env) == (value or "default")
    assert lex.process_word("${" + name + "+set}", env) == "set"


@given(_NAMES, _PLAIN)
def test_escaped_dollar_is_literal(name: str, value: str) -> None:
    assert Lexer().process_word("\\$" + name, {name: value}) == "$" + name


@given(st.lists(st.from_regex(r"[a-z0-9./_-]{1,8}", fullmatch=True), min_size=1, max_size=6))
def test_words_split_on_whitespace_and_quotes_group(parts: list[str]) -> None:
    lex = Lexer()
    assert lex.process_words(" ".join(parts), {}) == parts
    assert lex.process_words('"' + " ".join(parts) + '"', {}) == [" ".join(parts)]


@given(st.text(max_size=30))
def test_lexer_never_crashes(text: str) -> None:
    lex = Lexer()
    try:
        lex.process_words(text, ENV)
    except ExpansionError:
        pass
