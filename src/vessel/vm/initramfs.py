"""vessel's initramfs: a shared base (busybox, modules, /init) plus a small per-VM segment.

The kernel accepts several cpio archives one after another in one initrd, so the
per-VM initrd is the cached base followed by an archive holding only
``/vessel/config.sh``.  The base is cached under ``<cache>/initramfs-<hash>.cpio``,
the hash covering the kernel release, the busybox binary and the init script.
Archives are left uncompressed: under TCG, gunzip in the guest costs more than
copying a few more megabytes into guest RAM.  Modules go in without their appended
signatures: checking them costs the guest ~0.1 s per boot under TCG (docs/vm.md).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from vessel.errors import NotFound
from vessel.vm import cpio
from vessel.vm.guest_init import INIT_SCRIPT, render_config
from vessel.vm.kernel import ALL_MODULES, GuestKernel, load_order, parse_modules_dep, strip_module_signature
from vessel.vm.spec import VmConfig

# Bumped whenever the base archive's layout or module treatment changes (names the cache entry).
BASE_FORMAT = "2: unsigned modules"
BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
APPLETS = ("sh", "mount", "umount", "insmod", "usleep", "sleep", "cat", "awk", "mkdir", "touch",
           "hostname", "ip", "kill", "reboot", "poweroff", "sync", "nsenter", "setsid", "env", "echo",
           "ls", "dmesg", "grep", "true")


def find_busybox(candidates: tuple[Path, ...] = BUSYBOX_CANDIDATES) -> Path:
    for path in candidates:
        if path.is_file():
            return path
    raise NotFound("no busybox binary for the guest initramfs",
                   hint="apt-get install busybox-static", tried=[str(c) for c in candidates])


def base_entries(busybox: bytes, kernel_release: str, modules: dict[str, bytes], init: str = INIT_SCRIPT) -> list[cpio.Entry]:
    """The members of the shared base archive (pure: contents are passed in)."""
    entries = [cpio.directory(d) for d in ("bin", "dev", "proc", "sys", "newroot", "vessel", "lib", "lib/modules")]
    entries.append(cpio.char_device("dev/console", 5, 1))
    entries.append(cpio.char_device("dev/null", 1, 3, 0o666))
    entries.append(cpio.file("bin/busybox", busybox, 0o755))
    entries += [cpio.symlink(f"bin/{applet}", "busybox") for applet in APPLETS]
    entries.append(cpio.file("init", init.encode(), 0o755))
    entries.append(cpio.file("vessel/kernel-release", kernel_release.encode() + b"\n"))
    entries += [cpio.file(f"lib/modules/{name}.ko", data) for name, data in sorted(modules.items())]
    return entries


def config_entries(config_sh: str) -> list[cpio.Entry]:
    """The per-VM archive: just the settings the init script sources."""
    return [cpio.file("vessel/config.sh", config_sh.encode(), 0o644)]


def _module_blobs(kernel: GuestKernel) -> dict[str, bytes]:
    deps = parse_modules_dep((kernel.modules_dir / "modules.dep").read_text())
    names = load_order(ALL_MODULES, deps)
    return {name: strip_module_signature((kernel.modules_dir / deps[name][0]).read_bytes()) for name in names}


def base_archive(cache_dir: Path, kernel: GuestKernel, busybox_path: Path | None = None) -> Path:
    """The cached base archive for ``kernel``, built on first use (atomically)."""
    busybox = (busybox_path or find_busybox()).read_bytes()
    digest = hashlib.sha256()
    for part in (BASE_FORMAT.encode(), kernel.release.encode(), busybox, INIT_SCRIPT.encode(),
                 " ".join(ALL_MODULES).encode()):
        digest.update(hashlib.sha256(part).digest())
    path = cache_dir / f"initramfs-{digest.hexdigest()[:16]}.cpio"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as out:
        cpio.write(out, base_entries(busybox, kernel.release, _module_blobs(kernel)))
    os.replace(tmp, path)
    return path


def module_order(kernel: GuestKernel, wanted: tuple[str, ...]) -> list[str]:
    deps = parse_modules_dep((kernel.modules_dir / "modules.dep").read_text())
    return load_order(wanted, deps)


def write_vm_initrd(dest: Path, base: Path, config: VmConfig, modules: list[str], volume_tags: list[str]) -> Path:
    """``dest`` = base archive + per-VM config archive."""
    segment = cpio.archive(config_entries(render_config(config, modules, volume_tags)))
    tmp = dest.with_suffix(".tmp")
    with open(tmp, "wb") as out, open(base, "rb") as src:
        while chunk := src.read(1 << 20):
            out.write(chunk)
        out.write(segment)
    os.replace(tmp, dest)
    return dest
