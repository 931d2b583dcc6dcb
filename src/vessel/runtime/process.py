"""Turn the calling process into the container's process and execve it.

Used by init (after start) and by exec (after joining the namespaces).  The
order follows runc: rlimits, oom score, no_new_privs, bounding set, user
(with PR_SET_KEEPCAPS), capabilities, umask and cwd, fd hygiene, seccomp last,
then execve.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

from vessel.errors import InvalidArgument, NotFound, SystemFailure, Unsupported
from vessel.oci.spec import Process, Seccomp
from vessel.runtime.linux import libc as L

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ExecError(SystemFailure):
    """The program could not be executed; exit_code is 126 (not executable) or 127 (not found)."""


def env_path(env: list[str]) -> str:
    for entry in env:
        if entry.startswith("PATH="):
            return entry[5:]
    return DEFAULT_PATH


def find_executable(name: str, env: list[str], cwd: str = "/") -> str:
    """Resolve args[0] as execvp would, inside the current root."""
    if "/" in name:
        path = name if name.startswith("/") else os.path.join(cwd, name)
        _check_executable(path, name)
        return path
    for directory in env_path(env).split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    err = ExecError(f"exec: {name!r}: executable file not found in $PATH",
                    hint="check the image's PATH and that the program is installed in it", path=name)
    err.exit_code = 127
    raise err


def _check_executable(path: str, name: str) -> None:
    try:
        st = os.stat(path)
    except OSError as e:
        err = ExecError(f"exec: {name!r}: {e.strerror}", path=name)
        err.exit_code = 127 if e.errno == errno.ENOENT else 126
        raise err from None
    if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
        err = ExecError(f"exec: {name!r}: permission denied (not an executable file)", path=name)
        err.exit_code = 126
        raise err


def _interp_chain(path: str, depth: int = 0) -> list[str]:
    """The files execve(path) would map: the file, its #! interpreters, its ELF PT_INTERP."""
    chain = [path]
    if depth > 4:
        return chain
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            if head.startswith(b"#!"):
                line = head[2:].split(b"\n", 1)[0].strip()
                if line:
                    chain += _interp_chain(os.fsdecode(line.split()[0]), depth + 1)
            elif head[:4] == b"\x7fELF" and head[4] == 2:  # 64-bit ELF
                chain += _elf_interp(f, head)
    except OSError:
        pass
    return chain


def _elf_interp(f, head: bytes) -> list[str]:
    phoff, = struct.unpack_from("<Q", head, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        ph = f.read(phentsize)
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from("<IIQQQQ", ph, 0)
        if p_type == 3:  # PT_INTERP
            f.seek(p_offset)
            return [os.fsdecode(f.read(p_filesz).rstrip(b"\0"))]
    return []


def refuse_runtime_binary(path: str, runtime_exe: tuple[int, int]) -> None:
    """CVE-2019-5736: never execute our own interpreter from inside the container.

    A container whose program is (or is interpreted by) /proc/self/exe would
    run the host's Python inside the container and could then rewrite it
    through /proc/PID/exe.  Compare device and inode of every file execve
    would map against the runtime's own executable.
    """
    for item in _interp_chain(path):
        try:
            st = os.stat(item)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == runtime_exe:
            raise ExecError(f"refusing to execute {path!r}: it resolves to the runtime's own binary",
                            hint="a container may not re-execute the runtime (CVE-2019-5736)", path=path)


def mark_fds_cloexec(keep: int = 3) -> None:
    """Every fd >= keep gets O_CLOEXEC, so no host fd reaches the program (CVE-2024-21626)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def set_user(proc: Process) -> None:
    user = proc.user
    try:
        os.setgroups(list(user.additional_gids))
    except PermissionError:
        if user.additional_gids:
            raise
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)


def apply_process(proc: Process, seccomp: Seccomp | None, warn) -> None:
    """Everything before execve, in runc's order."""
    from vessel.runtime.linux import caps, rlimits  # noqa: PLC0415 - hot path kept lean

    if proc.rlimits:
        rlimits.apply(proc.rlimits)
    if proc.oom_score_adj is not None:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(proc.oom_score_adj))
        except OSError as err:
            raise SystemFailure.from_os_error(f"set oom_score_adj to {proc.oom_score_adj}", err,
                                              hint="lowering oom_score_adj needs CAP_SYS_RESOURCE on the host") from None
    if proc.no_new_privileges:
        L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
    early_seccomp = seccomp is not None and not proc.no_new_privileges
    if early_seccomp:
        # without no_new_privs the kernel accepts a filter only while we hold CAP_SYS_ADMIN:
        # load it before the user switch and the capability drop, as runc does
        _load_seccomp(seccomp, warn)
    if proc.capabilities is not None:
        caps.drop_bounding(caps.mask(proc.capabilities.bounding))
    L.prctl(L.PR_SET_KEEPCAPS, 1)
    try:
        set_user(proc)
    except OSError as err:
        raise SystemFailure.from_os_error(f"set user {proc.user.uid}:{proc.user.gid}", err,
                                          hint="the ids must be mapped in the container's user namespace") from None
    L.prctl(L.PR_SET_KEEPCAPS, 0)
    if proc.capabilities is not None:
        for w in caps.apply(proc.capabilities):
            warn(w)
    if proc.user.umask is not None:
        os.umask(proc.user.umask)
    else:
        os.umask(0o022)
    try:
        os.chdir(proc.cwd)
    except OSError as err:
        raise SystemFailure.from_os_error(f"chdir to cwd {proc.cwd!r} in the container", err,
                                          hint="process.cwd must exist in the rootfs") from None
    if seccomp is not None and not early_seccomp:
        _load_seccomp(seccomp, warn)


def _load_seccomp(seccomp: Seccomp, warn) -> None:
    from vessel.runtime import seccomp as sc  # noqa: PLC0415 - imported before pivot_root by init.preload

    for w in sc.load(seccomp):
        warn(w)


def execute(path: str, proc: Process) -> None:
    try:
        os.execve(path, proc.args, dict(e.split("=", 1) for e in proc.env if "=" in e))
    except OSError as e:
        err = ExecError(f"exec {proc.args[0]!r}: {e.strerror}", path=path)
        err.exit_code = 126 if e.errno in (errno.EACCES, errno.ENOEXEC, errno.EPERM) else 127
        raise err from None


__all__ = ["ExecError", "apply_process", "execute", "find_executable", "refuse_runtime_binary",
           "mark_fds_cloexec", "InvalidArgument", "NotFound", "Unsupported"]
