"""The build memo: keys, what it records, and every way its recorded inputs can change (no root, fake store)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from vessel.build import memo
from vessel.build.context import SourceTree, sources_digest
from vessel.build.dockerignore import matcher
from vessel.build.progress import RecordingProgress

pytestmark = pytest.mark.unit


@dataclass
class FakeImage:
    id: str


class FakeStore:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = dict(names)
        self.tagged: list[tuple[str, str]] = []

    def find(self, text: str):  # noqa: ANN201
        image_id = self.names.get(text, text if text in self.names.values() else None)
        return FakeImage(image_id) if image_id else None

    def tag(self, source: str, target: str) -> None:
        self.tagged.append((source, target))


def key(ctx: Path, text: str = "FROM busybox\n", **over) -> str:
    args = dict(build_args={}, target=None, labels={}, platform="linux/amd64")
    args.update(over)
    return memo.memo_key(text, "Dockerfile", ctx, ctx / "Dockerfile", **args)


def test_key_covers_every_option(tmp_path: Path) -> None:
    base = key(tmp_path)
    assert base == key(tmp_path)
    variants = {key(tmp_path, "FROM busybox\n# edited\n"), key(tmp_path, build_args={"A": "1"}),
                key(tmp_path, target="x"), key(tmp_path, labels={"l": "v"}), key(tmp_path, platform="linux/arm64"),
                key(tmp_path / "other")}
    assert base not in variants and len(variants) == 6


@pytest.fixture
def recorded(tmp_path: Path):
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "a.txt").write_text("a")
    (ctx / "notes.md").write_text("n")
    (ctx / ".dockerignore").write_text("*.md\n")
    build_dir = tmp_path / "build"
    rec = memo.Recorder(ignore=["*.md"], ignore_file=str(ctx / ".dockerignore"))
    tree = SourceTree(ctx, matcher(["*.md"]))
    rec.query(["src"], False, [], sources_digest(tree, ["src"]))
    rec.query(["src"], False, [], sources_digest(tree, ["src"]))  # recorded once
    rec.base("busybox", "sha256:bb")
    k = key(ctx)
    steps = [{"n": 1, "total": 3, "text": "FROM busybox", "base": True, "ids": ["sha256:bb" + "0" * 62],
              "notes": []},
             {"n": 2, "total": 3, "text": "FROM parent:1", "base": True,
              "ids": ["sha256:" + "1" * 64, "sha256:" + "2" * 64], "notes": ["# Executing 1 build trigger"]},
             {"n": 3, "total": 3, "text": "COPY src /s", "base": False, "ids": ["sha256:final"], "notes": []}]
    memo.save(build_dir, k, "sha256:final", rec, steps, ["[Warning] x"])
    store = FakeStore({"busybox": "sha256:bb", "final-tag": "sha256:final"})
    return ctx, build_dir, k, store, rec


def test_replay_tags_and_shows_every_step_cached(recorded) -> None:
    ctx, build_dir, k, store, rec = recorded
    assert len(rec.queries) == 1
    progress = RecordingProgress(clock=lambda: 0.0)
    hit = memo.replay(store, build_dir, k, ctx, ctx / "Dockerfile", ["docker.io/library/app:1"], progress)
    assert hit is not None and hit.image.id == "sha256:final"
    assert hit.cached == 2 and hit.warnings == ("[Warning] x",)  # the trigger and the COPY; FROMs are not cached
    assert store.tagged == [("sha256:final", "docker.io/library/app:1")]
    assert progress.lines == [
        "[Warning] x",
        "Step 1/3 : FROM busybox", " ---> bb0000000000",
        "Step 2/3 : FROM parent:1", " ---> 111111111111", "# Executing 1 build trigger",
        " ---> Using cache", " ---> 222222222222",
        "Step 3/3 : COPY src /s", " ---> Using cache", " ---> final"]


@pytest.mark.parametrize("change", ["content", "new-file", "ignore", "base", "image-gone", "mode", "no-memo"])
def test_any_changed_input_is_a_miss(recorded, change: str) -> None:
    ctx, build_dir, k, store, _ = recorded
    if change == "content":
        (ctx / "src" / "a.txt").write_text("changed")
    elif change == "new-file":
        (ctx / "src" / "b.txt").write_text("b")
    elif change == "ignore":
        (ctx / ".dockerignore").write_text("*.md\nsrc/a.txt\n")
    elif change == "base":
        store.names["busybox"] = "sha256:other"
    elif change == "image-gone":
        del store.names["final-tag"]
    elif change == "mode":
        (ctx / "src" / "a.txt").chmod(0o600)
    elif change == "no-memo":
        k = key(ctx, "FROM busybox\n# edited\n")
    progress = RecordingProgress()
    assert memo.replay(store, build_dir, k, ctx, ctx / "Dockerfile", ["app:1"], progress) is None
    assert store.tagged == [] and progress.lines == []


def test_ignored_changes_and_mtimes_still_hit(recorded) -> None:
    ctx, build_dir, k, store, _ = recorded
    (ctx / "notes.md").write_text("ignored by .dockerignore")
    (ctx / "unrelated.txt").write_text("not copied")
    os.utime(ctx / "src" / "a.txt", (5, 5))
    assert memo.replay(store, build_dir, k, ctx, ctx / "Dockerfile", [], RecordingProgress()) is not None


def test_damaged_memo_is_a_miss(recorded) -> None:
    ctx, build_dir, k, store, _ = recorded
    (build_dir / "memo" / f"{k}.json").write_text("{broken")
    assert memo.replay(store, build_dir, k, ctx, ctx / "Dockerfile", [], RecordingProgress()) is None
    assert memo.clear(build_dir) == 1
