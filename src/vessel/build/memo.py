"""The build memo: a rebuild whose inputs did not change is answered without parsing or planning.

After a successful build, ``<root>/build/memo/<key>.json`` records, for the
key of its options (Dockerfile text and name, context directory, build args,
target, labels, platform):

* the base images it resolved (reference -> image ID);
* the .dockerignore patterns and the file they came from;
* every read of the build context that went into a cache key: each COPY/ADD's
  (sources, --parents, --exclude) and each ``RUN --mount=type=bind`` source,
  with the digest ``context.sources_digest`` gave;
* the image ID, the steps as they were shown (``Step N/M : text`` and the
  ids after them) and the warnings.

``replay`` checks all of it again (the references still name the same
images, the patterns are the same, every digest recomputes to the same value,
the image is still in the store).  Then every step would have had the same
cache key as last time, so the layer cache would give back the same image:
the memo tags it directly and shows every step as `` ---> Using cache``.
Any difference, or any error, is a miss and the
normal path runs.  This module imports neither the parser nor the planner,
which is most of a fully cached rebuild's time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from vessel.build.context import SourceTree, sources_digest
from vessel.build.dockerignore import load_ignore, matcher
from vessel.errors import VesselError

if TYPE_CHECKING:
    from vessel.build.progress import Progress
    from vessel.image.store import Image, Store

VERSION = "vessel-build-memo-v2"


def memo_key(text: str, name: str, context_dir: Path, dockerfile_path: Path | None, build_args: Mapping[str, str],
             target: str | None, labels: Mapping[str, str], platform: str) -> str:
    """The key of a build's options (pure apart from resolving the two paths)."""
    body = {"version": VERSION, "text": text, "name": name, "context": os.path.realpath(context_dir),
            "dockerfile": os.path.realpath(dockerfile_path) if dockerfile_path is not None else None,
            "args": sorted(build_args.items()), "target": target, "labels": sorted(labels.items()),
            "platform": platform}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8", "surrogateescape")).hexdigest()


@dataclass
class Recorder:
    """What a normal build records for the memo while it runs."""

    bases: dict[str, str] = field(default_factory=dict)
    queries: list[dict] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    ignore_file: str | None = None

    def base(self, ref: str, image_id: str) -> None:
        self.bases[ref] = image_id

    def query(self, sources: list[str], parents: bool, excludes: list[str], digest: str) -> None:
        entry = {"sources": list(sources), "parents": parents, "excludes": list(excludes), "digest": digest}
        if entry not in self.queries:
            self.queries.append(entry)


def save(build_dir: Path, key: str, image_id: str, rec: Recorder, steps: list[dict], warnings: list[str]) -> None:
    """``steps``: what the executor showed, ``{"n", "total", "text", "base", "ids", "notes"}`` each."""
    body = {"version": VERSION, "image": image_id, "bases": rec.bases, "ignore": rec.ignore,
            "ignoreFile": rec.ignore_file, "queries": rec.queries, "steps": steps, "warnings": warnings}
    directory = build_dir / "memo"
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".memo-")
    try:
        with open(fd, "w") as out:
            json.dump(body, out)
        os.replace(tmp, directory / f"{key}.json")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def clear(build_dir: Path) -> int:
    count = 0
    for path in (build_dir / "memo").glob("*.json"):
        path.unlink()
        count += 1
    return count


def _load(build_dir: Path, key: str) -> dict | None:
    try:
        body = json.loads((build_dir / "memo" / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("version") == VERSION else None


def still_valid(store: "Store", body: dict, context_dir: Path, dockerfile_path: Path | None) -> "Image | None":
    """The recorded image if every recorded input is unchanged, else None."""
    try:
        patterns, source = load_ignore(context_dir, dockerfile_path)
        if patterns != body["ignore"] or (str(source) if source else None) != body["ignoreFile"]:
            return None
        for ref, image_id in body["bases"].items():
            found = store.find(ref)
            if found is None or found.id != image_id:
                return None
        tree = SourceTree(context_dir, matcher(patterns))
        for q in body["queries"]:
            if sources_digest(tree, q["sources"], q["parents"], q["excludes"]) != q["digest"]:
                return None
        return store.find(body["image"])
    except (VesselError, KeyError, TypeError, OSError):
        return None  # whatever went wrong, the normal path decides (and reports it)


@dataclass(frozen=True)
class Replayed:
    image: "Image"
    cached: int  # steps shown as cached (every one but the FROMs)
    warnings: tuple[str, ...]


def replay(store: "Store", build_dir: Path, key: str, context_dir: Path, dockerfile_path: Path | None,
           tags: list, progress: "Progress") -> Replayed | None:
    """Tag and show the recorded image when the memo still holds; None on a miss (nothing done)."""
    body = _load(build_dir, key)
    if body is None:
        return None
    image = still_valid(store, body, context_dir, dockerfile_path)
    if image is None:
        return None
    for tag in tags:
        store.tag(image.id, str(tag))
    warnings = tuple(str(w) for w in body.get("warnings", []))
    for warning in warnings:
        progress.warn(warning)
    return Replayed(image, show_steps(progress, body.get("steps", [])), warnings)


def show_steps(progress: "Progress", steps: list[dict]) -> int:
    """Show recorded steps as a fully cached build shows them; how many were cached."""
    cached = 0
    for entry in steps:
        view = progress.step(entry["n"], entry["total"], entry["text"])
        ids = list(entry["ids"])
        if entry["base"] and ids:
            view.done(ids.pop(0))
        for note in entry.get("notes", []):
            view.note(note)
        for ident in ids:
            view.cached()
            view.done(ident)
            cached += 1
    return cached
