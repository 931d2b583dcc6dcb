"""COPY and ADD steps: which files, where, and their digest for the layer cache.

    digest = content_digest(step, trees)            # before the step runs (cache key)
    count = copy_step(step, merged_root, trees, now_ns)

Sources come from the build context (after .dockerignore, owned 0:0 in the
image), a stage or an image (``--from``, ownership kept), or heredocs.  Globs
may match several paths; ``--parents`` keeps each match's path (from the
context root, or from a ``/./`` pivot in the source); ``--exclude`` patterns
(.dockerignore syntax) drop paths relative to the copied directory; an ADDed
local tar is unpacked into the destination; remote ADD sources are refused
(vessel builds have no way to fetch them).
"""

from __future__ import annotations

import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from vessel.build.context import Entry, SourceTree, exclude_filter, kept_path, sources_digest, split_pivot
from vessel.build.steps import CopyStep, Source
from vessel.errors import Unsupported

if TYPE_CHECKING:
    from vessel.build.fscopy import CopyAttrs, Writer


@dataclass
class CopyTrees:
    """Where COPY finds its sources; ``scratch(name)`` gives a fresh temp directory."""

    context: SourceTree
    stage_tree: Callable[[int], SourceTree]
    image_tree: Callable[[str], SourceTree]
    stage_identity: Callable[[int], str]
    image_identity: Callable[[str], str]
    scratch: Callable[[str], Path]
    observe: Callable[[list[str], bool, list[str], str], None] | None = None  # the build memo's recorder


@dataclass(frozen=True, slots=True)
class Match:
    tree: SourceTree
    entry: Entry
    kept: str  # the path kept under dest with --parents
    source: Source


def _remote(step: CopyStep, src: Source) -> Unsupported:
    what = "a git repository" if src.kind == "git" else "a URL"
    return Unsupported(f"{step.kind} {src.path}: vessel build cannot fetch {what} (builds have no access to "
                       "remote sources)", hint="download it into the build context and ADD the local copy",
                       source=src.path)


def _tree(trees: CopyTrees, step: CopyStep, src: Source) -> SourceTree:
    if src.kind in ("url", "git"):
        raise _remote(step, src)
    if step.from_stage is not None:
        return trees.stage_tree(step.from_stage)
    if step.from_image is not None:
        return trees.image_tree(step.from_image)
    return trees.context


def resolve_sources(step: CopyStep, trees: CopyTrees) -> list[Match]:
    out = []
    for src in step.sources:
        tree = _tree(trees, step, src)
        pattern, pivot = split_pivot(src.path) if step.parents else (src.path, None)
        for entry in tree.resolve(pattern):
            out.append(Match(tree, entry, kept_path(entry.rel, pivot), src))
    return out


def content_digest(step: CopyStep, trees: CopyTrees) -> str:
    """What the layer cache keys this step's sources by: file hashes, or the source stage's/image's identity."""
    if step.from_stage is not None:
        return "stage:" + trees.stage_identity(step.from_stage)
    if step.from_image is not None:
        return "image:" + trees.image_identity(step.from_image)
    for src in step.sources:
        if src.kind in ("url", "git"):
            raise _remote(step, src)
    if not step.sources:
        return ""
    digest = sources_digest(trees.context, [s.path for s in step.sources], step.parents, step.excludes)
    if trees.observe is not None:
        trees.observe([s.path for s in step.sources], step.parents, list(step.excludes), digest)
    return digest


def copy_step(step: CopyStep, merged: Path, trees: CopyTrees, now_ns: int) -> int:
    """Copy the step's sources into the root mounted at ``merged``; returns how many entries were written."""
    from vessel.build.archive import is_archive
    from vessel.build.fscopy import CopyAttrs, Writer, target_path
    from vessel.build.modes import apply_chmod
    from vessel.build.users import chown_in_root

    writer = Writer(merged)
    chown = chown_in_root(step.chown, merged) if step.chown else None
    matches = resolve_sources(step, trees)
    several = len(step.sources) + len(step.inline) > 1 or len(matches) > 1
    existing_dir = writer.is_dir(step.dest)
    skip = exclude_filter(step.excludes)
    count = 0
    for match in matches:
        top = match.entry
        if skip(top, top):
            continue
        from_context = match.tree is trees.context
        attrs = CopyAttrs(owner=chown or ((0, 0) if from_context else None), chmod=step.chmod)
        if step.is_add and from_context and stat.S_ISREG(top.st.st_mode) and is_archive(top.path):
            count += _add_archive(step, writer, top, trees, CopyAttrs(owner=chown, chmod=step.chmod))
            continue
        target, contents = target_path(step.dest, step.dest_is_dir, match.kept, top.is_dir, several=several,
                                       dest_is_existing_dir=existing_dir, parents=step.parents)
        entries = [e for e in match.tree.walk(top) if e is top or not skip(top, e)]
        count += writer.copy_tree(entries, top, target, contents, attrs)
    for inline in step.inline:
        target = (posixpath.join(step.dest.rstrip("/") or "/", inline.name)
                  if step.dest_is_dir or existing_dir or several else step.dest)
        writer.makedirs(posixpath.dirname(target), chown or (0, 0))
        mode = apply_chmod(step.chmod, stat.S_IFREG | inline.mode, False)
        writer.write_bytes(target, inline.data.encode("utf-8", "surrogateescape"), mode, chown or (0, 0), now_ns)
        count += 1
    return count


def _add_archive(step: CopyStep, writer: "Writer", top: Entry, trees: CopyTrees, attrs: "CopyAttrs") -> int:
    """ADD of a local tar: its contents, owners kept (unless --chown), merged into dest as a directory."""
    from vessel.build.archive import extract_archive

    staging = trees.scratch("add")
    extract_archive(top.path, staging, top.rel)
    tree = SourceTree(staging, None, what=f"archive {top.rel}")
    (root,) = tree.resolve(".")
    return writer.copy_tree(list(tree.walk(root)), root, step.dest.rstrip("/") or "/", True, attrs)
