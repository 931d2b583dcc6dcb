"""config.json of the OCI runtime spec as frozen dataclasses (pure).

`load_spec(path)` reads and validates a bundle's config; `Spec.to_json()`
writes one back.  Field names are snake_case; JSON keys are the spec's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from vessel.errors import InvalidArgument, NotFound
from vessel.oci._codec import decode, encode, key
from vessel.oci.resources import Resources

_F = dict(frozen=True)

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


@dataclass(**_F)
class ConsoleSize:
    height: int
    width: int


@dataclass(**_F)
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: list[int] = field(default_factory=list)
    username: str | None = None


@dataclass(**_F)
class Capabilities:
    bounding: list[str] = field(default_factory=list)
    effective: list[str] = field(default_factory=list)
    inheritable: list[str] = field(default_factory=list)
    permitted: list[str] = field(default_factory=list)
    ambient: list[str] = field(default_factory=list)


@dataclass(**_F)
class Rlimit:
    type: str
    hard: int
    soft: int


@dataclass(**_F)
class IOPriority:
    class_: str = field(metadata=key("class"))
    priority: int = 0


@dataclass(**_F)
class Process:
    args: list[str] = field(default_factory=list)
    cwd: str = "/"
    env: list[str] = field(default_factory=list)
    terminal: bool = False
    console_size: ConsoleSize | None = None
    user: User = field(default_factory=User)
    capabilities: Capabilities | None = None
    rlimits: list[Rlimit] = field(default_factory=list)
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    oom_score_adj: int | None = None
    selinux_label: str | None = None
    io_priority: IOPriority | None = None


@dataclass(**_F)
class Root:
    path: str
    readonly: bool = False


@dataclass(**_F)
class IDMapping:
    container_id: int = field(metadata=key("containerID"))
    host_id: int = field(metadata=key("hostID"))
    size: int


@dataclass(**_F)
class Mount:
    destination: str
    type: str | None = None
    source: str | None = None
    options: list[str] = field(default_factory=list)
    uid_mappings: list[IDMapping] = field(default_factory=list)
    gid_mappings: list[IDMapping] = field(default_factory=list)


@dataclass(**_F)
class Hook:
    path: str
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    timeout: int | None = None


@dataclass(**_F)
class Hooks:
    prestart: list[Hook] = field(default_factory=list)
    create_runtime: list[Hook] = field(default_factory=list)
    create_container: list[Hook] = field(default_factory=list)
    start_container: list[Hook] = field(default_factory=list)
    poststart: list[Hook] = field(default_factory=list)
    poststop: list[Hook] = field(default_factory=list)


@dataclass(**_F)
class Namespace:
    type: str
    path: str | None = None


@dataclass(**_F)
class Device:
    type: str
    path: str
    major: int | None = None
    minor: int | None = None
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@dataclass(**_F)
class SeccompArg:
    index: int
    value: int
    op: str
    value_two: int | None = None


@dataclass(**_F)
class SeccompSyscall:
    names: list[str]
    action: str
    errno_ret: int | None = None
    args: list[SeccompArg] = field(default_factory=list)


@dataclass(**_F)
class Seccomp:
    default_action: str
    default_errno_ret: int | None = None
    architectures: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: list[SeccompSyscall] = field(default_factory=list)


@dataclass(**_F)
class Linux:
    namespaces: list[Namespace] = field(default_factory=list)
    uid_mappings: list[IDMapping] = field(default_factory=list)
    gid_mappings: list[IDMapping] = field(default_factory=list)
    time_offsets: dict[str, dict[str, int]] = field(default_factory=dict)
    devices: list[Device] = field(default_factory=list)
    cgroups_path: str | None = None
    resources: Resources | None = None
    rootfs_propagation: str | None = None
    seccomp: Seccomp | None = None
    sysctl: dict[str, str] = field(default_factory=dict)
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    mount_label: str | None = None
    personality: dict[str, object] | None = None

    def namespace(self, kind: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == kind:
                return ns
        return None


@dataclass(**_F)
class Spec:
    oci_version: str = field(metadata=key("ociVersion"))
    root: Root | None = None
    process: Process | None = None
    hostname: str | None = None
    domainname: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    hooks: Hooks | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    linux: Linux | None = None

    def to_json(self) -> dict:
        return encode(self)


def parse_spec(data: object, unknown: list[str] | None = None) -> Spec:
    """Decode and validate a config.json object."""
    spec = decode(Spec, data, "config", unknown)
    from vessel.oci.validate import validate  # local: keeps the decode path light

    validate(spec)
    return spec


def load_spec(bundle: Path) -> Spec:
    path = bundle / "config.json"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no config.json in bundle {bundle}", path=str(path),
                       hint="create one with `vessel-runtime spec` in the bundle directory") from None
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise InvalidArgument(f"{path}: not valid JSON: {err}", path=str(path)) from None
    return parse_spec(data)
