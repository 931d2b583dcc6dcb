"""COPY/ADD: where sources go, how they are written into a root, archives, --parents, --exclude, digests.

The destination root is a plain directory here (the executor gives the mounted overlay).
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import stat
import tarfile
from pathlib import Path

import pytest

from vessel.build import parse, plan
from vessel.build.archive import is_archive
from vessel.build.context import SourceTree
from vessel.build.context import split_pivot
from vessel.build.copystep import CopyTrees, content_digest, copy_step
from vessel.build.dockerignore import matcher
from vessel.build.steps import CopyStep
from vessel.build.fscopy import CopyAttrs, Writer, target_path
from vessel.errors import InvalidArgument, NotFound, Unsupported

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("dest", "dest_is_dir", "rel", "is_dir", "several", "existing", "parents", "expected"), [
    ("/app/f", False, "a.txt", False, False, False, False, ("/app/f", False)),
    ("/app/", True, "a.txt", False, False, False, False, ("/app/a.txt", False)),
    ("/app", False, "a.txt", False, False, True, False, ("/app/a.txt", False)),  # existing directory
    ("/app", False, "src/a.txt", False, True, False, False, ("/app/a.txt", False)),  # several sources
    ("/app", False, "src", True, False, False, False, ("/app", True)),  # a directory: its contents
    ("/", True, "src", True, False, True, False, ("/", True)),
    ("/dst/", True, "x/y/a.txt", False, False, False, True, ("/dst/x/y/a.txt", False)),  # --parents
    ("/dst/", True, "x/y", True, False, False, True, ("/dst/x/y", True)),
])
def test_target_path(dest, dest_is_dir, rel, is_dir, several, existing, parents, expected) -> None:
    assert target_path(dest, dest_is_dir, rel, is_dir, several=several, dest_is_existing_dir=existing,
                       parents=parents) == expected


@pytest.mark.parametrize(("path", "expected"), [("a/b", ("a/b", None)), ("x/./a/b", ("x/a/b", "x")),
                                                ("./x/./y", ("./x/y", "x")), ("/./a", ("/a", "."))])
def test_split_pivot(path: str, expected) -> None:
    assert split_pivot(path) == expected


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    files = {"a.txt": "a", "b.txt": "b", "src/main.py": "main", "src/sub/util.py": "util", "src/notes.md": "md",
             "x/y/deep.txt": "deep"}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(data)
    os.chmod(root / "src" / "main.py", 0o750)
    os.utime(root / "a.txt", (1_000_000, 1_000_000))
    os.symlink("main.py", root / "src" / "link")
    return root


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nstaff:x:50:\n")
    (root / "usr" / "lib").mkdir(parents=True)
    os.symlink("/usr/lib", root / "lib")  # absolute link: must resolve inside the root
    (root / "existing").mkdir()
    return root


def trees(ctx: Path, tmp_path: Path, *ignore: str) -> CopyTrees:
    counter = iter(range(1000))

    def scratch(name: str) -> Path:
        path = tmp_path / "scratch" / f"{name}-{next(counter)}"
        path.mkdir(parents=True)
        return path

    stage_root = tmp_path / "stage"
    (stage_root / "out").mkdir(parents=True, exist_ok=True)
    (stage_root / "out" / "app").write_text("binary")
    os.chmod(stage_root / "out" / "app", 0o755)
    return CopyTrees(SourceTree(ctx, matcher(list(ignore))), lambda i: SourceTree(stage_root, None, "stage"),
                     lambda ref: SourceTree(stage_root, None, "image"), lambda i: f"chain-{i}",
                     lambda ref: f"image-{ref}", scratch)


def copy_steps(text: str):
    bp = plan(parse("FROM scratch AS s0\nFROM scratch\n" + text, "Dockerfile"), {})
    return [step for step in bp.target.steps if isinstance(step, CopyStep)]


def run_copy(text: str, ctx: Path, dest: Path, tmp_path: Path, *ignore: str) -> int:
    count = 0
    for step in copy_steps(text):
        count += copy_step(step, dest, trees(ctx, tmp_path, *ignore), 123 * 10**9)
    return count


def test_copy_files_dirs_globs_and_modes(ctx: Path, dest: Path, tmp_path: Path) -> None:
    run_copy("COPY a.txt /app/\nCOPY src /app/src\nCOPY *.txt /globbed/\nCOPY b.txt /renamed.txt\n",
             ctx, dest, tmp_path)
    assert (dest / "app" / "a.txt").read_text() == "a"
    assert os.stat(dest / "app" / "a.txt").st_mtime == 1_000_000  # the source's mtime
    assert sorted(os.listdir(dest / "app" / "src")) == ["link", "main.py", "notes.md", "sub"]  # contents of src
    assert stat.S_IMODE(os.stat(dest / "app" / "src" / "main.py").st_mode) == 0o750
    assert os.readlink(dest / "app" / "src" / "link") == "main.py"
    assert (dest / "app" / "src" / "sub" / "util.py").read_text() == "util"
    assert sorted(os.listdir(dest / "globbed")) == ["a.txt", "b.txt"]
    assert (dest / "renamed.txt").read_text() == "b"


def test_copy_through_a_symlink_of_the_image_stays_inside(ctx: Path, dest: Path, tmp_path: Path) -> None:
    run_copy("COPY a.txt /lib/\n", ctx, dest, tmp_path)
    assert (dest / "usr" / "lib" / "a.txt").read_text() == "a"
    assert os.path.islink(dest / "lib")


def test_copy_into_an_existing_directory_without_slash(ctx: Path, dest: Path, tmp_path: Path) -> None:
    run_copy("COPY a.txt /existing\n", ctx, dest, tmp_path)
    assert (dest / "existing" / "a.txt").read_text() == "a"


def test_copy_replaces_files_and_refuses_to_replace_a_directory(ctx: Path, dest: Path, tmp_path: Path) -> None:
    (dest / "f").write_text("old")
    run_copy("COPY a.txt /f\n", ctx, dest, tmp_path)
    assert (dest / "f").read_text() == "a"
    (dest / "d" / "a.txt").mkdir(parents=True)
    with pytest.raises(InvalidArgument, match="cannot replace directory"):
        run_copy("COPY a.txt /d/\n", ctx, dest, tmp_path)


def test_chmod_chown_and_created_parents(ctx: Path, dest: Path, tmp_path: Path) -> None:
    run_copy("COPY --chmod=640 --chown=app:staff src /opt/new/dir/\n", ctx, dest, tmp_path)
    main = dest / "opt" / "new" / "dir" / "main.py"
    assert stat.S_IMODE(os.stat(main).st_mode) == 0o640
    if os.geteuid() == 0:
        assert (os.stat(main).st_uid, os.stat(main).st_gid) == (1000, 50)
        assert (os.stat(dest / "opt").st_uid, os.stat(dest / "opt").st_gid) == (1000, 50)  # created parents too
    run_copy("COPY --chmod=u+x,go-r a.txt /sym.txt\n", ctx, dest, tmp_path)
    assert stat.S_IMODE(os.stat(dest / "sym.txt").st_mode) == 0o700


def test_parents_and_pivot(ctx: Path, dest: Path, tmp_path: Path) -> None:
    run_copy("COPY --parents x/y/deep.txt src/main.py /p/\nCOPY --parents ./x/./y/deep.txt /q/\n",
             ctx, dest, tmp_path)
    assert (dest / "p" / "x" / "y" / "deep.txt").read_text() == "deep"
    assert (dest / "p" / "src" / "main.py").read_text() == "main"
    assert (dest / "q" / "y" / "deep.txt").read_text() == "deep"


def test_exclude(ctx: Path, dest: Path, tmp_path: Path) -> None:
    run_copy("COPY --exclude=*.md --exclude=sub src /e/\nCOPY --exclude=b.txt *.txt /f/\n", ctx, dest, tmp_path)
    assert sorted(os.listdir(dest / "e")) == ["link", "main.py"]
    assert os.listdir(dest / "f") == ["a.txt"]


def test_heredoc_sources(ctx: Path, dest: Path, tmp_path: Path) -> None:
    run_copy("ARG NAME=world\nCOPY <<EOF /etc/greeting\nhello $NAME\nEOF\nCOPY <<A <<B /many/\na\nA\nb\nB\n",
             ctx, dest, tmp_path)
    assert (dest / "etc" / "greeting").read_text() == "hello world\n"
    assert stat.S_IMODE(os.stat(dest / "etc" / "greeting").st_mode) == 0o644
    assert os.stat(dest / "etc" / "greeting").st_mtime == 123
    assert sorted(os.listdir(dest / "many")) == ["A", "B"]


def test_copy_from_a_stage_keeps_its_owner(ctx: Path, dest: Path, tmp_path: Path) -> None:
    assert run_copy("COPY --from=s0 /out/app /usr/local/bin/\n", ctx, dest, tmp_path) == 1
    assert (dest / "usr" / "local" / "bin" / "app").read_text() == "binary"
    assert stat.S_IMODE(os.stat(dest / "usr" / "local" / "bin" / "app").st_mode) == 0o755


def tar_bytes(compress: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("dir/one.txt", b"one"), ("two.txt", b"two")):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o600, 7, 8
            tf.addfile(info, io.BytesIO(data))
        evil = tarfile.TarInfo("../../escape.txt")
        evil.size = 1
        tf.addfile(evil, io.BytesIO(b"x"))
    raw = buf.getvalue()
    if compress == "gz":
        import gzip

        return gzip.compress(raw)
    if compress == "bz2":
        return bz2.compress(raw)
    if compress == "xz":
        return lzma.compress(raw)
    return raw


@pytest.mark.parametrize("compress", ["", "gz", "bz2", "xz"])
def test_is_archive(tmp_path: Path, compress: str) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(tar_bytes(compress))
    assert is_archive(path)
    (tmp_path / "text").write_text("not a tar at all\n" * 100)
    assert not is_archive(tmp_path / "text")
    (tmp_path / "empty").write_bytes(b"")
    assert not is_archive(tmp_path / "empty")


def test_add_refuses_a_hostile_archive_and_copy_does_not_extract(ctx: Path, dest: Path, tmp_path: Path) -> None:
    (ctx / "files.tar.gz").write_bytes(tar_bytes("gz"))
    with pytest.raises(InvalidArgument, match="escapes the root"):
        run_copy("ADD files.tar.gz /unpacked/\n", ctx, dest, tmp_path)
    assert not (dest.parent / "escape.txt").exists()
    run_copy("COPY files.tar.gz /copied/\n", ctx, dest, tmp_path)
    assert (dest / "copied" / "files.tar.gz").read_bytes() == (ctx / "files.tar.gz").read_bytes()


def test_add_extracts_a_local_tar_keeping_owners(ctx: Path, dest: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("dir/one.txt")
        info.size, info.mode, info.uid, info.gid = 3, 0o600, 7, 8
        tf.addfile(info, io.BytesIO(b"one"))
    (ctx / "ok.tgz").write_bytes(buf.getvalue())
    run_copy("ADD ok.tgz /unpacked\n", ctx, dest, tmp_path)
    one = dest / "unpacked" / "dir" / "one.txt"
    assert one.read_text() == "one" and stat.S_IMODE(os.stat(one).st_mode) == 0o600
    if os.geteuid() == 0:
        assert (os.stat(one).st_uid, os.stat(one).st_gid) == (7, 8)


def test_remote_sources_are_refused(ctx: Path, dest: Path, tmp_path: Path) -> None:
    with pytest.raises(Unsupported, match="cannot fetch a URL"):
        run_copy("ADD https://example.com/x.tgz /x/\n", ctx, dest, tmp_path)
    (step,) = copy_steps("ADD https://example.com/x.tgz /x/\n")
    with pytest.raises(Unsupported):
        content_digest(step, trees(ctx, tmp_path))


def test_content_digest(ctx: Path, tmp_path: Path) -> None:
    (copy_src,) = copy_steps("COPY src /app/\n")
    (copy_a,) = copy_steps("COPY a.txt /app/\n")
    (excl,) = copy_steps("COPY --exclude=*.md src /app/\n")
    (stage,) = copy_steps("COPY --from=s0 /out /app/\n")
    t = trees(ctx, tmp_path)
    before = content_digest(copy_src, t)
    before_a = content_digest(copy_a, t)
    before_excl = content_digest(excl, t)
    assert content_digest(stage, t) == "stage:chain-0"
    (ctx / "src" / "notes.md").write_text("changed")
    t = trees(ctx, tmp_path)
    assert content_digest(copy_src, t) != before
    assert content_digest(copy_a, t) == before_a  # other files do not matter
    assert content_digest(excl, t) == before_excl  # an excluded file does not either
    with pytest.raises(NotFound):
        content_digest(copy_steps("COPY nothing* /x/\n")[0], t)


def test_writer_attrs_owner_none_keeps_source_owner(ctx: Path, dest: Path) -> None:
    tree = SourceTree(ctx, None)
    (top,) = tree.resolve("a.txt")
    writer = Writer(dest, is_root=False)
    writer.copy_tree([top], top, "/kept.txt", False, CopyAttrs(owner=None))
    assert (dest / "kept.txt").read_text() == "a"
