"""Docker's defaults for a container's spec, and `runc spec`'s example (pure).

What the engine starts from when it turns an image and flags into a bundle:

* `DEFAULT_CAPS`: Docker's 14 capabilities (moby `oci/caps/defaults.go`);
* `MASKED_PATHS`, `READONLY_PATHS`: moby's `oci/defaults.go`;
* `default_mounts()`: proc, /dev, devpts, sysfs (ro), cgroup (ro), mqueue, shm;
* `DEFAULT_PATH` / `DEFAULT_ENV_PATH`: the PATH value / the `PATH=...` env entry;
* `default_seccomp(caps)`: Docker's default seccomp profile (`default_seccomp.json`,
  transcribed from moby's `profiles/seccomp/default.json`) resolved as moby's
  `setupSeccomp` does: the archMap entry of the host's architecture, and the
  rules whose `includes`/`excludes` (capabilities of the bounding set,
  architectures, minimum kernel) match.  `resolve_profile()` does the same
  for any profile in Docker's format (`--security-opt seccomp=FILE`).

`example_spec(rootless)` is what `runc spec [--rootless]` writes (Debian 12's
runc 1.1.5), for `vessel-runtime spec`.
"""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

from vessel.errors import InvalidArgument
from vessel.oci._codec import decode
from vessel.oci.resources import DeviceRule, Resources
from vessel.oci.spec import (Capabilities, IDMapping, Linux, Mount, Namespace, Process, Rlimit, Root,
                             Seccomp, SeccompArg, SeccompSyscall, Spec, User)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_ENV_PATH = f"PATH={DEFAULT_PATH}"

DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

READONLY_PATHS: tuple[str, ...] = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

SHM_SIZE = 64 << 20  # Docker's default --shm-size

PROFILE_PATH = Path(__file__).with_name("default_seccomp.json")

# machine (uname -m) -> libseccomp "native" name moby matches includes/excludes.arches against
_MACHINE_TO_NATIVE = {
    "x86_64": "amd64", "amd64": "amd64", "i386": "x86", "i686": "x86", "aarch64": "arm64", "arm64": "arm64",
    "armv7l": "arm", "armv6l": "arm", "armv8l": "arm", "s390x": "s390x", "s390": "s390", "ppc64le": "ppc64le",
    "ppc64": "ppc64", "ppc": "ppc", "riscv64": "riscv64", "mips64": "mips64", "mips": "mipsle",
}
# native name -> seccomp architecture of its archMap entry (moby's nativeToSeccomp)
_NATIVE_TO_SECCOMP = {
    "x86": "SCMP_ARCH_X86", "amd64": "SCMP_ARCH_X86_64", "arm": "SCMP_ARCH_ARM", "arm64": "SCMP_ARCH_AARCH64",
    "mips64": "SCMP_ARCH_MIPS64", "mips64n32": "SCMP_ARCH_MIPS64N32", "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mips3l64n32": "SCMP_ARCH_MIPSEL64N32", "mipsle": "SCMP_ARCH_MIPSEL", "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64", "ppc64le": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64",
    "s390": "SCMP_ARCH_S390", "s390x": "SCMP_ARCH_S390X",
}


def _mount(dest: str, typ: str, source: str, *options: str) -> Mount:
    return Mount(destination=dest, type=typ, source=source, options=list(options))


def default_mounts(shm_size: int = SHM_SIZE) -> list[Mount]:
    """Docker's default mounts, in its order; /dev/shm is a private tmpfs of `shm_size` bytes."""
    return [
        _mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
        _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        _mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
               "gid=5"),
        _mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", "ro", "nosuid", "noexec", "nodev"),
        _mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        _mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"),
    ]


def host_arch(machine: str | None = None) -> str:
    """The libseccomp native name of a machine (`uname -m`): x86_64 -> "amd64"."""
    machine = machine or platform.machine()
    return _MACHINE_TO_NATIVE.get(machine, machine)


def _version(text: str, where: str) -> tuple[int, int]:
    match = re.match(r"^(\d+)\.(\d+)", text)
    if not match:
        raise InvalidArgument(f"{where}: {text!r} is not a kernel version (major.minor)", value=text)
    return int(match.group(1)), int(match.group(2))


def _matches(cond: dict, caps: set[str], arch: str, kernel: tuple[int, int], where: str, include: bool) -> bool:
    """Whether an includes (all must hold) or excludes (any holds) block holds."""
    tests = []
    if cond.get("arches"):
        tests.append(arch in cond["arches"])
    if cond.get("caps"):
        held = [c in caps for c in cond["caps"]]
        tests.append(all(held) if include else any(held))
    if cond.get("minKernel"):
        tests.append(kernel >= _version(cond["minKernel"], f"{where}.minKernel"))
    return all(tests) if include else any(tests)


def _syscall(entry: dict, where: str) -> SeccompSyscall:
    names = list(entry.get("names") or [])
    if entry.get("name"):
        if names:
            raise InvalidArgument(f"{where}: both 'name' and 'names' are given; use one")
        names = [entry["name"]]
    if not names or not isinstance(entry.get("action"), str):
        raise InvalidArgument(f"{where}: a rule needs 'names' and 'action'")
    args = [decode(SeccompArg, arg, f"{where}.args[{i}]") for i, arg in enumerate(entry.get("args") or [])]
    return SeccompSyscall(names=names, action=entry["action"], errno_ret=entry.get("errnoRet"), args=args)


def resolve_profile(profile: dict, caps: set[str] | frozenset[str], *, arch: str | None = None,
                    kernel: str | tuple[int, int] | None = None) -> Seccomp:
    """A Docker-format seccomp profile -> `linux.seccomp` for a container with bounding set `caps`.

    `arch` is the libseccomp native name (default: this host's, "amd64" on
    x86_64); `kernel` the running kernel's release (default: `uname -r`).
    """
    arch = arch or host_arch()
    if kernel is None:
        kernel = os.uname().release
    kver = kernel if isinstance(kernel, tuple) else _version(kernel, "kernel release")
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument("seccomp profile gives both 'architectures' and 'archMap'; use one")
    arches = list(profile.get("architectures") or [])
    native = _NATIVE_TO_SECCOMP.get(arch)
    for entry in profile.get("archMap") or []:
        if native and entry.get("architecture") == native:
            arches = [native, *(entry.get("subArchitectures") or [])]
            break
    syscalls = []
    for i, entry in enumerate(profile.get("syscalls") or []):
        where = f"seccomp profile syscalls[{i}]"
        if entry.get("excludes") and _matches(entry["excludes"], caps, arch, kver, where, include=False):
            continue
        if entry.get("includes") and not _matches(entry["includes"], caps, arch, kver, where, include=True):
            continue
        syscalls.append(_syscall(entry, where))
    if not isinstance(profile.get("defaultAction"), str):
        raise InvalidArgument("seccomp profile has no 'defaultAction'")
    return Seccomp(default_action=profile["defaultAction"], default_errno_ret=profile.get("defaultErrnoRet"),
                   architectures=arches, flags=list(profile.get("flags") or []),
                   listener_path=profile.get("listenerPath") or None, syscalls=syscalls)


def default_profile() -> dict:
    """Docker's default seccomp profile, unresolved (Docker's JSON format)."""
    return json.loads(PROFILE_PATH.read_text())


def default_seccomp(caps: set[str] | frozenset[str] | None = None, *, arch: str | None = None,
                    kernel: str | tuple[int, int] | None = None) -> Seccomp:
    """Docker's default profile for a container whose bounding set is `caps` (default: `DEFAULT_CAPS`)."""
    return resolve_profile(default_profile(), set(DEFAULT_CAPS) if caps is None else set(caps),
                           arch=arch, kernel=kernel)


# ---- runc spec ------------------------------------------------------------------------------------------

RUNC_SPEC_VERSION = "1.0.2-dev"  # the ociVersion Debian 12's runc 1.1.5 writes
_RUNC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
_RUNC_MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]


def _runc_mounts(rootless: bool) -> list[Mount]:
    pts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] + ([] if rootless else ["gid=5"])
    sys_mount = (_mount("/sys", "none", "/sys", "rbind", "nosuid", "noexec", "nodev", "ro") if rootless
                 else _mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"))
    return [
        Mount(destination="/proc", type="proc", source="proc"),
        _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        _mount("/dev/pts", "devpts", "devpts", *pts),
        _mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        _mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        sys_mount,
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
    ]


def example_spec(rootless: bool = False, *, uid: int | None = None, gid: int | None = None,
                 oci_version: str = RUNC_SPEC_VERSION) -> Spec:
    """What `runc spec` (or `runc spec --rootless`, mapping root to `uid`/`gid`) writes."""
    caps = Capabilities(bounding=list(_RUNC_CAPS), effective=list(_RUNC_CAPS), permitted=list(_RUNC_CAPS),
                        ambient=list(_RUNC_CAPS))
    process = Process(terminal=True, user=User(uid=0, gid=0), args=["sh"], env=[DEFAULT_ENV_PATH, "TERM=xterm"],
                      cwd="/", capabilities=caps, rlimits=[Rlimit(type="RLIMIT_NOFILE", hard=1024, soft=1024)],
                      no_new_privileges=True)
    if rootless:
        uid = os.geteuid() if uid is None else uid
        gid = os.getegid() if gid is None else gid
        kinds = ["pid", "ipc", "uts", "mount", "user"]
        linux = Linux(uid_mappings=[IDMapping(container_id=0, host_id=uid, size=1)],
                      gid_mappings=[IDMapping(container_id=0, host_id=gid, size=1)],
                      namespaces=[Namespace(type=k) for k in kinds],
                      masked_paths=list(_RUNC_MASKED), readonly_paths=list(READONLY_PATHS))
    else:
        kinds = ["pid", "network", "ipc", "uts", "mount"]
        linux = Linux(resources=Resources(devices=[DeviceRule(allow=False, access="rwm")]),
                      namespaces=[Namespace(type=k) for k in kinds],
                      masked_paths=list(_RUNC_MASKED), readonly_paths=list(READONLY_PATHS))
    return Spec(oci_version=oci_version, process=process, root=Root(path="rootfs", readonly=True),
                hostname="runc", mounts=_runc_mounts(rootless), linux=linux)
