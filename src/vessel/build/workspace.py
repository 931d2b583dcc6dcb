"""Root filesystems a build step works in: overlay mounts, and the upper dir turned into a layer.

    with StepRoot(lowers, work / "3") as root:   # lowers + fresh upper, mounted at root.merged
        ... RUN or COPY writes into root.merged ...
    layer = commit_layer(store, root.upper, parent_chain, lowers)   # None: nothing changed

    with ReadOnlyView(lowers, target):          # a stage's or image's files, for COPY --from / mounts

The mounts are made in the builder's mount namespace (the CLI gives itself a
private one, so a killed build leaves none behind on the host) and always
unmounted on exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from vessel.build.cache import LayerRef
from vessel.errors import SystemFailure
from vessel.image.difftar import tar_directory
from vessel.image.mount import escape_option_path, overlay_mount
from vessel.image.snapshots import remove_tree
from vessel.runtime.linux import libc as L

if TYPE_CHECKING:
    from vessel.image.store import Store


def private_mount_namespace() -> None:
    """Give this process its own mount namespace whose mounts do not propagate to the host."""
    L.unshare(L.CLONE_NEWNS)
    L.mount(None, "/", None, L.MS_SLAVE | L.MS_REC)


def _mount(source: str, target: Path, fstype: str, flags: int, data: str, what: str) -> None:
    try:
        L.mount(source, str(target), fstype, flags, data)
    except OSError as err:
        raise SystemFailure.from_os_error(f"mount {what} on {target}", err,
                                          hint="vessel build needs root and overlayfs") from None


def unmount(target: Path) -> None:
    try:
        L.umount2(str(target), L.MNT_DETACH)
    except OSError as err:
        raise SystemFailure.from_os_error(f"unmount {target}", err) from None


class StepRoot:
    """``lowers`` (top first) + a fresh upper dir, mounted at ``<base>/merged``."""

    def __init__(self, lowers: Sequence[Path], base: Path) -> None:
        self.lowers = list(lowers)
        self.base = base
        self.upper = base / "upper"
        self.work = base / "work"
        self.merged = base / "merged"
        self.mounted = False

    def __enter__(self) -> "StepRoot":
        for path in (self.upper, self.work, self.merged):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.upper, 0o755)
        m = overlay_mount(self.lowers, self.upper, self.work, self.merged)
        _mount("overlay", self.merged, "overlay", 0, m.data, "the step's overlay")
        self.mounted = True
        return self

    def unmount(self) -> None:
        if self.mounted:
            unmount(self.merged)
            self.mounted = False

    def __exit__(self, *exc: object) -> None:
        self.unmount()

    def cleanup(self) -> None:
        self.unmount()
        if self.base.exists():
            remove_tree(self.base)


class ReadOnlyView:
    """The files of a stack of layers, mounted read-only at ``target``."""

    def __init__(self, lowers: Sequence[Path], target: Path, empty: Path) -> None:
        self.lowers = list(lowers)
        if len(self.lowers) < 2:  # overlayfs wants two lower dirs when it has no upper dir
            self.lowers.append(empty)
        self.target = target
        self.mounted = False

    def __enter__(self) -> "ReadOnlyView":
        self.target.mkdir(parents=True, exist_ok=True)
        data = "lowerdir=" + ":".join(escape_option_path(p) for p in self.lowers)
        _mount("overlay", self.target, "overlay", L.MS_RDONLY, data, "a read-only view")
        self.mounted = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.mounted:
            unmount(self.target)
            self.mounted = False


def claim_workdir(tmp_root: Path) -> tuple[Path, int]:
    """A fresh work dir under ``tmp_root``, locked (flock on its ``.lock``) while this build lives.

    Work dirs whose lock is free belong to builds that died (killed, crashed): they are removed
    first.  A new dir is prepared under a ``.new-`` name and renamed once locked, so a sweeping
    build never sees it unlocked.  The lock fd is close-on-exec: only this process holds it.
    """
    tmp_root.mkdir(parents=True, exist_ok=True)
    for entry in tmp_root.iterdir():
        if entry.name.startswith(".new-") or not entry.is_dir():
            continue
        try:
            fd = os.open(entry / ".lock", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live build
        finally:
            os.close(fd)
        remove_tree(entry)
    new = Path(tempfile.mkdtemp(prefix=".new-", dir=tmp_root))
    fd = os.open(new / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    work = tmp_root / new.name.removeprefix(".new-")
    os.rename(new, work)
    return work, fd


def is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


def commit_layer(store: "Store", upper: Path, parent_chain: str | None, lowers: Sequence[Path],
                 mtime: int | None = None) -> LayerRef | None:
    """The upper dir as a layer in the store (blob + snapshot); None when the step changed nothing.

    The caller holds ``store.using_blobs()``.  ``mtime`` clamps nothing: when given, every
    entry gets that time (SOURCE_DATE_EPOCH), else each keeps its own, in whole seconds.
    """
    if is_empty_dir(upper):
        return None
    fd, tmp = tempfile.mkstemp(dir=store.tmp, prefix="build-", suffix=".tar")
    try:
        with open(fd, "wb") as out:
            try:
                tar_directory(upper, out, overlay_whiteouts=True, opaque_xattr=store.snapshots.opaque_xattr,
                              mtime=mtime)
            except OSError as err:
                raise SystemFailure.from_os_error(f"reading {upper} for a new layer", err) from None
        with open(tmp, "rb") as stream:
            real_lowers = [p for p in lowers if p != store.snapshots.empty()]
            desc, meta = store.ingest_layer(stream, parent_chain, real_lowers)
        return LayerRef(desc.media_type, desc.digest, desc.size, meta.diff_id)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
