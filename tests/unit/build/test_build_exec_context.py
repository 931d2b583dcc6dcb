"""SourceTree: resolving COPY sources in the build context (globs, .dockerignore, escapes) and hashing them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vessel.build.context import SourceTree, clean_source, has_glob
from vessel.build.dockerignore import matcher
from vessel.errors import InvalidArgument, NotFound

pytestmark = pytest.mark.unit


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    for rel, data in {"a.txt": "a", "b.txt": "b", "c.md": "c", "src/main.py": "m", "src/util.py": "u",
                      "src/deep/x.py": "x", "logs/app.log": "log", "logs/keep.log": "keep", "secret.key": "k",
                      "weird[1].txt": "w"}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)
    os.symlink("a.txt", root / "link-to-a")
    os.symlink("/src", root / "abs-link")  # absolute: resolved inside the context
    os.symlink("../../outside", root / "escape")
    return root


def tree(root: Path, *patterns: str) -> SourceTree:
    return SourceTree(root, matcher(list(patterns)))


def rels(entries) -> list[str]:
    return [e.rel for e in entries]


@pytest.mark.parametrize(("text", "glob"), [("a.txt", False), ("*.txt", True), ("a?", True), ("[ab]", True),
                                            ("weird\\[1\\].txt", False), ("dir/**", True)])
def test_has_glob(text: str, glob: bool) -> None:
    assert has_glob(text) is glob


@pytest.mark.parametrize(("path", "cleaned"), [(".", "."), ("./", "."), ("/", "."), ("/a/b/", "a/b"),
                                               ("a/../b", "b"), ("./src//x", "src/x")])
def test_clean_source(path: str, cleaned: str) -> None:
    assert clean_source(path) == cleaned


@pytest.mark.parametrize("path", ["..", "../x", "a/../../x", "./../etc/passwd"])
def test_clean_source_refuses_escapes(path: str) -> None:
    with pytest.raises(InvalidArgument, match="forbidden path outside the build context"):
        clean_source(path)


def test_resolve_single_paths_and_globs(ctx: Path) -> None:
    t = tree(ctx)
    assert rels(t.resolve("a.txt")) == ["a.txt"]
    assert rels(t.resolve("/src/")) == ["src"]
    assert rels(t.resolve("*.txt")) == ["a.txt", "b.txt", "weird[1].txt"]
    assert rels(t.resolve("src/*.py")) == ["src/main.py", "src/util.py"]  # * does not cross /
    assert rels(t.resolve("*/*.py")) == ["src/main.py", "src/util.py"]
    assert rels(t.resolve("?.md")) == ["c.md"]
    assert rels(t.resolve("weird\\[1\\].txt")) == ["weird[1].txt"]
    assert t.resolve(".")[0].is_dir


def test_missing_sources_are_not_found(ctx: Path) -> None:
    t = tree(ctx)
    with pytest.raises(NotFound, match='"/nope.txt" not found'):
        t.resolve("nope.txt")
    with pytest.raises(NotFound, match='no source files match "\\*.rs"'):
        t.resolve("*.rs")


def test_ignored_paths_do_not_exist_for_copy(ctx: Path) -> None:
    t = tree(ctx, "*.key", "logs", "!logs/keep.log")
    with pytest.raises(NotFound) as err:
        t.resolve("secret.key")
    assert "excluded by .dockerignore" in (err.value.hint or "")
    assert rels(t.resolve("logs/*")) == ["logs/keep.log"]  # re-included below an excluded directory
    assert rels(t.walk(t.resolve(".")[0])).count("secret.key") == 0
    walked = rels(t.walk(t.resolve(".")[0]))
    assert "logs" in walked and "logs/keep.log" in walked and "logs/app.log" not in walked


def test_source_symlinks_are_followed_inside_the_context(ctx: Path) -> None:
    t = tree(ctx)
    (entry,) = t.resolve("link-to-a")
    assert entry.rel == "link-to-a" and entry.path == ctx / "a.txt" and not entry.is_dir
    (entry,) = t.resolve("abs-link")
    assert entry.path == ctx / "src" and entry.is_dir
    with pytest.raises(NotFound, match="dangling"):
        t.resolve("escape")  # ../../outside stops at the context root: nothing there


def test_walk_lists_parents_before_children_and_keeps_inner_symlinks(ctx: Path) -> None:
    t = tree(ctx)
    walked = rels(t.walk(t.resolve("src")[0]))
    assert walked == ["src", "src/deep", "src/deep/x.py", "src/main.py", "src/util.py"]
    inner = [e for e in t.walk(t.resolve(".")[0]) if e.rel == "link-to-a"]
    assert os.path.islink(inner[0].path)  # below the source, links are copied as links


def test_digest_follows_content_and_mode_not_mtime(ctx: Path) -> None:
    t = tree(ctx)
    first = t.digest(t.resolve("src"))
    os.utime(ctx / "src" / "main.py", (1, 1))
    assert tree(ctx).digest(tree(ctx).resolve("src")) == first
    (ctx / "src" / "main.py").write_text("changed")
    changed = tree(ctx).digest(tree(ctx).resolve("src"))
    assert changed != first
    os.chmod(ctx / "src" / "main.py", 0o755)
    assert tree(ctx).digest(tree(ctx).resolve("src")) != changed
    other = tree(ctx).digest(tree(ctx).resolve("a.txt"))
    assert other != tree(ctx).digest(tree(ctx).resolve("b.txt"))


def test_digest_skip_drops_entries(ctx: Path) -> None:
    t = tree(ctx)
    top = t.resolve("src")
    everything = t.digest(top)
    without_deep = t.digest(top, lambda _top, e: e.rel.startswith("src/deep"))
    assert everything != without_deep
    (ctx / "src" / "deep" / "x.py").write_text("changed")
    t2 = tree(ctx)
    assert t2.digest(t2.resolve("src"), lambda _top, e: e.rel.startswith("src/deep")) == without_deep


def test_symlinked_directories_on_the_way_never_lead_outside(ctx: Path, tmp_path: Path) -> None:
    (tmp_path / "host-secret").mkdir()
    (tmp_path / "host-secret" / "passwd").write_text("host data")
    os.symlink(str(tmp_path / "host-secret"), ctx / "hostdir")  # absolute: means <ctx>/<that path>
    os.symlink("../host-secret", ctx / "updir")  # climbs out: stops at the context root
    t = tree(ctx)
    for source in ("hostdir/passwd", "updir/passwd"):
        with pytest.raises(NotFound):
            t.resolve(source)
    (ctx / "usr" / "lib").mkdir(parents=True)
    (ctx / "usr" / "lib" / "libx.so").write_text("lib")
    os.symlink("/usr/lib", ctx / "lib")  # as in an image: resolved inside the root
    (entry,) = t.resolve("/lib/libx.so")
    assert entry.path == ctx / "usr" / "lib" / "libx.so" and entry.rel == "lib/libx.so"
