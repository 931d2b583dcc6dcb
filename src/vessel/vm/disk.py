"""Disks: a root filesystem into a cached ext4 base image, and a qcow2 overlay per VM.

The base is built without mounting anything: ``mkfs.ext4 -d DIR`` copies a
directory tree (owners, modes, links, devices) into a new sparse raw file.
Bases are cached per key under ``<root>/vm/images/<key>.raw``: the key is the
image digest when the caller has one (the image store), otherwise a fingerprint
of the tree or tarball.  Each VM writes only to its own
``disk.qcow2`` whose backing file is the shared base.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from vessel.errors import InvalidArgument, NotFound, SystemFailure

MIB = 1 << 20


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise NotFound(f"{what}: {argv[0]} is not installed",
                       hint="apt-get install e2fsprogs qemu-utils") from err
    if done.returncode != 0:
        raise SystemFailure(f"{what}: {' '.join(argv[:3])}... exited {done.returncode}: {done.stderr.strip()[-500:]}",
                            argv=" ".join(argv))
    return done


def tree_fingerprint(root: Path) -> str:
    """A cheap content key of a directory tree: paths, modes, owners, sizes and mtimes."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            digest.update(f"{rel}\0{st.st_mode}\0{st.st_uid}\0{st.st_gid}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def image_size(content_bytes: int) -> int:
    """Size of the (sparse) base image for this much content: room to grow, MiB-aligned."""
    want = max(256 * MIB, int(content_bytes * 1.5) + 128 * MIB)
    return -(-want // MIB) * MIB


def mkfs_argv(image: Path, source: Path, label: str = "vessel-root") -> list[str]:
    return ["mkfs.ext4", "-q", "-F", "-m", "0", "-L", label, "-E", "lazy_itable_init=1,lazy_journal_init=1",
            "-d", str(source), str(image)]


def build_ext4(source: Path, image: Path) -> Path:
    """Write ``source`` (a directory) into a new ext4 raw image at ``image``, atomically."""
    if not source.is_dir():
        raise InvalidArgument(f"root filesystem {source} is not a directory", path=str(source))
    tmp = image.with_name(image.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.truncate(image_size(tree_size(source)))
    try:
        _run(mkfs_argv(tmp, source), f"building ext4 image from {source}")
        os.replace(tmp, image)
    finally:
        tmp.unlink(missing_ok=True)
    return image


def base_image(images_dir: Path, rootfs: Path, key: str | None = None) -> Path:
    """The cached ext4 base for ``rootfs`` (directory, tarball, or an existing .raw/.img disk).

    A disk image is used as is.  ``key`` (an image digest) names the cache entry;
    without it the tree or tarball is fingerprinted.
    """
    rootfs = Path(rootfs)
    if not rootfs.exists():
        raise NotFound(f"root filesystem {rootfs} does not exist", path=str(rootfs))
    if rootfs.is_file() and rootfs.suffix in (".raw", ".img", ".ext4"):
        return rootfs.resolve()
    is_tar = rootfs.is_file()
    key = key or (file_fingerprint(rootfs) if is_tar else tree_fingerprint(rootfs))
    key = key.replace("sha256:", "")[:32]
    image = images_dir / f"{key}.raw"
    if image.exists():
        return image
    images_dir.mkdir(parents=True, exist_ok=True)
    if not is_tar:
        return build_ext4(rootfs, image)
    with tempfile.TemporaryDirectory(prefix="vessel-rootfs-", dir=images_dir) as tmp:
        _run(["tar", "-xpf", str(rootfs), "-C", tmp, "--numeric-owner"], f"unpacking {rootfs}")
        return build_ext4(Path(tmp), image)


def create_overlay(overlay: Path, base: Path) -> Path:
    """A qcow2 at ``overlay`` whose backing file is ``base`` (raw); the VM writes only here."""
    _run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536",
          "-b", str(base.resolve()), "-F", "raw", str(overlay)], f"creating disk overlay {overlay}")
    return overlay


def flatten(disk: Path, dest: Path) -> Path:
    """A standalone qcow2 copy of ``disk`` and its backing chain (used by export)."""
    _run(["qemu-img", "convert", "-O", "qcow2", str(disk), str(dest)], f"flattening disk {disk}")
    return dest


def rebase(overlay: Path, base: Path) -> None:
    """Point ``overlay`` at ``base`` without copying (both hold the same data)."""
    _run(["qemu-img", "rebase", "-u", "-b", str(base.resolve()), "-F", "raw", str(overlay)],
         f"rebasing disk {overlay}")
