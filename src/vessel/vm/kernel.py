"""The guest kernel: Debian's cloud kernel and its modules, found on the host.

``find_kernel()`` picks the newest ``/boot/vmlinuz-*-cloud-amd64`` (package
``linux-image-cloud-amd64``); its virtio drivers are modules, so the initramfs
carries the few it needs, ordered by ``modules.dep``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vessel.errors import NotFound

KERNEL_GLOB = "vmlinuz-*-cloud-amd64"

# Modules each guest feature needs (dependencies are added from modules.dep).
TRANSPORT_MODULES = {"microvm": ("virtio_mmio",), "q35": ("virtio_pci",), "pc": ("virtio_pci",)}
BASE_MODULES = ("virtio_blk", "virtio_console")
NET_MODULES = ("virtio_net",)
VOLUME_MODULES = ("virtiofs",)
ALL_MODULES = ("virtio_mmio", "virtio_pci") + BASE_MODULES + NET_MODULES + VOLUME_MODULES


@dataclass(frozen=True, slots=True)
class GuestKernel:
    image: Path
    release: str
    modules_dir: Path


def _version_key(path: Path) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", path.name)]


def find_kernel(boot: Path = Path("/boot"), modules_root: Path = Path("/lib/modules")) -> GuestKernel:
    """The newest cloud kernel under ``boot`` with its modules under ``modules_root``."""
    found = sorted(boot.glob(KERNEL_GLOB), key=_version_key)
    if not found:
        raise NotFound(f"no guest kernel {boot}/{KERNEL_GLOB}",
                       hint="install it: apt-get install --no-install-recommends linux-image-cloud-amd64")
    image = found[-1]
    release = image.name[len("vmlinuz-"):]
    modules_dir = modules_root / release
    if not (modules_dir / "modules.dep").is_file():
        raise NotFound(f"no modules for guest kernel {release} in {modules_dir}",
                       hint="reinstall linux-image-cloud-amd64")
    return GuestKernel(image, release, modules_dir)


def parse_modules_dep(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """``modules.dep`` as {name: (relative path, dependency names)}."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, deps = line.split(":", 1)
        out[_module_name(path)] = (path, tuple(_module_name(d) for d in deps.split()))
    return out


def _module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return base.split(".ko", 1)[0].replace("-", "_")


def load_order(wanted: tuple[str, ...] | list[str], deps: dict[str, tuple[str, tuple[str, ...]]]) -> list[str]:
    """Module names to insmod in order: every module after all it depends on, each once."""
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in chain:
            raise ValueError(f"module dependency cycle: {' -> '.join(chain + (name,))}")
        if name not in deps:
            raise NotFound(f"kernel module {name} is not in modules.dep", module=name)
        for dep in deps[name][1]:
            visit(dep, chain + (name,))
        order.append(name)

    for name in wanted:
        visit(name, ())
    return order


MODULE_SIG_MARKER = b"~Module signature appended~\n"
_MODULE_SIG_INFO = 12  # struct module_signature: algo, hash, id_type, signer_len, key_id_len, pad[3], be32 sig_len


def strip_module_signature(data: bytes) -> bytes:
    """A module without its appended signature (the bytes ``strip`` or ``sign-file`` would leave).

    Under TCG the guest kernel spends ~0.1 s per boot hashing and checking the signatures
    of the initramfs modules (docs/vm.md); unsigned modules load without the check (the
    guest does not enforce signatures, it only notes a taint).  Unsigned input is returned as is.
    """
    if not data.endswith(MODULE_SIG_MARKER):
        return data
    info_end = len(data) - len(MODULE_SIG_MARKER)
    sig_len = int.from_bytes(data[info_end - 4:info_end], "big")
    end = info_end - _MODULE_SIG_INFO - sig_len
    if end <= 0:
        raise ValueError(f"malformed module signature (length {sig_len} for {len(data)} bytes)")
    return data[:end]


def modules_for(machine: str, network: bool, volumes: bool) -> tuple[str, ...]:
    """The top-level modules a guest with these features loads."""
    wanted = TRANSPORT_MODULES.get(machine, ("virtio_pci",)) + BASE_MODULES
    if network:
        wanted += NET_MODULES
    if volumes:
        wanted += VOLUME_MODULES
    return wanted


# --- direct (PVH) boot: the uncompressed ELF inside the bzImage ------------------------------

_MAGICS = ((b"\x02\x21\x4c\x18", "lz4"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\xfd7zXZ\x00", "xz"),
           (b"\x1f\x8b", "gzip"))


def bzimage_payload(data: bytes) -> tuple[str, bytes]:
    """The compressed kernel inside a bzImage, using the boot protocol's payload fields."""
    import struct

    if data[0x202:0x206] != b"HdrS":
        raise ValueError("not a bzImage (no HdrS header)")
    setup_sects = data[0x1F1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = data[start:start + length]
    for magic, kind in _MAGICS:
        if payload.startswith(magic):
            return kind, payload
    raise ValueError(f"unknown kernel compression (magic {payload[:4].hex()})")


def _decompress(kind: str, payload: bytes) -> bytes:
    import subprocess

    if kind == "gzip":
        import zlib
        return zlib.decompressobj(31).decompress(payload)
    if kind == "xz":
        import lzma
        return lzma.LZMADecompressor().decompress(payload)
    if kind == "zstd":
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(payload)
    # lz4 (Debian's choice): the lz4 tool reads the legacy frame; it warns about the trailing size word
    done = subprocess.run(["lz4", "-dc"], input=payload, capture_output=True, check=False)
    return done.stdout


def boot_image(cache_dir: Path, kernel: GuestKernel) -> Path:
    """The kernel QEMU should load: the uncompressed ELF (PVH entry, no in-guest decompression:
    about 0.3 s less per boot under TCG), cached; the bzImage itself when extraction fails."""
    import os

    target = cache_dir / f"vmlinux-{kernel.release}"
    if target.exists():
        return target
    try:
        kind, payload = bzimage_payload(kernel.image.read_bytes())
        elf = _decompress(kind, payload)
    except (ValueError, OSError, EOFError):
        return kernel.image
    if not elf.startswith(b"\x7fELF") or b"Xen\x00" not in elf:
        return kernel.image
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(elf)
    os.replace(tmp, target)
    return target
