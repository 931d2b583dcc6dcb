"""From `linux.cgroupsPath` to one directory per hierarchy (pure)."""

from __future__ import annotations

from vessel.errors import InvalidArgument
from vessel.runtime.cgroups.layout import UNIFIED, Layout

DEFAULT_PARENT = "/vessel"
DEFAULT_SLICE = "system.slice"


def _clean(path: str, what: str) -> str:
    """Collapse duplicate slashes; refuse "." and ".." components (no escaping the hierarchy)."""
    parts = [p for p in path.split("/") if p]
    for p in parts:
        if p in (".", ".."):
            raise InvalidArgument(f"{what} {path!r} contains {p!r}", value=path,
                                  hint="cgroup paths may not walk up or refer to themselves")
    joined = "/".join(parts)
    return "/" + joined if path.startswith("/") else joined


def expand_slice(slice_name: str) -> str:
    """systemd's cgroupfs placement of a slice: "a-b.slice" -> "/a.slice/a-b.slice"; "-.slice" -> "/"."""
    if slice_name == "-.slice":
        return "/"
    if not slice_name.endswith(".slice") or "/" in slice_name:
        raise InvalidArgument(f"invalid systemd slice {slice_name!r}", value=slice_name,
                              hint='a slice name ends in ".slice" and has no "/", e.g. "machine.slice"')
    stem = slice_name[: -len(".slice")]
    if not stem or stem.startswith("-") or stem.endswith("-") or "--" in stem:
        raise InvalidArgument(f"invalid systemd slice {slice_name!r}", value=slice_name,
                              hint="dashes separate the parent slices; none may be empty")
    out, prefix = [], ""
    for part in stem.split("-"):
        prefix = f"{prefix}-{part}" if prefix else part
        out.append(prefix + ".slice")
    return "/" + "/".join(out)


def _systemd(cgroups_path: str) -> str:
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise InvalidArgument(f"systemd cgroupsPath {cgroups_path!r} is not slice:prefix:name", value=cgroups_path,
                              hint='e.g. "machine.slice:vessel:ID", or drop --systemd-cgroup for a plain path')
    slice_name, prefix, name = parts
    if not name or "/" in name or "/" in prefix:
        raise InvalidArgument(f"systemd cgroupsPath {cgroups_path!r} needs a name without '/'", value=cgroups_path)
    base = expand_slice(slice_name or DEFAULT_SLICE)
    if name.endswith(".slice"):
        unit = name
    else:
        unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    return base.rstrip("/") + "/" + unit


def resolve(layout: Layout, cgroups_path: str | None, container_id: str, systemd: bool = False) -> str:
    """The container's cgroup path.

    None or ""            -> "/vessel/<id>"
    "/a/b" (absolute)     -> "/a/b", relative to every hierarchy's root
    "a/b"  (relative)     -> "a/b", kept relative: `Manager.open` puts it under the caller's
                             own cgroup in each hierarchy (they can differ from one to the next)
    "slice:prefix:name"   -> "/<slice path>/<prefix>-<name>.scope" when `systemd` is set; there is
                             no systemd here, so the unit's place in cgroupfs is created directly.
    """
    del layout  # the path does not depend on the layout; kept for the API's symmetry
    if not cgroups_path:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise InvalidArgument(f"container id {container_id!r} cannot name a cgroup", value=container_id)
        return f"{DEFAULT_PARENT}/{container_id}"
    if systemd:
        return _clean(_systemd(cgroups_path), "cgroupsPath")
    cleaned = _clean(cgroups_path, "cgroupsPath")
    if cleaned in ("", "/"):
        raise InvalidArgument(f"cgroupsPath {cgroups_path!r} names the root of the hierarchy", value=cgroups_path,
                              hint="a container needs its own cgroup, e.g. /vessel/ID")
    return cleaned


def _base(mount_root: str, own: str | None) -> str:
    """The caller's own cgroup as a path below the mount point."""
    if not own or own.startswith("/.."):
        return "/"
    if mount_root in ("", "/"):
        return own
    if own == mount_root:
        return "/"
    if own.startswith(mount_root + "/"):
        return own[len(mount_root):]
    return own  # already relative to a cgroup namespace's root


def _join(mountpoint: str, mount_root: str, own: str | None, path: str) -> str:
    if path.startswith("/"):
        rel = path
    else:
        rel = _base(mount_root, own).rstrip("/") + "/" + path
    return mountpoint.rstrip("/") + rel


def cgroup_paths(layout: Layout, path: str) -> dict[str, str]:
    """controller (v1) or "unified" -> the absolute directory of cgroup `path` in that hierarchy."""
    out: dict[str, str] = {}
    for ctrl, point in sorted(layout.v1.items()):
        out[ctrl] = _join(point, layout.roots.get(point, "/"), layout.own.get(ctrl), path)
    if layout.unified is not None:
        out[UNIFIED] = _join(layout.unified, layout.roots.get(layout.unified, "/"), layout.own.get(UNIFIED), path)
    return out
