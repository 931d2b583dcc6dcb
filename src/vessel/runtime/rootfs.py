"""Prepare the container's root filesystem inside its mount namespace (the shell).

Called by init (already in the new mount namespace, before pivot_root):
propagation, the bind of the rootfs onto itself, the config's mounts in
order, devices, then pivot_root and the post-pivot steps (masked and
read-only paths, read-only root, final propagation).
"""

from __future__ import annotations

import errno
import os
import stat

from vessel.errors import InvalidArgument, SystemFailure
from vessel.oci.spec import Device, Mount, Spec
from vessel.runtime.linux import libc as L
from vessel.runtime.mountopts import PROPAGATION, locked_flags, parse_options
from vessel.runtime.paths import secure_join

DEFAULT_DEVICES = (
    Device(type="c", path="/dev/null", major=1, minor=3, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/zero", major=1, minor=5, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/full", major=1, minor=7, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/random", major=1, minor=8, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/urandom", major=1, minor=9, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/tty", major=5, minor=0, file_mode=0o666, uid=0, gid=0),
)
DEV_LINKS = (("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
             ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"))


def _fail(what: str, err: OSError, **fields) -> SystemFailure:
    return SystemFailure.from_os_error(what, err, **fields)


def _mkdir_p(path: str) -> None:
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
    except FileExistsError:
        pass


def _make_mountpoint(dest: str, source_is_dir: bool) -> None:
    if os.path.lexists(dest):
        return
    if source_is_dir:
        _mkdir_p(dest)
    else:
        _mkdir_p(os.path.dirname(dest))
        os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _cgroup_mount(dest: str, mnt: Mount, ctx: "RootfsContext") -> None:
    opts = parse_options(mnt.options)
    base = opts.flags & ~(L.MS_BIND | L.MS_REC | L.MS_RDONLY)
    if ctx.cgroup_v2_only:
        L.mount("cgroup2", dest, "cgroup2", opts.flags & ~(L.MS_BIND | L.MS_REC))
        return
    L.mount("tmpfs", dest, "tmpfs", base, "mode=755")
    for name, host_dir in sorted(ctx.cgroup_dirs.items()):
        sub = os.path.join(dest, name.removeprefix("name="))  # "name=systemd" -> systemd
        _mkdir_p(sub)
        if ctx.cgroupns:
            if name == "unified":
                L.mount("cgroup2", sub, "cgroup2", base)
            else:
                L.mount("cgroup", sub, "cgroup", base, f"none,{name}" if name.startswith("name=") else name)
        else:
            L.mount(host_dir, sub, None, L.MS_BIND)
            L.mount(None, sub, None, L.MS_BIND | L.MS_REMOUNT | base | L.MS_RDONLY)
    if opts.flags & L.MS_RDONLY:
        L.mount(None, dest, None, L.MS_REMOUNT | base | L.MS_RDONLY)


class RootfsContext:
    """What mounting needs besides the spec: the cgroup directories to expose."""

    def __init__(self, cgroup_dirs: dict[str, str], cgroupns: bool, cgroup_v2_only: bool, userns: bool) -> None:
        self.cgroup_dirs = cgroup_dirs
        self.cgroupns = cgroupns
        self.cgroup_v2_only = cgroup_v2_only
        self.userns = userns


def mount_one(rootfs: str, mnt: Mount, ctx: RootfsContext) -> None:
    dest = secure_join(rootfs, mnt.destination)
    opts = parse_options(mnt.options)
    is_bind = opts.is_bind or mnt.type == "bind"
    try:
        if is_bind:
            source = mnt.source or ""
            try:
                src_is_dir = stat.S_ISDIR(os.stat(source).st_mode)
            except OSError as err:
                raise InvalidArgument(f"bind mount source {source!r} for {mnt.destination}: {err.strerror}",
                                      source=source, hint="create the source path on the host first") from None
            _make_mountpoint(dest, src_is_dir)
            L.mount(source, dest, None, L.MS_BIND | (opts.flags & L.MS_REC))
            extra = opts.flags & ~(L.MS_BIND | L.MS_REC)
            if extra:
                keep = locked_flags(os.statvfs(dest).f_flag)
                L.mount(None, dest, None, L.MS_BIND | L.MS_REMOUNT | extra | keep)
        elif mnt.type == "cgroup":
            _make_mountpoint(dest, True)
            _cgroup_mount(dest, mnt, ctx)
        else:
            _make_mountpoint(dest, True)
            data = opts.data
            if mnt.type == "mqueue" or mnt.type == "sysfs":
                pass
            L.mount(mnt.source or mnt.type or "none", dest, mnt.type, opts.flags, data or None)
        for prop in opts.propagation:
            L.mount(None, dest, None, prop)
    except OSError as err:
        if mnt.type == "sysfs" and ctx.userns and err.errno == errno.EPERM:
            # sysfs needs a network namespace owned by the user namespace: fall back to a bind.
            L.mount("/sys", dest, None, L.MS_BIND | L.MS_REC)
            return
        raise _fail(f"mount {mnt.source or mnt.type} on {mnt.destination} (options {','.join(mnt.options)})",
                    err, destination=mnt.destination) from None


def _dev_is_tmpfs(spec: Spec) -> bool:
    return any(m.destination == "/dev" and m.type == "tmpfs" for m in spec.mounts)


def create_devices(rootfs: str, spec: Spec, ctx: RootfsContext) -> None:
    devices = list(spec.linux.devices) if spec.linux else []
    if _dev_is_tmpfs(spec):
        known = {d.path for d in devices}
        devices = [d for d in DEFAULT_DEVICES if d.path not in known] + devices
        for target, link in DEV_LINKS:
            path = secure_join(rootfs, link)
            if not os.path.lexists(path):
                os.symlink(target, path)
        ptmx = secure_join(rootfs, "/dev/ptmx")
        if not os.path.lexists(ptmx):
            os.symlink("pts/ptmx", ptmx)
    old_umask = os.umask(0)
    try:
        for dev in devices:
            _make_device(rootfs, dev, ctx.userns)
    finally:
        os.umask(old_umask)


def _make_device(rootfs: str, dev: Device, userns: bool) -> None:
    dest = secure_join(rootfs, dev.path)
    _mkdir_p(os.path.dirname(dest))
    if os.path.lexists(dest) and not stat.S_ISDIR(os.lstat(dest).st_mode):
        os.unlink(dest)
    kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[dev.type]
    mode = (dev.file_mode if dev.file_mode is not None else 0o666) & 0o7777
    try:
        if userns:
            raise PermissionError(errno.EPERM, "mknod in a user namespace")
        os.mknod(dest, kind | mode, os.makedev(dev.major or 0, dev.minor or 0))
        os.chown(dest, dev.uid or 0, dev.gid or 0)
    except PermissionError:
        if dev.type == "p":
            raise
        _make_mountpoint(dest, False)
        L.mount(dev.path, dest, None, L.MS_BIND)


def prepare(spec: Spec, rootfs: str, ctx: RootfsContext) -> None:
    """Everything before pivot_root."""
    propagation = spec.linux.rootfs_propagation if spec.linux else None
    # pivot_root refuses a shared parent: start from rslave (or the requested
    # non-shared type); a shared propagation is applied in finish().
    flag = PROPAGATION.get(propagation or "", 0)
    if not flag or flag & L.MS_SHARED:
        flag = L.MS_SLAVE | L.MS_REC
    L.mount(None, "/", None, flag)
    L.mount(rootfs, rootfs, None, L.MS_BIND | L.MS_REC)
    for mnt in spec.mounts:
        mount_one(rootfs, mnt, ctx)
    create_devices(rootfs, spec, ctx)


def pivot(rootfs: str) -> None:
    os.chdir(rootfs)
    try:
        L.pivot_root(".", ".")
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise _fail(f"pivot_root into {rootfs}", err) from None
        # ramfs/initramfs roots cannot be pivoted: move the root and chroot, as runc --no-pivot does.
        L.mount(rootfs, "/", None, L.MS_MOVE)
        os.chroot(".")
        os.chdir("/")
        return
    L.mount(None, ".", None, L.MS_SLAVE | L.MS_REC)  # old root: stop propagating our unmount to the host
    L.umount2(".", L.MNT_DETACH)
    os.chdir("/")


def finish(spec: Spec) -> None:
    """Everything after pivot_root: masked and read-only paths, read-only root, propagation."""
    linux = spec.linux
    if linux:
        for key, value in linux.sysctl.items():  # before /proc/sys turns read-only, as runc does
            _sysctl(key, value)
        for path in linux.readonly_paths:
            _readonly(path)
        for path in linux.masked_paths:
            _mask(path)
    if spec.root and spec.root.readonly:
        keep = locked_flags(os.statvfs("/").f_flag)
        try:
            L.mount(None, "/", None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY | keep)
        except OSError as err:
            raise _fail("remount the root filesystem read-only", err) from None
    if linux and linux.rootfs_propagation in ("shared", "rshared", "slave", "rslave", "private", "rprivate",
                                               "unbindable", "runbindable"):
        L.mount(None, "/", None, PROPAGATION[linux.rootfs_propagation])


def _mask(path: str) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return
    try:
        if stat.S_ISDIR(st.st_mode):
            L.mount("tmpfs", path, "tmpfs", L.MS_RDONLY, "size=0k")
        else:
            L.mount("/dev/null", path, None, L.MS_BIND)
    except OSError as err:
        raise _fail(f"mask {path}", err) from None


def _readonly(path: str) -> None:
    if not os.path.exists(path):
        return
    try:
        L.mount(path, path, None, L.MS_BIND | L.MS_REC)
        keep = locked_flags(os.statvfs(path).f_flag)
        L.mount(None, path, None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY | L.MS_REC | keep)
    except OSError as err:
        raise _fail(f"make {path} read-only", err) from None


def _sysctl(key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as err:
        raise _fail(f"set sysctl {key}={value}", err, hint="only namespaced sysctls can be set in a container") from None
