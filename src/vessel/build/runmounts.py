"""``RUN --mount=type=cache|bind|tmpfs|secret|ssh``: from a parsed mount to what the container gets.

* ``bind``: a directory or file of the build context (as .dockerignore leaves
  it), of a stage or of an image; read-only by default; ``rw`` writes go to a
  throw-away overlay (or copy) and are discarded, as in BuildKit.
* ``cache``: ``<root>/build/cache/<id>``, kept across builds; created with
  ``mode``/``uid``/``gid``, seeded from ``from``/``source`` when new;
  ``sharing=locked`` holds an exclusive lock while the step runs,
  ``private`` takes another directory when the first is in use.
* ``tmpfs``: a fresh tmpfs (``size``).
* ``secret``: the secret's bytes in a private file (``mode`` 0400, ``uid``,
  ``gid``) bound at its target, and/or in the variable ``env``; a missing
  secret is an error only when ``required``.
* ``ssh``: there is no agent forwarding; an error when ``required``, skipped otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import quote

from vessel.build.context import SourceTree
from vessel.build.mounts import Mount as RunMount
from vessel.build.runspec import bind, tmpfs
from vessel.build.options import Secret
from vessel.build.workspace import StepRoot
from vessel.errors import InvalidArgument, NotFound, Unsupported
from vessel.oci.spec import Mount
from vessel.runtime.paths import secure_join


@dataclass
class MountSources:
    """Where bind and cache mounts find their files."""

    cache_root: Path
    context: SourceTree
    stage_root: Callable[[int], Path]
    image_root: Callable[[str], Path]
    secrets: Mapping[str, Secret]


@dataclass
class Prepared:
    mounts: list[Mount]
    env: list[str]


class MountPreparer:
    """Turns RUN mounts into spec mounts; everything it sets up is undone by ``stack``'s close."""

    def __init__(self, sources: MountSources, work: Path, stack: contextlib.ExitStack) -> None:
        self.sources = sources
        self.work = work
        self.stack = stack
        self.count = 0

    def _scratch(self, name: str) -> Path:
        self.count += 1
        path = self.work / f"{name}-{self.count}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def prepare(self, mounts: tuple[RunMount, ...]) -> Prepared:
        out = Prepared([], [])
        for m in mounts:
            if m.type == "bind":
                out.mounts.append(self._bind(m))
            elif m.type == "cache":
                out.mounts.append(self._cache(m))
            elif m.type == "tmpfs":
                out.mounts.append(tmpfs(m.target, m.size))
            elif m.type == "secret":
                self._secret(m, out)
            elif m.type == "ssh":
                if m.required:
                    raise Unsupported(f"RUN --mount=type=ssh,id={m.id}: vessel build does not forward an SSH agent",
                                      hint="drop required=true, or fetch what needs SSH before the build")
        return out

    # -- bind -----------------------------------------------------------------------------------

    def _source_root(self, m: RunMount) -> tuple[Path, SourceTree | None]:
        if m.from_stage is not None:
            return self.sources.stage_root(m.from_stage), None
        if m.from_image is not None:
            return self.sources.image_root(m.from_image), None
        return self.sources.context.root, self.sources.context

    def _bind(self, m: RunMount) -> Mount:
        root, tree = self._source_root(m)
        if tree is not None and tree.ignore is not None and tree.ignore.patterns:
            path = self._filtered_context(tree, m.source)
        else:
            path = Path(secure_join(str(root), m.source or "/"))
            if not path.exists():
                where = "the build context" if tree is not None else "the source stage or image"
                raise NotFound(f"RUN --mount=type=bind: {m.source or '/'} not found in {where}", source=m.source)
        if m.readonly:
            return bind(str(path), m.target, readonly=True)
        return bind(str(self._writable_copy(path)), m.target, readonly=False)

    def _filtered_context(self, tree: SourceTree, source: str) -> Path:
        """A hard-linked copy of the context part the mount names, without what .dockerignore hides."""
        (top,) = tree.resolve(source or ".")
        if not top.is_dir:
            return top.path
        farm = self._scratch("ctx")
        for entry in tree.walk(top):
            rel = entry.rel[len(top.rel) + 1:] if top.rel not in ("", ".") else entry.rel
            if entry.rel == top.rel:
                continue
            dest = farm / rel
            if entry.is_dir:
                dest.mkdir(mode=stat.S_IMODE(entry.st.st_mode))
            elif stat.S_ISLNK(entry.st.st_mode):
                os.symlink(os.readlink(entry.path), dest)
            elif stat.S_ISREG(entry.st.st_mode):
                try:
                    os.link(entry.path, dest)
                except OSError:
                    shutil.copy2(entry.path, dest)
        return farm

    def _writable_copy(self, path: Path) -> Path:
        if not path.is_dir():
            copy = self._scratch("rw") / path.name
            shutil.copy2(path, copy, follow_symlinks=False)
            return copy
        root = StepRoot([path, self._scratch("empty")], self._scratch("rwbind"))
        self.stack.enter_context(root)
        return root.merged

    # -- cache ----------------------------------------------------------------------------------

    def _cache(self, m: RunMount) -> Mount:
        base = self.sources.cache_root
        base.mkdir(parents=True, exist_ok=True)
        name = quote(m.id, safe="")
        path = base / name
        if m.sharing in ("locked", "private"):
            n = 0
            while not self._lock(base / f"{name}.lock", blocking=m.sharing == "locked"):
                n += 1
                name = f"{quote(m.id, safe='')}-private-{n}"
                path = base / name
        if not path.exists():
            self._new_cache_dir(m, path)
        return bind(str(path), m.target, readonly=m.readonly)

    def _lock(self, path: Path, blocking: bool) -> bool:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self.stack.callback(os.close, fd)
        return True

    def _new_cache_dir(self, m: RunMount, path: Path) -> None:
        tmp = path.with_name(path.name + ".new")
        if tmp.exists():
            shutil.rmtree(tmp)
        if m.from_stage is not None or m.from_image is not None:
            root, _ = self._source_root(m)
            seed = Path(secure_join(str(root), m.source or "/"))
            if not seed.is_dir():
                raise NotFound(f"RUN --mount=type=cache: {m.source or '/'} is not a directory of {m.from_}",
                               source=m.source)
            shutil.copytree(seed, tmp, symlinks=True)
        else:
            tmp.mkdir()
        os.chown(tmp, m.uid or 0, m.gid or 0)
        os.chmod(tmp, 0o755 if m.mode is None else m.mode)
        os.rename(tmp, path)

    # -- secret ---------------------------------------------------------------------------------

    def _secret(self, m: RunMount, out: Prepared) -> None:
        secret = self.sources.secrets.get(m.id)
        if secret is None:
            if m.required:
                raise InvalidArgument(f"secret {m.id} not found", hint=f"pass it with --secret id={m.id},src=FILE",
                                      secret=m.id)
            return
        if m.env:
            out.env.append(f"{m.env}={secret.data.decode('utf-8', 'replace')}")
        if m.target:
            path = self._scratch("secret") / "value"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with open(fd, "wb") as f:
                f.write(secret.data)
            os.chown(path, m.uid or 0, m.gid or 0)
            os.chmod(path, 0o400 if m.mode is None else m.mode)
            out.mounts.append(bind(str(path), m.target, readonly=True))
