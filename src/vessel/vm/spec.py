"""What a micro-VM is, as frozen data: the process it runs, its resources, its volumes and ports.

``VmConfig`` is written to ``<root>/vm/<id>/config.json`` and is all that is
needed to boot the VM again (after import or migration) together with the
disk overlay next to it.  Inputs from users are checked by ``validate()`` as
a list of small named checks.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from vessel.errors import InvalidArgument
from vessel.oci._codec import decode, encode

ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
NETWORK_MODES = ("user", "tap", "none")


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """The guest's one process, as a container's: argv, environment ("K=V"), cwd, user, hostname."""

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: str = "0:0"
    hostname: str = ""
    tty: bool = False


@dataclass(frozen=True, slots=True)
class VolumeSpec:
    """A host directory shared into the guest (virtiofs) at ``target``."""

    source: str
    target: str
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class PortSpec:
    """``-p host_ip:host_port:guest_port/protocol``."""

    host_port: int
    guest_port: int
    protocol: str = "tcp"
    host_ip: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """How the guest's one NIC is wired.

    ``user``: QEMU's user-mode stack (slirp), guest 10.0.2.15, ports published with hostfwd.
    ``tap``: the seam for the vessel bridge: the network layer creates ``tap`` on its bridge and
    hands over the guest's ``address`` (CIDR), ``gateway`` and ``dns``; QEMU only opens the tap.
    ``none``: no NIC, loopback only.
    """

    mode: str = "user"
    tap: str | None = None
    address: str = "10.0.2.15/24"
    gateway: str = "10.0.2.2"
    dns: str = "10.0.2.3"
    restrict: bool = False


@dataclass(frozen=True, slots=True)
class VmConfig:
    """Everything that defines one VM; written as config.json in its folder."""

    id: str
    name: str
    process: ProcessSpec
    base_image: str
    cpus: int = 1
    memory_mb: int = 256
    volumes: tuple[VolumeSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    network: NetworkSpec = field(default_factory=NetworkSpec)
    mac: str = "52:54:00:12:34:56"
    kernel: str = ""
    created: float = 0.0

    def update(self, **changes: object) -> "VmConfig":
        """A copy with ``changes`` applied (and validated)."""
        new = dataclasses.replace(self, **changes)
        validate(new)
        return new

    def to_json(self) -> str:
        return json.dumps(encode(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "config.json") -> "VmConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidArgument(f"{where}: not valid JSON: {err}") from err
        config = decode(cls, data, where)
        validate(config)
        return config


# --- validation: a list of small named checks -------------------------------------------------

def _check_id(c: VmConfig) -> str | None:
    if not ID_RE.match(c.id):
        return f"VM id {c.id!r} must match {ID_RE.pattern}"
    if not ID_RE.match(c.name):
        return f"VM name {c.name!r} must match {ID_RE.pattern}"
    return None


def _check_resources(c: VmConfig) -> str | None:
    if not 1 <= c.cpus <= 64:
        return f"cpus {c.cpus} must be between 1 and 64"
    if not 64 <= c.memory_mb <= 65536:
        return f"memory {c.memory_mb} MiB must be between 64 and 65536"
    return None


def _check_process(c: VmConfig) -> str | None:
    p = c.process
    if not p.args:
        return "the process needs at least one argument (the program to run)"
    if not p.cwd.startswith("/"):
        return f"working directory {p.cwd!r} must be absolute"
    bad = [e for e in p.env if not ENV_RE.match(e)]
    if bad:
        return f"environment entries must look like NAME=value, got {bad[0]!r}"
    if not re.match(r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$", p.user):
        return f"user {p.user!r} must be uid[:gid] or name[:group]"
    if p.hostname and not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$", p.hostname):
        return f"hostname {p.hostname!r} is not a valid host name"
    return None


def _check_volumes(c: VmConfig) -> str | None:
    targets = set()
    for v in c.volumes:
        if not v.source.startswith("/") or not v.target.startswith("/"):
            return f"volume {v.source}:{v.target} needs absolute paths on both sides"
        if v.target == "/" or v.target in targets:
            return f"volume target {v.target!r} is the root or used twice"
        targets.add(v.target)
    return None


def _check_ports(c: VmConfig) -> str | None:
    seen = set()
    for p in c.ports:
        if not (1 <= p.host_port <= 65535 and 1 <= p.guest_port <= 65535):
            return f"port {p.host_port}:{p.guest_port} out of range 1-65535"
        if p.protocol not in ("tcp", "udp"):
            return f"port protocol {p.protocol!r} must be tcp or udp"
        if (p.host_ip, p.host_port, p.protocol) in seen:
            return f"host port {p.host_port}/{p.protocol} published twice"
        seen.add((p.host_ip, p.host_port, p.protocol))
    if c.ports and c.network.mode == "none":
        return "ports cannot be published without a network (network mode 'none')"
    return None


def _check_network(c: VmConfig) -> str | None:
    if c.network.mode not in NETWORK_MODES:
        return f"network mode {c.network.mode!r} must be one of {', '.join(NETWORK_MODES)}"
    if c.network.mode == "tap" and not c.network.tap:
        return "network mode 'tap' needs the tap device's name"
    if not MAC_RE.match(c.mac):
        return f"MAC address {c.mac!r} must look like 52:54:00:xx:xx:xx (lower case)"
    return None


CHECKS = (_check_id, _check_resources, _check_process, _check_volumes, _check_ports, _check_network)


def problems(config: VmConfig) -> list[str]:
    """Every failed check's message (empty when the config is valid)."""
    return [msg for check in CHECKS if (msg := check(config))]


def validate(config: VmConfig) -> None:
    found = problems(config)
    if found:
        raise InvalidArgument(f"invalid VM config {config.id!r}: " + "; ".join(found), vm=config.id)


def parse_port(text: str) -> PortSpec:
    """Parse ``[ip:]host:guest[/proto]`` (or ``port`` alone) as ``-p`` does."""
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return PortSpec(int(parts[0]), int(parts[0]), proto)
        if len(parts) == 2:
            return PortSpec(int(parts[0]), int(parts[1]), proto)
        if len(parts) == 3:
            return PortSpec(int(parts[1]), int(parts[2]), proto, parts[0] or "127.0.0.1")
    except ValueError:
        pass
    raise InvalidArgument(f"cannot parse port mapping {text!r}", hint="use [ip:]hostport:guestport[/tcp|udp]")


def parse_volume(text: str) -> VolumeSpec:
    """Parse ``/host:/guest[:ro]``."""
    parts = text.split(":")
    if len(parts) in (2, 3) and (len(parts) == 2 or parts[2] in ("ro", "rw")):
        return VolumeSpec(str(Path(parts[0]).resolve()), parts[1], len(parts) == 3 and parts[2] == "ro")
    raise InvalidArgument(f"cannot parse volume {text!r}", hint="use /host/dir:/guest/dir[:ro]")
