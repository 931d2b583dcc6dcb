"""The OCI runtime spec of a RUN step's container (pure).

A RUN step runs like ``docker build`` runs it: Docker's default capabilities,
seccomp profile, masked and read-only paths and mounts, its own pid, ipc, uts
and mount namespaces, hostname ``buildkitsandbox``.  Networking
(``network.py`` decides and sets it up):

* ``bridge``: the namespace at ``netns_path``, which the builder made and
  attached to the default bridge before the run;
* ``host``: the builder's network namespace;
* ``none``: a new, empty network namespace made by the runtime.

The caller adds the files and RUN mounts (``extra_mounts``) and the host
directories the container needs (resolv.conf, hosts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vessel.oci.defaults import DEFAULT_CAPS, MASKED_PATHS, READONLY_PATHS, default_mounts
from vessel.oci.resources import DeviceRule, Resources
from vessel.oci.spec import Capabilities, Linux, Mount, Namespace, Process, Root, Seccomp, Spec, User

HOSTNAME = "buildkitsandbox"
OCI_VERSION = "1.0.2"
NETWORK_MODES = ("bridge", "host", "none")


@dataclass(frozen=True, slots=True)
class Sandbox:
    """What one RUN needs, resolved: argv, environment, ids, mounts, network."""

    argv: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    home: str = "/root"
    network: str = "host"
    netns_path: str | None = None  # bridge: the network namespace to join
    extra_mounts: tuple[Mount, ...] = ()
    cgroups_path: str | None = None
    hostname: str = HOSTNAME
    seccomp: Seccomp | None = None
    rootfs: str = "rootfs"
    annotations: tuple[tuple[str, str], ...] = field(default=())


def process_env(env: tuple[str, ...], home: str) -> list[str]:
    """The step's environment plus HOME when it is not set (Docker takes it from /etc/passwd)."""
    out = list(env)
    if not any(item.partition("=")[0] == "HOME" for item in out):
        out.append(f"HOME={home or '/'}")
    return out


def sandbox_spec(box: Sandbox) -> Spec:
    """The spec ``vessel-runtime run`` gets for one RUN step."""
    if box.network not in NETWORK_MODES:
        raise ValueError(f"unknown network mode {box.network!r}")
    if (box.network == "bridge") != (box.netns_path is not None):
        raise ValueError("a bridge network needs the namespace to join, and only it")
    caps = list(DEFAULT_CAPS)
    process = Process(
        args=list(box.argv), cwd=box.cwd or "/", env=process_env(box.env, box.home), terminal=False,
        user=User(uid=box.uid, gid=box.gid, additional_gids=list(box.additional_gids)),
        capabilities=Capabilities(bounding=list(caps), effective=list(caps), permitted=list(caps)),
    )
    namespaces = [Namespace(type=k) for k in ("pid", "ipc", "uts", "mount")]
    if box.network != "host":
        namespaces.append(Namespace(type="network", path=box.netns_path))
    linux = Linux(
        namespaces=namespaces,
        resources=Resources(devices=[DeviceRule(allow=False, access="rwm")]),
        cgroups_path=box.cgroups_path, seccomp=box.seccomp,
        masked_paths=list(MASKED_PATHS), readonly_paths=list(READONLY_PATHS),
    )
    return Spec(oci_version=OCI_VERSION, root=Root(path=box.rootfs, readonly=False), process=process,
                hostname=box.hostname, mounts=[*default_mounts(), *box.extra_mounts], linux=linux,
                annotations=dict(box.annotations))


def hosts_file(hostname: str = HOSTNAME) -> str:
    """/etc/hosts for a RUN container, as BuildKit writes it."""
    return (f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")


def bind(source: str, target: str, readonly: bool = True) -> Mount:
    return Mount(destination=target, type="bind", source=source, options=["rbind", "ro" if readonly else "rw"])


def tmpfs(target: str, size: int = 0) -> Mount:
    options = ["nosuid", "nodev", "mode=1777"] + ([f"size={size}"] if size else [])
    return Mount(destination=target, type="tmpfs", source="tmpfs", options=options)
