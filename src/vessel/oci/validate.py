"""Validation of a decoded Spec: a list of small named checks (pure).

Each check yields problems as strings; `validate` raises InvalidArgument with
all of them.  Modelled on runc's libcontainer/configs/validate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from vessel.errors import InvalidArgument
from vessel.oci.spec import HOOK_NAMES, NAMESPACE_TYPES, Spec

RLIMIT_NAMES = (
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
    "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
)
_VERSION = re.compile(r"^1\.\d+\.\d+(-[0-9A-Za-z.+-]+)?(\+[0-9A-Za-z.-]+)?$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")

Check = Callable[[Spec], Iterator[str]]


def check_version(spec: Spec) -> Iterator[str]:
    if not _VERSION.match(spec.oci_version):
        yield f"ociVersion {spec.oci_version!r} is not a 1.x semantic version"


def check_root(spec: Spec) -> Iterator[str]:
    if spec.root is None:
        yield "root is required on Linux"
    elif not spec.root.path:
        yield "root.path must not be empty"


def check_process(spec: Spec) -> Iterator[str]:
    proc = spec.process
    if proc is None:
        return
    if not proc.args:
        yield "process.args must name the program to run"
    if not proc.cwd.startswith("/"):
        yield f"process.cwd {proc.cwd!r} must be an absolute path"
    for entry in proc.env:
        if "=" not in entry:
            yield f"process.env entry {entry!r} is not KEY=VALUE"
    seen = set()
    for rl in proc.rlimits:
        if rl.type not in RLIMIT_NAMES:
            yield f"process.rlimits: unknown limit {rl.type!r}"
        if rl.type in seen:
            yield f"process.rlimits: {rl.type} is given twice"
        seen.add(rl.type)
        if rl.soft > rl.hard:
            yield f"process.rlimits: {rl.type} soft {rl.soft} is above hard {rl.hard}"
    if proc.oom_score_adj is not None and not -1000 <= proc.oom_score_adj <= 1000:
        yield f"process.oomScoreAdj {proc.oom_score_adj} is outside -1000..1000"
    if proc.user.umask is not None and not 0 <= proc.user.umask <= 0o777:
        yield f"process.user.umask {proc.user.umask} is outside 0..0777"


def check_namespaces(spec: Spec) -> Iterator[str]:
    if spec.linux is None:
        return
    seen = set()
    for ns in spec.linux.namespaces:
        if ns.type not in NAMESPACE_TYPES:
            yield f"linux.namespaces: unknown type {ns.type!r} (known: {', '.join(NAMESPACE_TYPES)})"
        if ns.type in seen:
            yield f"linux.namespaces: {ns.type} is given twice"
        seen.add(ns.type)
    has_user = spec.linux.namespace("user") is not None
    if (spec.linux.uid_mappings or spec.linux.gid_mappings) and not has_user:
        yield "linux.uidMappings/gidMappings need a user namespace"
    if has_user and spec.linux.namespace("user").path is None:
        if not spec.linux.uid_mappings or not spec.linux.gid_mappings:
            yield "a new user namespace needs linux.uidMappings and linux.gidMappings"


def check_hostname(spec: Spec) -> Iterator[str]:
    if spec.hostname:
        if spec.linux is None or spec.linux.namespace("uts") is None:
            yield "hostname is set but there is no uts namespace to set it in"
        if not _HOSTNAME.match(spec.hostname):
            yield f"hostname {spec.hostname!r} is not a valid host name"


def check_mounts(spec: Spec) -> Iterator[str]:
    for i, mnt in enumerate(spec.mounts):
        if not mnt.destination.startswith("/"):
            yield f"mounts[{i}].destination {mnt.destination!r} must be an absolute path"


def check_hooks(spec: Spec) -> Iterator[str]:
    if spec.hooks is None:
        return
    for name in HOOK_NAMES:
        attr = "".join("_" + c.lower() if c.isupper() else c for c in name)
        for i, hook in enumerate(getattr(spec.hooks, attr)):
            if not hook.path.startswith("/"):
                yield f"hooks.{name}[{i}].path {hook.path!r} must be absolute"
            if hook.timeout is not None and hook.timeout <= 0:
                yield f"hooks.{name}[{i}].timeout must be positive, got {hook.timeout}"


def check_sysctl(spec: Spec) -> Iterator[str]:
    if spec.linux is None:
        return
    for name in spec.linux.sysctl:
        if name.startswith("net.") and spec.linux.namespace("network") is None:
            yield f"sysctl {name} needs a network namespace"
        if (name.startswith("kernel.msg") or name.startswith("kernel.sem") or name.startswith("kernel.shm")
                or name.startswith("fs.mqueue.")) and spec.linux.namespace("ipc") is None:
            yield f"sysctl {name} needs an ipc namespace"


def check_devices(spec: Spec) -> Iterator[str]:
    if spec.linux is None:
        return
    for dev in spec.linux.devices:
        if dev.type not in ("c", "b", "u", "p"):
            yield f"linux.devices {dev.path}: type {dev.type!r} is not one of c, b, u, p"
        if dev.type != "p" and (dev.major is None or dev.minor is None):
            yield f"linux.devices {dev.path}: major and minor are required for type {dev.type}"
        if not dev.path.startswith("/dev/"):
            yield f"linux.devices {dev.path}: path must be under /dev"


CHECKS: tuple[Check, ...] = (
    check_version, check_root, check_process, check_namespaces, check_hostname,
    check_mounts, check_hooks, check_sysctl, check_devices,
)


def problems(spec: Spec) -> list[str]:
    return [p for check in CHECKS for p in check(spec)]


def validate(spec: Spec) -> None:
    found = problems(spec)
    if found:
        raise InvalidArgument("invalid config.json: " + "; ".join(found), problems=found,
                              hint="see the OCI runtime spec, config.md")
