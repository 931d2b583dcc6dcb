"""The Dockerfile parser: a table of Dockerfiles and what Docker's frontend reads in them."""

from __future__ import annotations

import pytest

from vessel.build.errors import DockerfileError
from vessel.build.parser import parse, parse_file

pytestmark = pytest.mark.unit


def _summary(text: str) -> list[tuple]:
    return [(n.cmd, n.args, n.flags, n.json, n.start_line, n.end_line) for n in parse(text).nodes]


# (name, Dockerfile, [(cmd, args, flags, json, start, end), ...])
TABLE = [
    ("keywords are case-insensitive", "from alpine\nRuN echo hi\n",
     [("from", ("alpine",), (), False, 1, 1), ("run", ("echo hi",), (), False, 2, 2)]),
    ("comments and blank lines are skipped", "# comment\n\nFROM alpine\n  # indented comment\nRUN true\n",
     [("from", ("alpine",), (), False, 3, 3), ("run", ("true",), (), False, 5, 5)]),
    ("continuation joins lines without newline", "FROM a\nRUN apt-get update && \\\n    apt-get install -y x\n",
     [("from", ("a",), (), False, 1, 1), ("run", ("apt-get update &&     apt-get install -y x",), (), False, 2, 3)]),
    ("comment lines inside a continuation are dropped",
     "FROM a\nRUN echo one \\\n# not part of it\n  # nor this\n    two\n",
     [("from", ("a",), (), False, 1, 1), ("run", ("echo one     two",), (), False, 2, 5)]),
    ("blank lines inside a continuation are dropped", "FROM a\nRUN echo \\\n\n   \n b\n",
     [("from", ("a",), (), False, 1, 1), ("run", ("echo  b",), (), False, 2, 5)]),
    ("trailing whitespace after the escape still continues", "FROM a\nRUN a \\  \n b\n",
     [("from", ("a",), (), False, 1, 1), ("run", ("a  b",), (), False, 2, 3)]),
    ("an escaped escape does not continue", "FROM a\nRUN echo a\\\\\nRUN b\n",
     [("from", ("a",), (), False, 1, 1), ("run", ("echo a\\\\",), (), False, 2, 2), ("run", ("b",), (), False, 3, 3)]),
    ("exec form", 'FROM a\nCMD ["echo", "hi there"]\n',
     [("from", ("a",), (), False, 1, 1), ("cmd", ("echo", "hi there"), (), True, 2, 2)]),
    ("single quotes are not JSON: shell form", "FROM a\nCMD ['echo', 'hi']\n",
     [("from", ("a",), (), False, 1, 1), ("cmd", ("['echo', 'hi']",), (), False, 2, 2)]),
    ("unescaped windows path is not JSON", 'FROM a\nRUN ["c:\\windows\\system32\\tasklist.exe"]\n',
     [("from", ("a",), (), False, 1, 1), ("run", ('["c:\\windows\\system32\\tasklist.exe"]',), (), False, 2, 2)]),
    ("broken JSON is shell form", 'FROM a\nENTRYPOINT ["a", \n',
     [("from", ("a",), (), False, 1, 1), ("entrypoint", ('["a",',), (), False, 2, 2)]),
    ("text after the JSON array is ignored", 'FROM a\nCMD ["a"] b\n',
     [("from", ("a",), (), False, 1, 1), ("cmd", ("a",), (), True, 2, 2)]),
    ("empty JSON array", "FROM a\nCMD []\n",
     [("from", ("a",), (), False, 1, 1), ("cmd", (), (), True, 2, 2)]),
    ("flags are split off with quotes removed", 'FROM a\nCOPY --chown="1:1" --link a b\n',
     [("from", ("a",), (), False, 1, 1), ("copy", ("a", "b"), ("--chown=1:1", "--link"), False, 2, 2)]),
    ("-- ends the flags", "FROM a\nRUN --network=none -- --not-a-flag\n",
     [("from", ("a",), (), False, 1, 1), ("run", ("--not-a-flag",), ("--network=none",), False, 2, 2)]),
    ("copy with JSON sources", 'FROM a\nCOPY ["a b", "/dst/"]\n',
     [("from", ("a",), (), False, 1, 1), ("copy", ("a b", "/dst/"), (), True, 2, 2)]),
    ("volume words", "FROM a\nVOLUME /a /b\n",
     [("from", ("a",), (), False, 1, 1), ("volume", ("/a", "/b"), (), False, 2, 2)]),
    ("ARG words keep quotes for later expansion", 'FROM a\nARG a="x y" b\n',
     [("from", ("a",), (), False, 1, 1), ("arg", ('a="x y"', "b"), (), False, 2, 2)]),
    ("ENV name=value pairs", 'FROM a\nENV a=1 b="2 3" c=\n',
     [("from", ("a",), (), False, 1, 1), ("env", ("a", "1", "b", '"2 3"', "c", ""), (), False, 2, 2)]),
    ("ENV legacy form takes the rest as value", "FROM a\nENV name John Doe\n",
     [("from", ("a",), (), False, 1, 1), ("env", ("name", "John Doe"), (), False, 2, 2)]),
    ("LABEL with escaped newline continuation", 'FROM a\nLABEL description="This text illustrates \\\nthat label-values can span multiple lines."\n',
     [("from", ("a",), (), False, 1, 1),
      ("label", ("description", '"This text illustrates that label-values can span multiple lines."'), (), False, 2, 3)]),
    ("HEALTHCHECK type first", "FROM a\nHEALTHCHECK --retries=3 CMD [\"curl\", \"-f\"]\n",
     [("from", ("a",), (), False, 1, 1), ("healthcheck", ("CMD", "curl", "-f"), ("--retries=3",), True, 2, 2)]),
    ("UTF-8 BOM is ignored", "\ufeffFROM a\n",
     [("from", ("a",), (), False, 1, 1)]),
    ("CRLF line endings", "FROM a\r\nRUN a \\\r\n b\r\n",
     [("from", ("a",), (), False, 1, 1), ("run", ("a  b",), (), False, 2, 3)]),
]


@pytest.mark.parametrize(("name", "text", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_parse_table(name: str, text: str, expected: list[tuple]) -> None:
    assert _summary(text) == expected


# ----- directives -----

def test_escape_directive_backtick() -> None:
    df = parse("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n")
    assert df.escape == "`"
    assert [(n.cmd, n.args) for n in df.nodes] == [
        ("from", ("microsoft/nanoserver",)), ("copy", ("testfile.txt", "c:\\")), ("run", ("dir c:\\",))]


def test_backtick_continues_lines() -> None:
    df = parse("# escape=`\nFROM a\nRUN a `\n  b\n")
    assert df.nodes[1].args == ("a   b",)


def test_default_escape_breaks_windows_paths() -> None:
    # Docker's reference: without the directive the trailing \ continues the line
    df = parse("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\\\nRUN dir c:\\\n")
    assert [n.cmd for n in df.nodes] == ["from", "copy", "run"]
    df = parse("FROM a\nCOPY testfile.txt c:\\\nRUN dir c:\\\n")
    assert len(df.nodes) == 2 and df.nodes[1].args == ("testfile.txt", "c:RUN", "dir", "c:")


@pytest.mark.parametrize("line", ["# escape=`", "#escape=`", "# escape =`", "#\tescape= `", "# ESCAPE=` ", "#  eScApE=`"])
def test_directive_whitespace_and_case(line: str) -> None:
    assert parse(line + "\nFROM a\n").escape == "`"


@pytest.mark.parametrize("text", [
    "FROM a\n# escape=`\n",                 # after an instruction
    "# comment\n# escape=`\nFROM a\n",     # after a comment
    "\n# escape=`\nFROM a\n",              # after a blank line
    "# unknowndirective=value\n# escape=`\nFROM a\n",  # after an unknown directive
    "# direc \\\n# tive=`\nFROM a\n",     # continuation is not supported
])
def test_directive_only_at_the_top(text: str) -> None:
    assert parse(text).escape == "\\"


def test_syntax_and_check_directives_recorded() -> None:
    df = parse("# syntax=docker/dockerfile:1.7\n# check=skip=all\nFROM a\n")
    assert df.syntax == "docker/dockerfile:1.7"
    assert dict(df.directives)["check"] == "skip=all"


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("# escape=`\n# escape=\\\nFROM a\n", 2, "only one escape parser directive can be used"),
    ("# escape=x\nFROM a\n", 1, "invalid escape token 'x' does not match ` or \\"),
])
def test_directive_errors(text: str, line: int, reason: str) -> None:
    with pytest.raises(DockerfileError) as err:
        parse(text)
    assert err.value.line == line and err.value.reason == reason


# ----- heredocs -----

def test_run_heredoc() -> None:
    df = parse("FROM a\nRUN <<EOF\napt-get update\napt-get install -y curl\nEOF\nRUN after\n")
    run = df.nodes[1]
    assert run.args == ("<<EOF",) and (run.start_line, run.end_line) == (2, 5)
    assert run.heredocs[0].name == "EOF"
    assert run.heredocs[0].content == "apt-get update\napt-get install -y curl\n"
    assert run.heredocs[0].expand
    assert df.nodes[2].args == ("after",)


def test_several_heredocs_on_one_line() -> None:
    df = parse("FROM a\nRUN <<FILE1 cat > file1 && cat <<FILE2 > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\n")
    docs = df.nodes[1].heredocs
    assert [(d.name, d.content) for d in docs] == [("FILE1", "I am\nfirst\n"), ("FILE2", "I am\nsecond\n")]


def test_copy_heredocs_and_quoting() -> None:
    df = parse("FROM a\nCOPY <<EOF <<'RAW' /dst/\n$HOME\nEOF\n$HOME\nRAW\n")
    docs = df.nodes[1].heredocs
    assert [(d.name, d.expand) for d in docs] == [("EOF", True), ("RAW", False)]
    assert df.nodes[1].args == ("<<EOF", "<<'RAW'", "/dst/")


@pytest.mark.parametrize(("word", "expand"), [("<<EOF", True), ('<<"EOF"', False), ("<<'EOF'", False),
                                              ('<<E"O"F', False), ("<<\\EOF", True)])
def test_heredoc_quoted_delimiter_disables_expansion(word: str, expand: bool) -> None:
    df = parse(f"FROM a\nRUN cat {word}\nx\nEOF\n")
    assert df.nodes[1].heredocs[0].name == "EOF"
    assert df.nodes[1].heredocs[0].expand is expand


def test_heredoc_dash_strips_tabs_from_terminator_and_body() -> None:
    df = parse("FROM a\nRUN <<-EOF\n\techo hi\n\t\tEOF\nRUN next\n")
    doc = df.nodes[1].heredocs[0]
    assert doc.chomp and doc.content == "\techo hi\n" and doc.body() == "echo hi\n"
    assert df.nodes[2].args == ("next",)


def test_heredoc_not_in_json_form_or_other_instructions() -> None:
    df = parse('FROM a\nRUN ["cat", "<<EOF"]\nCMD cat <<EOF\n')
    assert [n.heredocs for n in df.nodes] == [(), (), ()]


def test_heredoc_with_fd_and_onbuild() -> None:
    df = parse("FROM a\nONBUILD RUN 3<<EOF cat\nbody\nEOF\n")
    node = df.nodes[1]
    assert node.sub is not None and node.sub.cmd == "run"
    assert node.heredocs[0].fd == 3 and node.heredocs[0].content == "body\n"


def test_unterminated_heredoc() -> None:
    with pytest.raises(DockerfileError) as err:
        parse("FROM a\nRUN <<EOF\nno end\n")
    assert (err.value.line, err.value.reason) == (2, "unterminated heredoc")


# ----- errors -----

@pytest.mark.parametrize(("text", "line", "reason"), [
    ("FROM a\nRUN echo\n\n\n\n\nRUNN x\n", 7, "unknown instruction: RUNN"),
    ("FROM a\nONBUILD BOGUS x\n", 2, "unknown instruction: BOGUS"),
    ('FROM a\nCMD ["a", 1]\n', 2, "when using JSON array syntax, arrays must be comprised of strings only"),
    ("FROM a\nENV onlyname\n", 2, "ENV must have two arguments"),
    ("FROM a\nENV a=1 b\n", 2, 'Syntax error - can\'t find = in "b". Must be of the form: name=value'),
    ("\n\n# only comments\n", 3, "file with no instructions"),
])
def test_parse_errors(text: str, line: int, reason: str) -> None:
    with pytest.raises(DockerfileError) as err:
        parse(text, "Dockerfile")
    assert err.value.line == line
    assert err.value.reason == reason
    assert str(err.value).startswith(f"Dockerfile:{line}: {reason}")
    assert err.value.fields["file"] == "Dockerfile"


def test_unknown_instruction_suggests() -> None:
    with pytest.raises(DockerfileError) as err:
        parse("FROM a\nRUNN x\n")
    assert err.value.hint == "did you mean RUN?"


def test_empty_file() -> None:
    with pytest.raises(DockerfileError, match="cannot be empty"):
        parse("")


def test_empty_continuation_warns() -> None:
    df = parse("FROM a\nRUN a \\\n\n b\n")
    assert len(df.warnings) == 1 and "empty continuation line" in df.warnings[0]


def test_parse_file(tmp_path) -> None:
    path = tmp_path / "Containerfile"
    path.write_text("FROM a\nBAD x\n")
    with pytest.raises(DockerfileError) as err:
        parse_file(path, "Containerfile")
    assert str(err.value).startswith("Containerfile:2: unknown instruction: BAD")
    with pytest.raises(DockerfileError, match="no such file"):
        parse_file(tmp_path / "missing")
