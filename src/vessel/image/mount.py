"""A container's root filesystem as mount data: an overlay of snapshot dirs plus an upper dir (pure).

The store never mounts: ``overlay_mount(Store.rootfs_layers(image), upper, work, target)``
returns what to mount and the engine performs it (``Mount.mount_args()`` fits
``libc.mount``).  ``redirect_dir``, ``metacopy`` and ``index`` are off so an
upper dir is a plain diff that ``commit`` can turn into a layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from vessel.errors import InvalidArgument

MAX_MOUNT_DATA = 4095  # the kernel copies at most one page of mount options
OVERLAY_FIXED_OPTIONS = ("redirect_dir=off", "metacopy=off", "index=off")


@dataclass(frozen=True)
class Mount:
    """One mount as data: ``mount -t TYPE -o OPTIONS SOURCE TARGET``."""

    type: str
    source: str
    target: str
    options: tuple[str, ...] = ()

    @property
    def data(self) -> str:
        return ",".join(self.options)

    def mount_args(self) -> tuple[str, str, str, int, str]:
        """(source, target, fstype, flags, data) for ``libc.mount``."""
        return self.source, self.target, self.type, 0, self.data

    def to_spec(self):  # noqa: ANN201 (vessel.oci.spec.Mount, imported lazily)
        from vessel.oci.spec import Mount as SpecMount

        return SpecMount(destination=self.target, type=self.type, source=self.source, options=list(self.options))


def escape_option_path(path: str | Path) -> str:
    """overlayfs splits options at ',' and lowerdirs at ':'; a backslash escapes both."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def overlay_mount(lowers: Sequence[Path], upper: Path, work: Path, target: Path | str = "") -> Mount:
    """The overlay for a container: ``lowers`` top first (as ``Store.rootfs_layers`` gives them)."""
    if not lowers:
        raise InvalidArgument("an overlay needs at least one lower directory",
                              hint="Store.rootfs_layers() gives the empty snapshot for a zero-layer image")
    if Path(upper) == Path(work) or Path(work) in (Path(p) for p in lowers):
        raise InvalidArgument(f"overlay workdir {work} must differ from the upper and lower directories")
    options = (
        "lowerdir=" + ":".join(escape_option_path(p) for p in lowers),
        "upperdir=" + escape_option_path(upper),
        "workdir=" + escape_option_path(work),
        *OVERLAY_FIXED_OPTIONS,
    )
    mount = Mount("overlay", "overlay", str(target), options)
    if len(mount.data) > MAX_MOUNT_DATA:
        raise InvalidArgument(f"overlay options for {len(lowers)} layers are {len(mount.data)} bytes, more than the "
                              f"kernel's {MAX_MOUNT_DATA}", hint="flatten the image (export and import it) or use "
                              "a shorter --root path", layers=len(lowers))
    return mount
