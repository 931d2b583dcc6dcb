"""Docker Engine API bodies <-> RunOptions (pure).

`options_from_api(body, name)` reads a `POST /containers/create` body as the
docker CLI (28.x) and docker-py send it: every field may be null or absent,
unknown fields are ignored (as dockerd does), a known field of the wrong type
is an InvalidArgument naming it, and fields vessel cannot honour are refused
(Unsupported, naming the field) when set to anything but their zero value.

`host_config_json(opts)` and `config_json(opts, image)` are the reverse, in
the ContainerInspect shapes (`HostConfig`, `Config`), with Docker's
daemon-side defaults applied (ShmSize 64 MiB, MemorySwap 2x Memory, the
image's Env/Cmd/Entrypoint/Labels merged).
"""

from __future__ import annotations

import re
from typing import Any

from vessel.engine.flags import (PROPAGATIONS, check_restart, check_target, check_volume_name, parse_add_host,
                                 parse_device, parse_dns_search, parse_ip, parse_security_opts, parse_tmpfs,
                                 parse_ulimit, parse_volume, tmpfs_size_option, validate_options)
from vessel.engine.options import PortSpec, RestartPolicy, RunOptions, VolumeMount
from vessel.engine.specgen import effective_memory_swap, entrypoint_and_cmd, merged_env, merged_labels, volume_mounts
from vessel.errors import InvalidArgument, Unsupported
from vessel.oci.defaults import MASKED_PATHS, READONLY_PATHS, SHM_SIZE
from vessel.oci.image import ContainerConfig

_PORT = re.compile(r"[0-9]{1,5}")
LOG_DRIVER = "k8s-file"  # conmon's log format (what podman reports too)
RUNTIME_NAME = "vessel-runtime"
_GO_TYPES = {int: "int64", str: "string", bool: "bool", list: "[]string", dict: "map[string]string"}
# HostConfig fields vessel does not implement: refused unless null or their zero value
_UNSUPPORTED = ("PidMode", "UTSMode", "UsernsMode", "VolumesFrom", "Links", "GroupAdd", "DeviceCgroupRules",
                "DeviceRequests", "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
                "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod",
                "CpuRealtimeRuntime", "VolumeDriver", "Cgroup", "KernelMemory",
                "KernelMemoryTCP", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth")
# vessel's namespace is private on cgroup v2 and the host's on v1, whatever CgroupnsMode asks (as Docker's defaults)
_ALLOWED_VALUES = {"IpcMode": ("", "private", "shareable"), "CgroupnsMode": ("", "private", "host"),
                   "Isolation": ("", "default", "process", "container", "vm")}


def _json_type(value: Any) -> str:
    return {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "value")


class _Fields:
    """Typed access to one JSON object; errors name the field as `Where.Key`."""

    def __init__(self, data: Any, where: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidArgument(f"json: cannot unmarshal {_json_type(data)} into {where} of type object",
                                  field=where, hint=f"{where} must be a JSON object")
        self.data, self.where = data, where

    def _get(self, key: str, kind: type) -> Any:
        value = self.data.get(key)
        if value is None:
            return None
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InvalidArgument(f"json: cannot unmarshal {_json_type(value)} into Go struct field "
                                  f"{self.where}.{key} of type {_GO_TYPES.get(kind, kind.__name__)}",
                                  field=f"{self.where}.{key}", hint=f"send {self.where}.{key} as a JSON "
                                  f"{_json_type(kind())}")
        return value

    def str(self, key: str) -> str | None:
        return self._get(key, str) or None

    def int(self, key: str) -> int | None:
        return self._get(key, int)

    def bool(self, key: str) -> bool:
        return bool(self._get(key, bool))

    def strs(self, key: str, one_string: bool = False) -> list[str] | None:
        """A list of strings (a StrSlice also takes one string)."""
        value = self.data.get(key)
        if isinstance(value, str) and one_string:
            return [value]
        items = self._get(key, list)
        bad = next((i for i in items or () if not isinstance(i, str)), "")
        if items is not None and not isinstance(bad, str):
            raise InvalidArgument(f"json: cannot unmarshal {_json_type(bad)} into Go struct field {self.where}.{key} "
                                  f"of type string",
                                  field=f"{self.where}.{key}", hint=f"{self.where}.{key} is a list of strings")
        return items

    def map(self, key: str) -> dict[str, str]:
        value = self._get(key, dict) or {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise InvalidArgument(f"json: cannot unmarshal {_json_type(v)} into Go struct field "
                                      f"{self.where}.{key} of type string", field=f"{self.where}.{key}.{k}",
                                      hint=f"{self.where}.{key} maps strings to strings")
        return value

    def keys(self, key: str) -> list[str]:
        return list(self._get(key, dict) or {})

    def obj(self, key: str) -> _Fields:
        return _Fields(self.data.get(key), f"{self.where}.{key}")

    def objs(self, key: str) -> list[_Fields]:
        return [_Fields(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(self._get(key, list) or [])]


def _refuse_unsupported(host: _Fields) -> None:
    for key in _UNSUPPORTED:
        value = host.data.get(key)
        if value not in (None, "", 0, [], {}, False):
            raise Unsupported(f"HostConfig.{key} is not supported by vessel (got {value!r})",
                              field=f"HostConfig.{key}", hint=f"leave {key} unset")
    for key, allowed in _ALLOWED_VALUES.items():
        value = host.str(key) or ""
        if value not in allowed:
            raise Unsupported(f"HostConfig.{key} {value!r} is not supported by vessel", field=f"HostConfig.{key}",
                              hint=f"use one of {', '.join(repr(a) for a in allowed if a)}")
    for key, default in (("MaskedPaths", MASKED_PATHS), ("ReadonlyPaths", READONLY_PATHS)):
        paths = host.strs(key)
        if paths is not None and paths and paths != list(default):  # what inspect shows may come back
            raise Unsupported(f"HostConfig.{key} other than Docker's default is not supported by vessel",
                              field=f"HostConfig.{key}", hint=f"leave {key} unset")
    swappiness = host.int("MemorySwappiness")
    if swappiness not in (None, -1):
        raise Unsupported("HostConfig.MemorySwappiness is not supported by vessel", field="HostConfig.MemorySwappiness",
                          hint="leave it unset or -1")
    log_type = host.obj("LogConfig").str("Type") or ""
    if log_type not in ("", "json-file", "local", LOG_DRIVER):
        raise Unsupported(f"log driver {log_type!r} is not supported by vessel", field="HostConfig.LogConfig.Type",
                          hint="vessel keeps logs itself; leave LogConfig unset")


def _api_mount(m: _Fields) -> VolumeMount:
    kind, target, source = m.str("Type") or "volume", m.str("Target"), m.str("Source") or ""
    spec = f"{m.where} (Type {kind}, Target {target})"
    if not target:
        raise InvalidArgument(f"{m.where}.Target is required", field=f"{m.where}.Target", hint="give the mount point")
    target, readonly, options = check_target(target, spec), m.bool("ReadOnly"), []
    if kind == "bind":
        if not source:
            raise InvalidArgument('invalid mount config for type "bind": field Source must not be empty',
                                  field=f"{m.where}.Source", hint="give the host path")
        if not source.startswith("/"):
            raise InvalidArgument(f'invalid mount config for type "bind": invalid mount path: \'{source}\' mount path '
                                  f'must be absolute', field=f"{m.where}.Source", hint="give an absolute host path")
        bind = m.obj("BindOptions")
        propagation = bind.str("Propagation")
        if propagation and propagation not in PROPAGATIONS:
            raise InvalidArgument(f"invalid propagation mode: {propagation}", field=f"{bind.where}.Propagation",
                                  hint=f"one of {', '.join(PROPAGATIONS)}")
        options = ([propagation] if propagation else []) + (["bind"] if bind.bool("NonRecursive") else [])
        return VolumeMount("bind", target, source, readonly, tuple(options))
    if kind == "volume":
        if source:
            check_volume_name(source, spec)
        if m.obj("VolumeOptions").bool("NoCopy"):
            options.append("nocopy")
        return VolumeMount("volume" if source else "anonymous", target, source, readonly, tuple(options))
    if kind == "tmpfs":
        if source:
            raise InvalidArgument('invalid mount config for type "tmpfs": field Source must not be specified',
                                  field=f"{m.where}.Source", hint="drop Source")
        tmpfs = m.obj("TmpfsOptions")
        size, mode = tmpfs.int("SizeBytes"), tmpfs.int("Mode")
        if size and size < 0 or mode and not 0 <= mode <= 0o7777:
            raise InvalidArgument(f"invalid tmpfs options in {m.where}", field=tmpfs.where,
                                  hint="SizeBytes >= 0 and Mode a permission mode")
        options = ([tmpfs_size_option(size)] if size else []) + ([f"mode={mode:o}"] if mode else [])
        return VolumeMount("tmpfs", target, "", readonly, tuple(options))
    raise Unsupported(f"mount type {kind!r} is not supported by vessel", field=f"{m.where}.Type",
                      hint="use bind, volume or tmpfs")


def _ports(host: _Fields) -> tuple[PortSpec, ...]:
    out = []
    for key, bindings in (host._get("PortBindings", dict) or {}).items():
        where = f"HostConfig.PortBindings[{key!r}]"
        number, _, proto = key.partition("/")
        if not _PORT.fullmatch(number) or not 1 <= int(number) <= 65535 or (proto or "tcp") not in ("tcp", "udp"):
            raise InvalidArgument(f"invalid port {key!r} in {where}", field=where, hint='keys are "80/tcp" or "53/udp"')
        for binding in [_Fields(b, where) for b in (bindings or [{}])]:
            host_ip = binding.str("HostIp") or ""
            host_ip = "" if host_ip == "0.0.0.0" else parse_ip(host_ip, "publish") if host_ip else ""
            if ":" in host_ip:
                raise Unsupported(f"IPv6 host address {host_ip} in {where} is not supported", field=where,
                                  hint="vessel publishes IPv4 ports only")
            low, _, high = (binding.str("HostPort") or "0").partition("-")
            bad = not _PORT.fullmatch(low) or (high and not _PORT.fullmatch(high))
            if bad or max(int(low), int(high or 0)) > 65535:
                raise InvalidArgument(f"invalid host port {binding.str('HostPort')!r} in {where}", field=where,
                                      hint="a port number, a range 8000-8010, or empty for any")
            out.append(PortSpec(host_ip=host_ip, host_port=int(low), container_port=int(number),
                                protocol=proto or "tcp", host_port_end=int(high) if high else 0))
    return tuple(out)


def _endpoint(body: _Fields) -> _Fields:
    endpoints = body.obj("NetworkingConfig").obj("EndpointsConfig")
    names = list(endpoints.data)
    if len(names) > 1:
        raise InvalidArgument(f"Container cannot be connected to network endpoints: {', '.join(names)}",
                              field="NetworkingConfig.EndpointsConfig", hint="connect further networks after create")
    return endpoints.obj(names[0]) if names else _Fields({}, "NetworkingConfig.EndpointsConfig")


def _volumes(cfg: _Fields, host: _Fields) -> tuple[VolumeMount, ...]:
    vols = [parse_volume(b) for b in host.strs("Binds") or []]
    vols += [_api_mount(m) for m in host.objs("Mounts")]
    vols += [parse_tmpfs(f"{k}:{v}" if v else k) for k, v in host.map("Tmpfs").items()]
    taken = {v.target for v in vols}
    vols += [VolumeMount("anonymous", check_target(t, "Config.Volumes")) for t in cfg.keys("Volumes")
             if check_target(t, "Config.Volumes") not in taken]
    return tuple(vols)


def _resources(host: _Fields) -> dict[str, Any]:
    nano = host.int("NanoCpus")
    ulimits = [parse_ulimit(f"{u.str('Name') or ''}={u.int('Soft') or 0}:{u.int('Hard') or 0}")
               for u in host.objs("Ulimits")]
    pids = host.int("PidsLimit")
    return dict(memory=host.int("Memory") or None, memory_reservation=host.int("MemoryReservation") or None,
                memory_swap=host.int("MemorySwap") or None, cpus=nano / 1e9 if nano else None,
                cpu_shares=host.int("CpuShares") or None, cpu_period=host.int("CpuPeriod") or None,
                cpu_quota=host.int("CpuQuota") or None, cpuset_cpus=host.str("CpusetCpus"),
                cpuset_mems=host.str("CpusetMems"), pids_limit=pids if pids and pids > 0 else None,
                ulimits=tuple(ulimits), oom_kill_disable=host.bool("OomKillDisable"),
                oom_score_adj=host.int("OomScoreAdj") or None, shm_size=host.int("ShmSize") or None)


def _devices(host: _Fields) -> tuple[str, ...]:
    out = []
    for d in host.objs("Devices"):
        path = d.str("PathOnHost")
        if not path:
            raise InvalidArgument(f"{d.where}.PathOnHost is required", field=f"{d.where}.PathOnHost",
                                  hint="name the host device, e.g. /dev/fuse")
        out.append(f"{path}:{d.str('PathInContainer') or path}:{d.str('CgroupPermissions') or 'rwm'}")
    return tuple(out)


def options_from_api(body: Any, name: str | None = None) -> RunOptions:
    """A create request's body (and its ?name=) -> RunOptions, validated as dockerd does."""
    if body is None:
        raise InvalidArgument("config cannot be empty in order to create a container", field="Config",
                              hint="send a JSON object with at least Image")
    cfg = _Fields(body, "Config")
    host = _Fields(cfg.data.get("HostConfig"), "HostConfig")
    _refuse_unsupported(host)
    image = cfg.str("Image")
    if not image:
        raise InvalidArgument("no image given: Config.Image is empty", field="Config.Image",
                              hint="name the image to create the container from")
    network = cfg.bool("NetworkDisabled") and "none" or host.str("NetworkMode") or "bridge"
    network = "bridge" if network == "default" else network
    endpoint = _endpoint(cfg)
    ipam = endpoint.obj("IPAMConfig")
    entrypoint = cfg.strs("Entrypoint", one_string=True)
    command = cfg.strs("Cmd", one_string=True)
    restart = host.obj("RestartPolicy")
    security = parse_security_opts(host.strs("SecurityOpt") or [])
    attach = cfg.bool("AttachStdin") or cfg.bool("AttachStdout") or cfg.bool("AttachStderr")
    isolation = host.str("Isolation") or "container"
    opts = RunOptions(
        image=image, command=tuple(command) if command else None,
        entrypoint=None if entrypoint is None else () if entrypoint == [""] else tuple(entrypoint),
        name=name.lstrip("/") if name else None, env=tuple(cfg.strs("Env") or ()), workdir=cfg.str("WorkingDir"),
        user=cfg.str("User"), hostname=cfg.str("Hostname"), domainname=cfg.str("Domainname"),
        labels=cfg.map("Labels"), volumes=_volumes(cfg, host), read_only=host.bool("ReadonlyRootfs"),
        tty=cfg.bool("Tty"), interactive=cfg.bool("OpenStdin"), detach=not attach, remove=host.bool("AutoRemove"),
        init=host.bool("Init"), **_resources(host), cap_add=tuple(host.strs("CapAdd") or ()),
        cap_drop=tuple(host.strs("CapDrop") or ()), privileged=host.bool("Privileged"),
        seccomp_profile=security.seccomp_profile, no_new_privileges=security.no_new_privileges,
        devices=_devices(host), sysctls=host.map("Sysctls"),
        restart=check_restart(RestartPolicy(name=restart.str("Name") or "no",
                                            max_retries=restart.int("MaximumRetryCount") or 0)),
        stop_signal=cfg.str("StopSignal"), stop_timeout=cfg.int("StopTimeout"), healthcheck=_healthcheck(cfg),
        network=network,
        network_aliases=tuple(endpoint.strs("Aliases") or ()), publish=_ports(host),
        publish_all=host.bool("PublishAllPorts"),
        ip=parse_ip(ipam.str("IPv4Address")) if ipam.str("IPv4Address") else None,
        mac_address=endpoint.str("MacAddress") or cfg.str("MacAddress"),
        dns=tuple(parse_ip(d, "dns") for d in host.strs("Dns") or ()),
        dns_search=tuple(parse_dns_search(d) for d in host.strs("DnsSearch") or ()),
        dns_options=tuple(host.strs("DnsOptions") or ()),
        extra_hosts=tuple(parse_add_host(h) for h in host.strs("ExtraHosts") or ()),
        runtime=None if host.str("Runtime") == RUNTIME_NAME else host.str("Runtime"),
        isolation="vm" if isolation == "vm" else "container", exposed_ports=tuple(cfg.keys("ExposedPorts")))
    validate_options(opts)
    return opts


def _healthcheck(cfg) -> dict | None:
    """Config.Healthcheck: Test (CMD, CMD-SHELL or NONE; [] inherits the image's), durations in ns, Retries."""
    hc = cfg.obj("Healthcheck")
    if not hc.data:
        return None
    out: dict = {}
    test = hc.strs("Test")
    if test:
        if test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise InvalidArgument(f"Config.Healthcheck.Test must start with CMD, CMD-SHELL or NONE, not {test[0]!r}",
                                  field="Config.Healthcheck.Test", hint='e.g. ["CMD-SHELL", "true"]')
        out["Test"] = list(test)
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        value = hc.int(key)
        if value is not None:
            if value < 0:
                raise InvalidArgument(f"Config.Healthcheck.{key} cannot be negative", field=f"Config.Healthcheck.{key}",
                                      value=value)
            if key != "Retries" and 0 < value < 1_000_000:
                raise InvalidArgument(f"Config.Healthcheck.{key} should be 0 or at least 1ms (in nanoseconds)",
                                      field=f"Config.Healthcheck.{key}", value=value)
            out[key] = value
    return out or None


# ---- inspect ----------------------------------------------------------------------------------------------

def _bind_string(vol: VolumeMount) -> str:
    modes = (["ro"] if vol.readonly else []) + [o for o in vol.options if o != "bind"]
    return f"{vol.source}:{vol.target}" + (":" + ",".join(modes) if modes else "")


def _port_bindings(opts: RunOptions) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for p in opts.publish:
        port = f"{p.host_port}-{p.host_port_end}" if p.host_port_end else (str(p.host_port) if p.host_port else "")
        out.setdefault(f"{p.container_port}/{p.protocol}", []).append({"HostIp": p.host_ip, "HostPort": port})
    return out


def _security_opt(opts: RunOptions) -> list[str] | None:
    out = [f"seccomp={opts.seccomp_profile}"] if opts.seccomp_profile else []
    out += ["no-new-privileges"] if opts.no_new_privileges else []
    return out or None


def host_config_json(opts: RunOptions, *, cgroup_v2: bool = True) -> dict[str, Any]:
    """docker inspect's HostConfig of a container created with `opts`."""
    binds = [_bind_string(v) for v in opts.volumes if v.kind in ("bind", "volume")]
    tmpfs = {v.target: ",".join([*v.options, *(["ro"] if v.readonly and "ro" not in v.options else [])])
             for v in opts.volumes if v.kind == "tmpfs"}
    out: dict[str, Any] = {
        "Binds": binds or None, "ContainerIDFile": "", "LogConfig": {"Type": LOG_DRIVER, "Config": {}},
        "NetworkMode": opts.network, "PortBindings": _port_bindings(opts),
        "RestartPolicy": {"Name": opts.restart.name, "MaximumRetryCount": opts.restart.max_retries},
        "AutoRemove": opts.remove, "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0],
        "CapAdd": list(opts.cap_add) or None, "CapDrop": list(opts.cap_drop) or None,
        "CgroupnsMode": "private" if cgroup_v2 else "host", "Dns": list(opts.dns),
        "DnsOptions": list(opts.dns_options), "DnsSearch": list(opts.dns_search),
        "ExtraHosts": list(opts.extra_hosts) or None, "GroupAdd": None, "IpcMode": "private", "Cgroup": "",
        "Links": None, "OomScoreAdj": opts.oom_score_adj or 0, "PidMode": "", "Privileged": opts.privileged,
        "PublishAllPorts": opts.publish_all, "ReadonlyRootfs": opts.read_only, "SecurityOpt": _security_opt(opts),
        "UTSMode": "", "UsernsMode": "", "ShmSize": opts.shm_size or SHM_SIZE, "Runtime": opts.runtime or RUNTIME_NAME,
        "Isolation": "" if opts.isolation == "container" else opts.isolation, "CpuShares": opts.cpu_shares or 0,
        "Memory": opts.memory or 0, "NanoCpus": round(opts.cpus * 1e9) if opts.cpus else 0, "CgroupParent": "",
        "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": opts.cpu_period or 0,
        "CpuQuota": opts.cpu_quota or 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetCpus": opts.cpuset_cpus or "", "CpusetMems": opts.cpuset_mems or "",
        "Devices": [dict(zip(("PathOnHost", "PathInContainer", "CgroupPermissions"), _device_fields(d)))
                    for d in opts.devices],
        "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": opts.memory_reservation or 0,
        "MemorySwap": effective_memory_swap(opts) or 0, "MemorySwappiness": None,
        "OomKillDisable": opts.oom_kill_disable, "PidsLimit": opts.pids_limit,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in opts.ulimits],
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": [] if opts.privileged else list(MASKED_PATHS),
        "ReadonlyPaths": [] if opts.privileged else list(READONLY_PATHS),
    }
    if opts.init:
        out["Init"] = True
    if tmpfs:
        out["Tmpfs"] = tmpfs
    if opts.sysctls:
        out["Sysctls"] = dict(opts.sysctls)
    return out


def _device_fields(spec: str) -> tuple[str, str, str]:
    d = parse_device(spec)
    return d.host_path, d.container_path, d.permissions


def config_json(opts: RunOptions, image: ContainerConfig | None, *, hostname: str | None = None) -> dict[str, Any]:
    """docker inspect's Config: the options merged with the image's config as dockerd merges them."""
    entrypoint, cmd = entrypoint_and_cmd(image, opts)
    exposed = dict.fromkeys([*((image.exposed_ports or {}) if image else {}), *opts.exposed_ports,
                             *(f"{p.container_port}/{p.protocol}" for p in opts.publish)])
    volumes = {v.target: {} for v in volume_mounts(image, opts) if v.kind == "anonymous"}
    attach_stdin = opts.interactive and not opts.detach
    out: dict[str, Any] = {
        "Hostname": hostname or opts.hostname or "", "Domainname": opts.domainname or "",
        "User": opts.user or (image.user if image else None) or "", "AttachStdin": attach_stdin,
        "AttachStdout": not opts.detach, "AttachStderr": not opts.detach,
    }
    if exposed:
        out["ExposedPorts"] = {port if "/" in port else f"{port}/tcp": {} for port in exposed}
    out.update({
        "Tty": opts.tty, "OpenStdin": opts.interactive, "StdinOnce": attach_stdin, "Env": merged_env(image, opts),
        "Cmd": cmd or None, "Image": opts.image, "Volumes": volumes or None,
        "WorkingDir": opts.workdir or (image.working_dir if image else None) or "", "Entrypoint": entrypoint or None,
        "OnBuild": None, "Labels": merged_labels(image, opts),
    })
    stop_signal = opts.stop_signal or (image.stop_signal if image else None)
    if stop_signal:
        out["StopSignal"] = stop_signal
    if opts.stop_timeout is not None:
        out["StopTimeout"] = opts.stop_timeout
    if opts.healthcheck:
        out["Healthcheck"] = dict(opts.healthcheck)
    return out
