"""Where the cgroup hierarchies are: read once from mountinfo and /proc/self/cgroup.

`detect()` is the only function here that touches the file system: it reads the
two proc files it is given, the unified root's ``cgroup.controllers`` and one
stat for swap accounting.  Everything else works on the resulting `Layout`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vessel.errors import SystemFailure, Unsupported

UNIFIED = "unified"  # key of the cgroup v2 hierarchy in Layout.own and Manager.paths


@dataclass(frozen=True)
class Mount:
    """One cgroup file system mount, as mountinfo shows it."""

    mountpoint: str
    root: str  # the directory of the hierarchy mounted there ("/" unless a subtree is bind-mounted)
    version: int  # 1 or 2
    controllers: frozenset[str]  # v1: from the super options (incl. "name=..."); v2: filled in by detect()


@dataclass(frozen=True)
class Layout:
    """The cgroup hierarchies of this host as the calling process sees them.

    mode:     "v1" (no cgroup2 mount), "v2" (cgroup2 only) or "hybrid" (both).
    v1:       v1 controller (or named hierarchy such as "name=systemd") -> mount point.
    unified:  mount point of the cgroup2 hierarchy, or None.
    own:      controller (or "unified") -> the caller's own cgroup, from /proc/self/cgroup.
    offers:   mount point -> controllers that hierarchy offers (v2: its root's cgroup.controllers).
    roots:    mount point -> the hierarchy directory mounted there (mountinfo field 4).
    memsw:    the v1 memory hierarchy accounts swap (memory.memsw.* files exist).
    """

    mode: str
    v1: dict[str, str] = field(default_factory=dict)
    unified: str | None = None
    own: dict[str, str] = field(default_factory=dict)
    offers: dict[str, frozenset[str]] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    memsw: bool = False

    def unified_controllers(self) -> frozenset[str]:
        """Controllers used through the unified hierarchy (all of them on v2, the leftovers on hybrid)."""
        if self.unified is None:
            return frozenset()
        return self.offers.get(self.unified, frozenset()) - set(self.v1)

    def where(self, controller: str) -> str | None:
        """"v1", "v2" or None: which hierarchy would handle `controller`."""
        if controller in self.v1:
            return "v1"
        if controller in self.unified_controllers():
            return "v2"
        return None


def _unescape(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 3 < len(text) and text[i + 1:i + 4].isdigit():
            out.append(chr(int(text[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """The cgroup and cgroup2 mounts of a mountinfo file, in file order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 4:
            continue
        fstype, super_opts = fields[sep + 1], fields[sep + 3]
        if fstype == "cgroup2":
            mounts.append(Mount(_unescape(fields[4]), _unescape(fields[3]), 2, frozenset()))
        elif fstype == "cgroup":
            ctrls = frozenset(o for o in super_opts.split(",") if o not in _V1_NON_CONTROLLER_OPTS
                              and not o.startswith(("release_agent=", "none")))
            if ctrls:
                mounts.append(Mount(_unescape(fields[4]), _unescape(fields[3]), 1, ctrls))
    return mounts


_V1_NON_CONTROLLER_OPTS = frozenset({"rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode",
                                     "favordynmods", "nofavordynmods"})


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup -> controller (or "unified" for the 0:: line) -> cgroup path."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hid, ctrls, path = parts
        if path.endswith(" (deleted)"):
            path = path[: -len(" (deleted)")]
        if ctrls == "":
            own[UNIFIED] = path
        else:
            for ctrl in ctrls.split(","):
                own[ctrl] = path
    return own


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def detect(mountinfo: Path = Path("/proc/self/mountinfo"), proc_cgroup: Path = Path("/proc/self/cgroup"),
           *, sysroot: Path | None = None) -> Layout:
    """Read the cgroup layout of this host.

    `sysroot` prefixes every mount point (unit tests point it at a fixture tree).
    A v1 hierarchy or cgroup2 mount seen twice is used where it is first mounted.
    """
    try:
        mounts = parse_mountinfo(_read(str(mountinfo)))
        own = parse_proc_cgroup(_read(str(proc_cgroup)))
    except OSError as err:
        raise SystemFailure.from_os_error(f"cannot read the cgroup layout from {err.filename}", err,
                                          hint="is /proc mounted?") from err
    prefix = str(sysroot).rstrip("/") if sysroot is not None else ""
    v1: dict[str, str] = {}
    offers: dict[str, frozenset[str]] = {}
    roots: dict[str, str] = {}
    unified = None
    for m in mounts:
        point = prefix + m.mountpoint
        if m.version == 2:
            if unified is None:
                unified = point
                roots[point] = m.root
                offers[point] = _unified_controllers(point)
            continue
        if any(c in v1 for c in m.controllers):
            continue  # the same hierarchy mounted again
        roots[point] = m.root
        offers[point] = m.controllers
        for ctrl in m.controllers:
            v1[ctrl] = point
    real_v1 = [c for c in v1 if not c.startswith("name=")]
    if real_v1 and unified:
        mode = "hybrid"
    elif real_v1:
        mode = "v1"
    elif unified:
        mode = "v2"
    else:
        raise Unsupported("no cgroup hierarchy is mounted (neither cgroup v1 controllers nor cgroup2 in "
                          f"{mountinfo})", hint="mount cgroup2 on /sys/fs/cgroup")
    memsw = "memory" in v1 and os.path.exists(os.path.join(v1["memory"], "memory.memsw.limit_in_bytes"))
    return Layout(mode=mode, v1=v1, unified=unified, own=own, offers=offers, roots=roots, memsw=memsw)


def _unified_controllers(point: str) -> frozenset[str]:
    try:
        return frozenset(_read(os.path.join(point, "cgroup.controllers")).split())
    except OSError:
        return frozenset()
