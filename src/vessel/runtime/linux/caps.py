"""Linux capabilities of the container process: names, masks, and applying them.

Pure part: the capability table (`CAPS`, names as the OCI spec writes them,
"CAP_SYS_ADMIN"), `mask()`/`names()` and `plan()`, which turns
`process.capabilities` into five bit masks and checks them.  Both check
names against the whole table (`last_cap=40`) unless given the kernel's
`last_cap()`; `apply()` reads it, so names newer than the kernel are
skipped there with a warning.

Thin shell: `drop_bounding()` (PR_CAPBSET_DROP), `set_caps()` (capset(2),
_LINUX_CAPABILITY_VERSION_3, through ctypes), `set_ambient()`
(PR_CAP_AMBIENT), and `apply()` doing the whole sequence.

How the runtime's init combines it with the user switch (runc's
finalizeNamespace does the same):

    prctl(PR_SET_KEEPCAPS, 1)          # keep the permitted set across setuid
    setgroups(...); setgid(...); setuid(...)
    prctl(PR_SET_KEEPCAPS, 0)
    caps.apply(spec.process.capabilities)

A setuid away from root clears the effective set even with KEEPCAPS, and
dropping from the bounding set needs CAP_SETPCAP *effective*, so `apply()`
first raises effective to the current permitted set, then drops the bounding
set, then sets effective/permitted/inheritable with capset(2), then the
ambient set (each ambient capability must also be permitted and inheritable;
the others are skipped with a warning, as runc does).  After execve a
non-root process keeps only its ambient capabilities (plus file
capabilities); root gets its bounding set.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

from vessel.errors import InvalidArgument, SystemFailure, Unsupported
from vessel.oci.spec import Capabilities
from vessel.runtime.linux import libc

CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
NUMBERS: dict[str, int] = {name: number for number, name in enumerate(CAPS)}
CAP_LAST = len(CAPS) - 1  # 40, CAP_CHECKPOINT_RESTORE
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_STATUS_KEYS = {"CapInh": "inheritable", "CapPrm": "permitted", "CapEff": "effective",
                "CapBnd": "bounding", "CapAmb": "ambient"}


def mask(cap_names, *, last_cap: int = CAP_LAST, warnings: list[str] | None = None) -> int:
    """Bit mask of capability names; names above `last_cap` (the kernel's) are skipped with a warning."""
    out = 0
    for name in cap_names:
        number = NUMBERS.get(name)
        if number is None:
            raise InvalidArgument(f"unknown capability {name!r}", value=name,
                                  hint=f"known capabilities: {', '.join(CAPS)}")
        if number > last_cap:
            if warnings is not None:
                warnings.append(f"capability {name} ({number}) is unknown to the running kernel "
                                f"(cap_last_cap {last_cap}); skipped")
            continue
        out |= 1 << number
    return out


def names(bits: int) -> list[str]:
    """Capability names of a mask, in number order (unknown bits as "CAP_<n>")."""
    return [CAPS[n] if n < len(CAPS) else f"CAP_{n}" for n in range(bits.bit_length()) if bits >> n & 1]


@dataclass(frozen=True, slots=True)
class CapPlan:
    bounding: int
    effective: int
    permitted: int
    inheritable: int
    ambient: int
    warnings: tuple[str, ...] = ()


def plan(caps: Capabilities, last_cap: int = CAP_LAST) -> CapPlan:
    """Masks for `process.capabilities`, checked (pure)."""
    warnings: list[str] = []
    sets = {s: mask(getattr(caps, s), last_cap=last_cap, warnings=warnings) for s in SETS}
    extra = sets["effective"] & ~sets["permitted"]
    if extra:
        raise InvalidArgument(f"process.capabilities: effective {', '.join(names(extra))} not in permitted",
                              hint="a capability can only be effective if it is also permitted")
    # The kernel only raises an ambient capability that is permitted and inheritable. `runc spec`
    # writes ambient caps without inheritable ones and runc ignores them silently; so do we (a
    # warning here would land on every such container's stderr).
    sets["ambient"] &= sets["permitted"] & sets["inheritable"]
    return CapPlan(**sets, warnings=tuple(dict.fromkeys(warnings)))


def restrict(wanted: CapPlan, available: int) -> CapPlan:
    """`wanted` limited to the capabilities the runtime holds (its permitted set), with a warning (pure).

    Asking for a capability the runtime lacks (this host's runtime has no
    CAP_SYS_RESOURCE, for instance) would make capset(2) fail with EPERM.
    """
    missing = (wanted.bounding | wanted.permitted | wanted.inheritable) & ~available
    if not missing:
        return wanted
    note = (f"capabilities {', '.join(names(missing))} are not held by the runtime "
            "(not in its permitted set); not granted")
    return CapPlan(wanted.bounding & available, wanted.effective & available, wanted.permitted & available,
                   wanted.inheritable & available, wanted.ambient & available, (*wanted.warnings, note))


def last_cap(path: Path = Path("/proc/sys/kernel/cap_last_cap")) -> int:
    """The highest capability the running kernel knows."""
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return CAP_LAST  # kernels before 3.2 lack the file; assume our table


def parse_status(text: str) -> dict[str, int]:
    """Capability masks from the text of /proc/PID/status, keyed by set name ("effective"...)."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in _STATUS_KEYS:
            out[_STATUS_KEYS[key]] = int(value.strip(), 16)
    return out


def current(status: Path = Path("/proc/self/status")) -> dict[str, int]:
    """This process's five capability sets, from /proc/self/status."""
    return parse_status(status.read_text())


# ---- the kernel --------------------------------------------------------------------------------------


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def get_caps() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of this thread, by capget(2)."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    libc.check(libc.libc().capget(ctypes.byref(header), data), "capget")
    low, high = data[0], data[1]
    return (low.effective | high.effective << 32, low.permitted | high.permitted << 32,
            low.inheritable | high.inheritable << 32)


def set_caps(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) of this thread's effective, permitted and inheritable sets."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        shift = 32 * i
        data[i] = _Data(effective >> shift & 0xFFFFFFFF, permitted >> shift & 0xFFFFFFFF,
                        inheritable >> shift & 0xFFFFFFFF)
    try:
        libc.check(libc.libc().capset(ctypes.byref(header), data), "capset")
    except OSError as err:
        raise SystemFailure.from_os_error(
            f"capset effective {names(effective)} permitted {names(permitted)} inheritable {names(inheritable)}",
            err, hint="permitted can only shrink; inheritable must stay within the bounding set") from None


def drop_bounding(keep: int, last: int | None = None) -> None:
    """Drop every capability not in `keep` from the bounding set (needs CAP_SETPCAP effective)."""
    last = last_cap() if last is None else last
    for number in range(last + 1):
        if keep >> number & 1:
            continue
        try:
            libc.prctl(libc.PR_CAPBSET_DROP, number)
        except OSError as err:
            name = CAPS[number] if number < len(CAPS) else f"CAP_{number}"
            raise SystemFailure.from_os_error(f"dropping {name} from the bounding set", err,
                                              hint="this needs CAP_SETPCAP in the effective set") from None


def set_ambient(bits: int) -> None:
    """Clear the ambient set, then raise each capability of `bits` (each must be permitted and inheritable)."""
    try:
        libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as err:
        raise Unsupported(f"clearing the ambient capability set: {os.strerror(err.errno or 0)}",
                          hint="ambient capabilities need Linux 4.3 or later", errno=err.errno) from None
    for number in range(bits.bit_length()):
        if not bits >> number & 1:
            continue
        try:
            libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_RAISE, number)
        except OSError as err:
            raise InvalidArgument(f"cannot raise ambient capability {names(1 << number)[0]}: "
                                  f"{os.strerror(err.errno or 0)}", value=names(1 << number)[0],
                                  hint="an ambient capability must be both permitted and inheritable") from None


def apply(caps: Capabilities, last: int | None = None) -> list[str]:
    """Apply `process.capabilities` to this process (after the user switch, see the module doc)."""
    last = last_cap() if last is None else last
    _effective, permitted, inheritable = get_caps()
    wanted = restrict(plan(caps, last), permitted)
    set_caps(permitted, permitted, inheritable)  # CAP_SETPCAP effective again after a setuid
    drop_bounding(wanted.bounding, last)
    set_caps(wanted.effective, wanted.permitted, wanted.inheritable)
    set_ambient(wanted.ambient)
    return list(wanted.warnings)
