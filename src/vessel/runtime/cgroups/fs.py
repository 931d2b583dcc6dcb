"""The few file operations on cgroupfs, with errors that name the file and the value."""

from __future__ import annotations

import errno
import os

from vessel.errors import SystemFailure

_HINTS = {
    errno.EINVAL: "the kernel rejected the value: out of range, or in conflict with another limit or the parent's",
    errno.ENOENT: "this kernel or cgroup has no such file: controller not enabled or feature not built in",
    errno.EBUSY: "the cgroup is in use (processes inside, or a limit below current usage)",
    errno.ENOSPC: "the cgroup's cpuset.cpus or cpuset.mems is empty",
    errno.EPERM: "writing cgroup files needs root, or a delegated cgroup",
    errno.EACCES: "writing cgroup files needs root, or a delegated cgroup",
    errno.EOPNOTSUPP: "the kernel does not support this setting any more",
}


def hint_for(err: OSError) -> str | None:
    return _HINTS.get(err.errno or 0)


def write_raw(path: str, value: str) -> None:
    """One write() of `value`, as the kernel wants cgroup values: no O_CREAT, no buffering."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def write(path: str, value: str) -> None:
    try:
        write_raw(path, value)
    except OSError as err:
        raise SystemFailure.from_os_error(f"failed to write {value!r} to {path}", err, hint=hint_for(err),
                                          path=path, value=value) from err


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_or(path: str, default: str | None = None) -> str | None:
    """The file's text, or `default` when it does not exist."""
    try:
        return read(path)
    except FileNotFoundError:
        return default


def read_int(path: str) -> int | None:
    """An integer file; None when missing or "max"."""
    text = read_or(path)
    if text is None:
        return None
    text = text.strip()
    if text in ("max", ""):
        return None
    return int(text.split()[0])


def read_keyed(path: str) -> dict[str, int]:
    """A "key value" per line file (memory.events, cpu.stat...); {} when missing."""
    out: dict[str, int] = {}
    text = read_or(path) or ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out
