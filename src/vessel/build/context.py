"""Where COPY and ADD read from: the build context (after .dockerignore), a stage or an image.

A ``SourceTree`` is a directory seen as a root: source paths are resolved
inside it (``..`` cannot leave it, symlinks are resolved as in a chroot),
globs are matched component by component with Go ``filepath.Match`` syntax,
and for the build context every path the ignore patterns exclude is treated
as absent.  ``digest()`` hashes what a COPY would read (relative names,
types, permission bits, file contents, link targets) for the layer cache:
modification times and owners are left out, as Docker leaves them out.

    tree = SourceTree(context_dir, matcher(patterns))
    for m in tree.resolve("src/*.py"):        # [Match], sorted; NotFound when nothing matches
        for e in tree.walk(m): ...            # the match then what is below it, parents first
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from vessel.build.dockerignore import Matcher, compile_pattern, go_clean
from vessel.errors import InvalidArgument, NotFound
from vessel.runtime.paths import secure_join

HASH_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of a source tree: ``rel`` is relative to the tree root, ``path`` the host path."""

    rel: str
    path: Path
    st: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def name(self) -> str:
        return posixpath.basename(self.rel) if self.rel not in ("", ".") else ""


def has_glob(pattern: str) -> bool:
    """Whether a source has unescaped ``*``, ``?`` or ``[`` (BuildKit's containsWildcards)."""
    escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "*?[":
            return True
    return False


def _unescape(text: str) -> str:
    out, escaped = [], False
    for ch in text:
        if ch == "\\" and not escaped:
            escaped = True
            continue
        out.append(ch)
        escaped = False
    return "".join(out)


def clean_source(path: str, what: str = "build context") -> str:
    """A source path relative to its root ("." for the root); refuses one that climbs out of it."""
    cleaned = go_clean(path.lstrip("/") if path.startswith("/") else path)
    if cleaned == ".." or cleaned.startswith("../"):
        raise InvalidArgument(f"forbidden path outside the {what}: {path}", path=path,
                              hint="COPY and ADD can only read files inside the build context")
    return cleaned.lstrip("/") or "."


class SourceTree:
    """A root directory to copy from; ``ignore`` hides paths of the build context."""

    def __init__(self, root: Path | str, ignore: Matcher | None = None, what: str = "build context") -> None:
        self.root = Path(os.path.realpath(root))
        self.ignore = ignore
        self.what = what
        self._hashes: dict[tuple[int, int, int, int], str] = {}

    # -- visibility ---------------------------------------------------------------------------

    def excluded(self, rel: str) -> bool:
        return self.ignore is not None and rel not in ("", ".") and self.ignore.excluded(rel)

    def _can_skip(self, rel: str) -> bool:
        return self.ignore is not None and self.ignore.can_skip_dir(rel)

    def host_path(self, rel: str) -> Path:
        return self.root if rel in ("", ".") else self.root / rel

    def _lstat(self, rel: str) -> os.stat_result | None:
        try:
            return os.lstat(self.host_path(rel))
        except OSError:
            return None

    # -- resolving sources --------------------------------------------------------------------

    def resolve(self, source: str) -> list[Entry]:
        """The entries a COPY source names: one path, or every match of a glob (sorted)."""
        rel = clean_source(source, self.what)
        if has_glob(rel):
            found = [self._entry(m) for m in self._glob(rel.split("/"), "")]
            if not found:
                raise NotFound(f'{self.what}: no source files match "{source}"', source=source,
                               hint="check the pattern and .dockerignore")
            return found
        rel = _unescape(rel)
        if self.excluded(rel):
            raise NotFound(f'{self.what}: "/{rel}" not found', source=source, hint=self._hint(rel))
        return [self._entry(rel)]

    def _hint(self, rel: str) -> str:
        if self.ignore is not None and self.excluded(rel):
            return f"{rel} is excluded by .dockerignore"
        return "the path is relative to the root of the build context" if self.ignore is not None else \
            "the path is absolute in the source stage or image"

    def _entry(self, rel: str) -> Entry:
        """``rel`` resolved inside the root: every symlink on the way (the source itself included) is
        followed as in a chroot, so nothing outside the root is ever read."""
        shown = "/" + rel.lstrip(".")
        try:
            real = Path(secure_join(str(self.root), rel))
        except OSError as err:
            raise NotFound(f'{self.what}: "{shown}": {err.strerror}', source=rel) from None
        target = os.path.relpath(real, self.root)
        if target != rel and self.excluded(target):
            raise NotFound(f'{self.what}: "{shown}" is a link to an excluded path', source=rel,
                           hint=f"{target} is excluded by .dockerignore")
        try:
            st = os.lstat(real)
        except OSError:
            dangling = real != self.host_path(rel)
            raise NotFound(f'{self.what}: "{shown}" ' + ("is a dangling symlink" if dangling else "not found"),
                           source=rel, hint=self._hint(rel)) from None
        return Entry(rel, real, st)

    def _glob(self, parts: list[str], prefix: str) -> Iterator[str]:
        head, rest = parts[0], parts[1:]
        directory = self.host_path(prefix)
        if not has_glob(head):
            names = [_unescape(head)]
        else:
            try:
                pattern = compile_pattern(head)
            except ValueError as err:
                raise InvalidArgument(f"bad source pattern {'/'.join(parts)!r}: {err}") from None
            try:
                names = sorted(n for n in os.listdir(directory) if pattern.match(n))
            except OSError:
                return
        for name in names:
            rel = f"{prefix}/{name}" if prefix else name
            st = self._lstat(rel)
            if st is None:
                continue
            if not rest:
                if not self.excluded(rel):
                    yield rel
            elif stat.S_ISDIR(st.st_mode) and not self._can_skip(rel):
                yield from self._glob(rest, rel)

    # -- walking ------------------------------------------------------------------------------

    def walk(self, top: Entry) -> Iterator[Entry]:
        """``top`` then, for a directory, everything visible below it, parents before children."""
        yield top
        if top.is_dir:
            yield from self._walk_dir(top.path, top.rel)

    def _walk_dir(self, directory: Path, rel: str) -> Iterator[Entry]:
        try:
            names = sorted(os.listdir(directory))
        except OSError as err:
            raise InvalidArgument(f"cannot read {self.what} directory /{rel}: {err.strerror}") from None
        for name in names:
            child_rel = f"{rel}/{name}" if rel not in ("", ".") else name
            path = directory / name
            st = os.lstat(path)
            if not self.excluded(child_rel):
                yield Entry(child_rel, path, st)
                if stat.S_ISDIR(st.st_mode):
                    yield from self._walk_dir(path, child_rel)
            elif stat.S_ISDIR(st.st_mode) and not self._can_skip(child_rel):
                below = list(self._walk_dir(path, child_rel))
                if below:  # a re-included file brings its (excluded) directory along
                    yield Entry(child_rel, path, st)
                    yield from below

    # -- hashing ------------------------------------------------------------------------------

    def file_digest(self, entry: Entry) -> str:
        st = entry.st
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._hashes.get(key)
        if cached is None:
            h = hashlib.sha256()
            with open(entry.path, "rb") as f:
                while chunk := f.read(HASH_CHUNK):
                    h.update(chunk)
            cached = self._hashes[key] = h.hexdigest()
        return cached

    def digest(self, tops: list[Entry], skip: Callable[[Entry, Entry], bool] | None = None) -> str:
        """sha256 over names, types, modes, contents and link targets of ``tops`` and what is below them."""
        h = hashlib.sha256()
        for top in tops:
            h.update(f"top\0{top.rel}\0".encode())
            for entry in self.walk(top):
                if skip is not None and skip(top, entry):
                    continue
                h.update(self.entry_key(entry).encode("utf-8", "surrogateescape") + b"\n")
        return "sha256:" + h.hexdigest()

    def entry_key(self, entry: Entry) -> str:
        mode = entry.st.st_mode
        if stat.S_ISREG(mode):
            body = "f:" + self.file_digest(entry)
        elif stat.S_ISDIR(mode):
            body = "d"
        elif stat.S_ISLNK(mode):
            body = "l:" + os.readlink(entry.path)
        else:
            body = f"o:{stat.S_IFMT(mode)}:{entry.st.st_rdev}"
        return f"{entry.rel}\0{stat.S_IMODE(mode):o}\0{body}"



# -- what COPY/ADD read, as one digest (the layer cache and the build memo use it) --------------------


def split_pivot(path: str) -> tuple[str, str | None]:
    """``x/./a/b`` -> (``x/a/b``, ``x``): with --parents only what follows ``/./`` is kept."""
    marker = path.find("/./")
    if marker < 0:
        return path, None
    prefix = path[:marker]
    return prefix + "/" + path[marker + 3:], clean_source(prefix) if prefix else "."


def kept_path(rel: str, pivot: str | None) -> str:
    """The part of ``rel`` that --parents keeps under the destination."""
    if pivot in (None, "", "."):
        return rel
    assert pivot is not None
    return rel[len(pivot) + 1:] if rel.startswith(pivot + "/") else rel


def exclude_filter(excludes: list[str] | tuple[str, ...]) -> Callable[[Entry, Entry], bool]:
    """(top, entry) -> whether ``--exclude`` drops ``entry`` (paths relative to the copied directory;
    a file source by its path or its name; a directory source itself is kept)."""
    if not excludes:
        return lambda top, entry: False
    try:
        excluder = Matcher(list(excludes))
    except ValueError as err:
        raise InvalidArgument(f"--exclude: {err}", value=list(excludes)) from None

    def skip(top: Entry, entry: Entry) -> bool:
        if entry.rel == top.rel:
            return not top.is_dir and (excluder.excluded(top.rel) or excluder.excluded(top.name))
        sub = entry.rel[len(top.rel) + 1:] if top.rel not in ("", ".") else entry.rel
        return excluder.excluded(sub)

    return skip


def sources_digest(tree: SourceTree, sources: list[str] | tuple[str, ...], parents: bool = False,
                   excludes: list[str] | tuple[str, ...] = ()) -> str:
    """The digest of what ``COPY [--parents] [--exclude] sources...`` reads from ``tree``."""
    skip = exclude_filter(excludes)
    h = hashlib.sha256()
    for source in sources:
        pattern, pivot = split_pivot(source) if parents else (source, None)
        for entry in tree.resolve(pattern):
            h.update(f"{kept_path(entry.rel, pivot)}\0".encode("utf-8", "surrogateescape"))
            h.update(tree.digest([entry], skip).encode())
    return "sha256:" + h.hexdigest()
