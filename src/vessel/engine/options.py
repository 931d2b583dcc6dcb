"""What a user asks for with `vessel create/run` (docker's flags), as frozen dataclasses (pure).

`cli/container.py` and the API server fill a `RunOptions` from flags or from
a Docker API body; `specgen.generate()` turns it, with the image config, into
an OCI runtime spec.  Parsing helpers for each flag live in `flags.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VolumeMount:
    """-v / --mount / --tmpfs / image VOLUME."""

    kind: str  # "volume" (named), "anonymous", "bind", "tmpfs"
    target: str
    source: str = ""  # volume name or host path; "" for anonymous and tmpfs
    readonly: bool = False
    options: tuple[str, ...] = ()  # extra mount options: tmpfs size/mode, bind propagation, "nocopy"


@dataclass(frozen=True)
class Ulimit:
    name: str  # docker's short name: nofile, nproc, core, ...
    soft: int
    hard: int


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"  # no | on-failure | always | unless-stopped
    max_retries: int = 0


@dataclass(frozen=True)
class PortSpec:
    host_ip: str
    host_port: int  # 0: pick one
    container_port: int
    protocol: str = "tcp"
    host_port_end: int = 0  # with host_port: pick a free host port in [host_port, host_port_end] (-p 8000-8010:80)


@dataclass(frozen=True)
class RunOptions:
    image: str
    command: tuple[str, ...] | None = None  # None: the image's Cmd
    entrypoint: tuple[str, ...] | None = None  # None: the image's Entrypoint; (): reset it
    name: str | None = None
    env: tuple[str, ...] = ()  # KEY=VALUE, after --env-file and -e, in order
    workdir: str | None = None
    user: str | None = None  # user[:group], names or ids
    hostname: str | None = None
    domainname: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    volumes: tuple[VolumeMount, ...] = ()
    read_only: bool = False
    tty: bool = False
    interactive: bool = False
    detach: bool = False
    remove: bool = False  # --rm
    init: bool = False
    # resources
    memory: int | None = None  # bytes
    memory_reservation: int | None = None
    memory_swap: int | None = None  # bytes of memory+swap; -1 unlimited
    cpus: float | None = None
    cpu_shares: int | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    ulimits: tuple[Ulimit, ...] = ()
    oom_kill_disable: bool = False
    oom_score_adj: int | None = None
    shm_size: int | None = None
    # security
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    seccomp_profile: str | None = None  # None: docker's default; "unconfined"; or a JSON file path
    no_new_privileges: bool = False
    devices: tuple[str, ...] = ()  # --device /dev/x[:/dev/y[:rwm]]
    sysctls: dict[str, str] = field(default_factory=dict)
    # lifecycle
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    stop_signal: str | None = None
    stop_timeout: int | None = None
    healthcheck: dict | None = None  # docker's Config.Healthcheck (Test, Interval ns, Timeout ns, StartPeriod ns, Retries)
    # network
    network: str = "bridge"  # bridge | none | host | container:NAME | <user network>
    network_aliases: tuple[str, ...] = ()
    publish: tuple[PortSpec, ...] = ()
    publish_all: bool = False
    ip: str | None = None
    mac_address: str | None = None
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()  # host:ip
    # backend
    runtime: str | None = None  # None: vessel-runtime; or "runc", or a path
    isolation: str = "container"  # container | vm
    exposed_ports: tuple[str, ...] = ()  # "80/tcp": the API's Config.ExposedPorts (besides the image's and -p's)
