"""Mount options of config.json -> mount(2) flags and data (pure, table-driven).

As runc's specconv: each option either sets or clears a flag, selects a
propagation type, or is passed to the filesystem as data.
"""

from __future__ import annotations

from dataclasses import dataclass

from vessel.runtime.linux import libc as L

# option -> (clear?, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, L.MS_RDONLY), "rw": (True, L.MS_RDONLY),
    "nosuid": (False, L.MS_NOSUID), "suid": (True, L.MS_NOSUID),
    "nodev": (False, L.MS_NODEV), "dev": (True, L.MS_NODEV),
    "noexec": (False, L.MS_NOEXEC), "exec": (True, L.MS_NOEXEC),
    "sync": (False, L.MS_SYNCHRONOUS), "async": (True, L.MS_SYNCHRONOUS),
    "dirsync": (False, L.MS_DIRSYNC),
    "remount": (False, L.MS_REMOUNT),
    "mand": (False, L.MS_MANDLOCK), "nomand": (True, L.MS_MANDLOCK),
    "noatime": (False, L.MS_NOATIME), "atime": (True, L.MS_NOATIME),
    "nodiratime": (False, L.MS_NODIRATIME), "diratime": (True, L.MS_NODIRATIME),
    "relatime": (False, L.MS_RELATIME), "norelatime": (True, L.MS_RELATIME),
    "strictatime": (False, L.MS_STRICTATIME), "nostrictatime": (True, L.MS_STRICTATIME),
    "lazytime": (False, L.MS_LAZYTIME), "nolazytime": (True, L.MS_LAZYTIME),
    "nosymfollow": (False, L.MS_NOSYMFOLLOW), "symfollow": (True, L.MS_NOSYMFOLLOW),
    "bind": (False, L.MS_BIND), "rbind": (False, L.MS_BIND | L.MS_REC),
    "silent": (False, L.MS_SILENT), "loud": (True, L.MS_SILENT),
}

PROPAGATION: dict[str, int] = {
    "private": L.MS_PRIVATE, "rprivate": L.MS_PRIVATE | L.MS_REC,
    "shared": L.MS_SHARED, "rshared": L.MS_SHARED | L.MS_REC,
    "slave": L.MS_SLAVE, "rslave": L.MS_SLAVE | L.MS_REC,
    "unbindable": L.MS_UNBINDABLE, "runbindable": L.MS_UNBINDABLE | L.MS_REC,
}

# Options the runtime understands but that are neither flags nor fs data.
IGNORED = frozenset({"tmpcopyup", "notmpcopyup", "idmap", "ridmap", "copy-symlink", "z", "Z", "U"})

# Flags that the kernel locks on a bind mount made in a less privileged mount
# namespace: a read-only remount must keep them (statvfs f_flag bits).
ST_RDONLY, ST_NOSUID, ST_NODEV, ST_NOEXEC = 1, 2, 4, 8
ST_NOATIME, ST_NODIRATIME, ST_RELATIME = 1024, 2048, 4096
STATVFS_TO_MS = {
    ST_NOSUID: L.MS_NOSUID, ST_NODEV: L.MS_NODEV, ST_NOEXEC: L.MS_NOEXEC,
    ST_NOATIME: L.MS_NOATIME, ST_NODIRATIME: L.MS_NODIRATIME, ST_RELATIME: L.MS_RELATIME,
}


@dataclass(frozen=True)
class MountOptions:
    flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str = ""

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & L.MS_BIND)

    @property
    def recursive(self) -> bool:
        return bool(self.flags & L.MS_REC)


def parse_options(options: list[str] | tuple[str, ...]) -> MountOptions:
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    for opt in options:
        if opt in FLAGS:
            clear, flag = FLAGS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in PROPAGATION:
            propagation.append(PROPAGATION[opt])
        elif opt in IGNORED:
            continue
        else:
            data.append(opt)
    return MountOptions(flags, tuple(propagation), ",".join(data))


def locked_flags(statvfs_flag: int) -> int:
    """MS_* flags to carry into a bind remount, from a statvfs f_flag value."""
    return sum(ms for st, ms in STATVFS_TO_MS.items() if statvfs_flag & st)
