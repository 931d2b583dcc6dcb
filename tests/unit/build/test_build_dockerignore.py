""".dockerignore reading, matching and the context walker."""

from __future__ import annotations

from pathlib import Path

import pytest

from vessel.build.dockerignore import compile_pattern, context_files, go_clean, load_ignore, matcher, read_patterns
from vessel.build.errors import DockerfileError

pytestmark = pytest.mark.unit


def test_read_patterns_normalises_like_docker() -> None:
    text = ("\ufeff# comment\n\n  spaced.txt  \n/abs/path\n./a/../b\n!  /keep\n # not a comment\n"
            "dir/\r\n//double\n/\n")
    assert read_patterns(text) == ["spaced.txt", "abs/path", "b", "!keep", "# not a comment", "dir", "double", "/"]


@pytest.mark.parametrize(("path", "cleaned"), [
    ("", "."), ("a/b/../c", "a/c"), ("/../a", "/a"), ("../../a", "../../a"), ("a//b/./", "a/b"), ("//", "/"),
])
def test_go_clean(path: str, cleaned: str) -> None:
    assert go_clean(path) == cleaned


# (patterns, path, excluded) -- the Dockerfile reference's examples first
CASES = [
    (["*/temp*"], "somedir/temporary.txt", True),
    (["*/temp*"], "somedir/temp", True),
    (["*/temp*"], "temporary.txt", False),
    (["*/temp*"], "a/b/temp", False),
    (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
    (["*/*/temp*"], "somedir/temporary.txt", False),
    (["temp?"], "tempa", True),
    (["temp?"], "tempab", False),
    (["temp?"], "tempa/inside", True),
    (["**/*.go"], "main.go", True),
    (["**/*.go"], "pkg/sub/x.go", True),
    (["**/*.go"], "pkg/x.gox", False),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
    # directories exclude what is below them
    (["node_modules"], "node_modules/pkg/index.js", True),
    (["node_modules"], "src/node_modules/x", False),
    (["**/node_modules"], "src/node_modules/x", True),
    (["build/"], "build/out/a.o", True),
    (["dir", "!dir/keep"], "dir/keep", False),
    (["dir", "!dir/keep"], "dir/keep/inner", False),
    (["dir", "!dir/keep"], "dir/other", True),
    # ** forms
    (["foo/**"], "foo/x/y", True),
    (["foo/**"], "foo", False),
    (["**"], "anything/at/all", True),
    (["**/foo"], "foo", True),
    (["**/foo"], "a/b/foo", True),
    (["**/foo"], "xfoo", False),
    (["**foo"], "xfoo", True),
    (["a/**/b"], "a/b", True),
    (["a/**/b"], "a/x/y/b", True),
    (["a/**/b"], "a/x/y/c", False),
    # Go filepath.Match syntax
    (["file?.txt"], "file1.txt", True),
    (["?"], "a/b", True),  # a matches, so a/b is excluded through its parent
    (["a?b"], "a/b", False),  # ? never matches /
    (["*"], "a/b", True),
    (["a*"], "ab/c", True),
    (["*.txt"], "dir/a.txt", False),
    (["[a-c]at"], "bat", True),
    (["[a-c]at"], "dat", False),
    (["[^a-c]at"], "dat", True),
    (["[^a-c]at"], "cat", False),
    (["[\\]]x"], "]x", True),
    (["\\*"], "*", True),
    (["\\*"], "a", False),
    (["a.b"], "axb", False),
    (["a+(b)"], "a+(b)", True),
    (["Dockerfile", ".dockerignore"], "Dockerfile", True),
    (["Dockerfile", ".dockerignore"], ".dockerignore", True),
    ([], "anything", False),
    (["*"], ".", False),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), CASES)
def test_matcher(patterns: list[str], path: str, excluded: bool) -> None:
    assert matcher(read_patterns("\n".join(patterns))).excluded(path) is excluded


def test_pattern_kinds_follow_docker() -> None:
    kinds = {p: compile_pattern(p).kind for p in ["a/b", "a/**", "**/a", "**", "a*", "**/*.go"]}
    assert kinds == {"a/b": "exact", "a/**": "prefix", "**/a": "suffix", "**": "suffix", "a*": "regexp",
                     "**/*.go": "regexp"}


@pytest.mark.parametrize("pattern", ["[", "a[", "[]", "[a-]", "[-a]", "a\\", "!", "[z"])
def test_malformed_patterns(pattern: str) -> None:
    with pytest.raises(DockerfileError):
        matcher([pattern])


def test_reversed_range_matches_nothing() -> None:
    m = matcher(["[z-a]x"])
    assert not m.excluded("bx") and not m.excluded("zx")


def _tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


def test_context_files(tmp_path: Path) -> None:
    _tree(tmp_path, ["Dockerfile", ".dockerignore", "app/main.py", "app/README.md", "docs/a.md", "docs/keep/b.md",
                     "node_modules/x/y.js", "empty/.keep", "secret.key"])
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "link").symlink_to("app")
    ignore = matcher(read_patterns("node_modules\n*.key\ndocs\n!docs/keep\n**/*.md\n!docs/keep/b.md\n"
                                   ".dockerignore\nDockerfile\n"))
    assert context_files(tmp_path, ignore) == [
        "app", "app/main.py", "docs", "docs/keep", "docs/keep/b.md", "empty", "empty/.keep", "emptydir", "link"]


def test_context_files_without_patterns(tmp_path: Path) -> None:
    _tree(tmp_path, ["Dockerfile", "a/b"])
    assert context_files(tmp_path, matcher([])) == ["Dockerfile", "a", "a/b"]


def test_excluded_dirs_are_pruned_only_without_exceptions(tmp_path: Path) -> None:
    ignore = matcher(["vendor", "!src/keep"])
    assert ignore.can_skip_dir("vendor")
    assert not ignore.can_skip_dir("src")  # not excluded at all
    ignore = matcher(["vendor", "!vendor/keep"])
    assert not ignore.can_skip_dir("vendor")
    ignore = matcher(["vendor", "!**/keep"])
    assert not ignore.can_skip_dir("vendor")


def test_load_ignore_prefers_dockerfile_specific(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / ".dockerignore").write_text("from-context\n")
    assert load_ignore(ctx, ctx / "Dockerfile") == (["from-context"], ctx / ".dockerignore")
    build = tmp_path / "build"
    build.mkdir()
    (build / "app.Dockerfile.dockerignore").write_text("/specific\n")
    assert load_ignore(ctx, build / "app.Dockerfile") == (["specific"], build / "app.Dockerfile.dockerignore")
    assert load_ignore(ctx, None) == (["from-context"], ctx / ".dockerignore")
    assert load_ignore(tmp_path / "none", None) == ([], None)
