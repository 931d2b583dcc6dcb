"""Base images made without a registry: busybox, debian:<suite>, scratch.

busybox: one deterministic layer from Debian's busybox-static (``/bin/busybox``
plus a hardlink per applet in /bin, /etc/passwd and /etc/group with root and
nobody, /root, /tmp 1777, /var, /home), like Docker Hub's busybox.  Every
timestamp is the busybox binary's mtime and entries are sorted, so building it
twice gives the same image ID.

debian:<suite>: ``debootstrap --variant=minbase`` from the Debian mirror named
in /etc/apt/sources.list(.d) (needs root and the mirror; ~30 s), apt caches
and lists removed.  scratch: the empty image (not stored; a base for builds).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vessel.errors import InvalidArgument, SystemFailure, Unsupported
from vessel.image.changes import DEFAULT_PATH, format_time
from vessel.image.difftar import TarBuilder
from vessel.image.reference import Reference, parse_reference
from vessel.image.snapshots import remove_tree
from vessel.image.store import Image, Store
from vessel.oci.image import MEDIA_TYPE_CONFIG, ContainerConfig, Descriptor, ImageConfig, Manifest

BUSYBOX = "docker.io/library/busybox:latest"
DEBIAN_REPO = "docker.io/library/debian"
SCRATCH = "docker.io/library/scratch:latest"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"
BUSYBOX_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "root": 0o700, "tmp": 0o1777,
                "usr": 0o755, "usr/sbin": 0o755, "var": 0o755, "var/spool": 0o755, "var/spool/mail": 0o755,
                "var/www": 0o755}
_APPLET = re.compile(r"[A-Za-z0-9_.\[\]-]+\Z")


@dataclass(frozen=True)
class BootstrapConfig:
    """Where the base images come from (injected so tests can point elsewhere)."""

    busybox: Path = Path("/bin/busybox")
    apt_sources: tuple[Path, ...] = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
    debootstrap: str = "debootstrap"
    timeout: float = 900.0


def _config(store: Store) -> BootstrapConfig:
    return store.bootstrap_config or BootstrapConfig()


def auto_bootstrap_name(text: str) -> str | None:
    """The base vessel builds on first use for ``text`` (only busybox: debian needs the network)."""
    ref = parse_reference(text) if text else None
    return "busybox" if ref is not None and str(ref) == BUSYBOX else None


def base_hint(ref: Reference) -> str | None:
    if str(ref) == BUSYBOX:
        return "build it with `vessel image bootstrap busybox`"
    if ref.name == DEBIAN_REPO and ref.tag:
        return f"build it with `vessel image bootstrap debian:{ref.tag}` (debootstrap, ~30 s)"
    return None


def ensure_base(store: Store, name: str) -> Image:
    """The base image ``name``, built if the store lacks it."""
    ref = parse_reference(name)
    if str(ref) == SCRATCH:
        return scratch_image()
    existing = store.find(str(ref))
    if existing is not None:
        return existing
    return build_base(store, name)


def build_base(store: Store, name: str) -> Image:
    """Build (again) the base image ``name`` and tag it."""
    ref = parse_reference(name)
    if str(ref) == BUSYBOX:
        return build_busybox(store, ref)
    if ref.name == DEBIAN_REPO and ref.tag and re.fullmatch(r"[a-z]+", ref.tag):
        return build_debian(store, ref.tag, ref)
    if str(ref) == SCRATCH:
        return scratch_image()
    raise InvalidArgument(f"vessel cannot build {ref.familiar} by itself",
                          hint="bootstrap knows busybox, debian:<suite> (e.g. debian:bookworm) and scratch; "
                               "other images come from `vessel image load` or `vessel image import`", value=name)


def scratch_image() -> Image:
    """The empty image: no layer, empty config; not stored (``FROM scratch``)."""
    config = ImageConfig()
    data = config.to_json()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    manifest = Manifest(config=Descriptor(MEDIA_TYPE_CONFIG, digest, len(data)))
    return Image(digest, "", 0, manifest, config, (parse_reference(SCRATCH),))


# -- busybox ------------------------------------------------------------------------------------


def busybox_applets(busybox: Path) -> list[str]:
    try:
        out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30).stdout
    except FileNotFoundError as err:
        raise Unsupported(f"{busybox} is missing: cannot build the busybox image",
                          hint="apt-get install busybox-static") from err
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        raise SystemFailure(f"`{busybox} --list` failed: {err}") from err
    names = sorted({line.strip() for line in out.splitlines()} - {"", "busybox"})
    bad = [n for n in names if not _APPLET.match(n)]
    if bad:
        raise SystemFailure(f"`{busybox} --list` printed unexpected names: {bad[:3]}")
    return names


def busybox_version(busybox: Path) -> str:
    result = subprocess.run([str(busybox)], capture_output=True, text=True, timeout=30)
    first = (result.stdout or result.stderr).splitlines()[:1]
    return first[0].split(" multi-call")[0] if first else "BusyBox"


def write_busybox_layer(out: BinaryIO, busybox: Path, applets: list[str], mtime: int) -> None:
    """The busybox root filesystem as a tar, entries sorted (hardlinks after /bin/busybox)."""
    builder = TarBuilder(out)
    size = busybox.stat().st_size
    files = {"etc/group": GROUP.encode(), "etc/passwd": PASSWD.encode()}
    names = sorted(set(BUSYBOX_DIRS) | set(files))
    for name in names:
        if name in BUSYBOX_DIRS:
            builder.dir(name, BUSYBOX_DIRS[name], mtime=mtime)
        else:
            builder.file(name, io.BytesIO(files[name]), len(files[name]), 0o644, mtime=mtime)
        if name == "bin":
            with open(busybox, "rb") as data:
                builder.file("bin/busybox", data, size, 0o755, mtime=mtime)
            for applet in applets:
                builder.hardlink(f"bin/{applet}", "bin/busybox", 0o755, mtime=mtime)
    builder.close()


def build_busybox(store: Store, ref: Reference) -> Image:
    busybox = _config(store).busybox
    if not busybox.is_file():
        raise Unsupported(f"{busybox} is missing: cannot build the busybox image", hint="apt-get install busybox-static")
    mtime = int(busybox.stat().st_mtime)
    applets = busybox_applets(busybox)
    with store.using_blobs():  # gc leaves our temp file alone
        return _build_busybox(store, ref, busybox, applets, mtime)


def _build_busybox(store: Store, ref: Reference, busybox: Path, applets: list[str], mtime: int) -> Image:
    from vessel.image.ingest import create_image

    fd, tmp = tempfile.mkstemp(dir=store.tmp, prefix="busybox-", suffix=".tar")
    try:
        with open(fd, "wb") as out:
            write_busybox_layer(out, busybox, applets, mtime)
        return create_image(store, None, [Path(tmp)], config=ContainerConfig(env=[DEFAULT_PATH], cmd=["sh"]),
                            created_by=f"vessel image bootstrap busybox ({busybox_version(busybox)})",
                            created=format_time(mtime), reference=ref)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# -- debian ---------------------------------------------------------------------------------------


def mirror_from_sources(texts: list[tuple[str, str]], suite: str) -> str | None:
    """The first Debian archive URI (not security) among apt sources, one-line or deb822 format."""
    candidates: list[tuple[str, list[str]]] = []
    for name, text in texts:
        if name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = _deb822(stanza)
                if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                    for uri in fields.get("uris", "").split():
                        candidates.append((uri, fields.get("suites", "").split()))
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    candidates.append((words[1], [words[2]]))
    usable = [(uri, suites) for uri, suites in candidates
              if "security" not in uri and uri.startswith(("http://", "https://"))]
    for uri, suites in usable:
        if suite in suites:
            return uri.rstrip("/")
    return usable[0][0].rstrip("/") if usable else None


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    current = None
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace() and current:
            fields[current] += " " + line.strip()
            continue
        key, _, value = line.partition(":")
        current = key.strip().lower()
        fields[current] = value.strip()
    return fields


def _read_sources(paths: tuple[Path, ...]) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        for f in files:
            if f.is_file() and f.suffix in (".list", ".sources"):
                out.append((f.name, f.read_text(errors="replace")))
    return out


def build_debian(store: Store, suite: str, ref: Reference) -> Image:
    cfg = _config(store)
    if not store.is_root:
        raise Unsupported(f"building debian:{suite} needs root (debootstrap)", hint="run as root")
    if shutil.which(cfg.debootstrap) is None:
        raise Unsupported("debootstrap is not installed", hint="apt-get install debootstrap")
    mirror = mirror_from_sources(_read_sources(cfg.apt_sources), suite)
    if mirror is None:
        raise Unsupported("no Debian mirror in the apt sources", hint="add one to /etc/apt/sources.list")
    with store.using_blobs():  # a gc during the ~30 s debootstrap must not remove its work dir
        return _debootstrap(store, cfg, suite, mirror, ref)


def _debootstrap(store: Store, cfg: BootstrapConfig, suite: str, mirror: str, ref: Reference) -> Image:
    from vessel.image.ingest import import_directory

    work = Path(tempfile.mkdtemp(dir=store.tmp, prefix="debootstrap-"))
    try:
        rootfs = work / "rootfs"
        cmd = [cfg.debootstrap, "--variant=minbase", suite, str(rootfs), mirror]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg.timeout)
        except subprocess.TimeoutExpired as err:
            raise SystemFailure(f"debootstrap {suite} took more than {cfg.timeout:.0f} s") from err
        if result.returncode != 0:
            tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-3:])
            raise SystemFailure(f"debootstrap {suite} from {mirror} failed (exit {result.returncode}): {tail}")
        _tidy_rootfs(rootfs)
        return import_directory(store, rootfs, reference=ref,
                                config=ContainerConfig(env=[DEFAULT_PATH], cmd=["bash"]),
                                created_by=f"debootstrap --variant=minbase {suite} {mirror}")
    finally:
        remove_tree(work)


def _tidy_rootfs(rootfs: Path) -> None:
    """Drop what a container image should not carry: apt caches and lists, host identity, logs."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*_*",
                    "var/log/bootstrap.log"):
        for path in rootfs.glob(pattern):
            path.unlink()
    for name in ("etc/hostname", "etc/resolv.conf"):
        path = rootfs / name
        if path.exists() or path.is_symlink():
            path.unlink()
            path.write_text("")
