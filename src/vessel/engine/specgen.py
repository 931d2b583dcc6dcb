"""Image config + RunOptions + what the engine prepared -> the container's OCI runtime spec (pure).

`generate(image, opts, ctx)` does what dockerd's createSpec does, with
Docker's defaults (`vessel.oci.defaults`):

* process: args = entrypoint + cmd (`--entrypoint` drops the image's Cmd, a
  command replaces it, `--init` runs it under /sbin/docker-init); env = PATH,
  HOSTNAME, TERM=xterm with -t, then the image's Env overridden by -e keys
  (a lone "KEY" unsets), plus HOME from passwd as runc adds it; cwd = -w, the
  image's WorkingDir, or "/"; user from the image's /etc/passwd and
  /etc/group; capabilities = Docker's 14 + --cap-add - --cap-drop ("ALL",
  CAP_ prefix optional, any case), all of them with --privileged; rlimits
  from --ulimit; oomScoreAdj.
* mounts: Docker's defaults (minus those a user mount replaces), the init
  binary, then volumes, binds, the /etc/{resolv.conf,hostname,hosts} files
  and tmpfs mounts, parents before children.  Binds are rbind + rprivate,
  volumes rbind; tmpfs get noexec,nosuid,nodev.  --read-only makes the root
  and the default mounts read-only (not /proc, /dev*, nor user mounts).
* linux: namespaces mount, network (joined at ctx.netns_path; none with
  --network host), uts, pid, ipc, and cgroup on cgroup v2 hosts (Docker's
  "private" default there; on v1/hybrid Docker shares the host's cgroupns
  and so does vessel); masked and read-only paths; seccomp = Docker's default
  profile for the bounding set, a custom one, or none (unconfined or
  --privileged); the device cgroup denies all then allows Docker's list and
  --device nodes; resources; sysctls (Docker's two defaults for a private
  network namespace, then --sysctl).
* --privileged: all capabilities, no seccomp, no masked/read-only paths, rw
  /sys and cgroup mounts, every host device (ctx.host_devices, which the
  engine fills with `scan_host_devices()`) created in the container's /dev
  and allowed in the device cgroup.

The stop signal and restart policy stay with the engine.  The only impure
helpers are at the end: `scan_host_devices()` and `stat_devices()`.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from vessel.engine.flags import merge_tmpfs_options, parse_device, validate_options
from vessel.engine.options import RunOptions, VolumeMount
from vessel.engine.users import resolve_user
from vessel.errors import InvalidArgument, NotFound, Unsupported
from vessel.oci.defaults import (DEFAULT_CAPS, DEFAULT_ENV_PATH, MASKED_PATHS, READONLY_PATHS, SHM_SIZE,
                                 default_mounts, default_seccomp, resolve_profile)
from vessel.oci.image import ContainerConfig
from vessel.oci.resources import Cpu, DeviceRule, Memory, Pids, Resources
from vessel.oci.spec import (Capabilities, Device, Linux, Mount, Namespace, Process, Rlimit, Root, Seccomp, Spec,
                             User)
from vessel.oci.validate import validate
from vessel.runtime.linux.caps import CAPS

OCI_VERSION = "1.2.0"
INIT_IN_CONTAINER = "/sbin/docker-init"
DEFAULT_INIT = "/usr/bin/tini-static"  # Debian's tini package; static, so it runs in any rootfs
CPU_PERIOD = 100_000
RLIM_INFINITY = (1 << 64) - 1
# Docker's sysctls for a container with its own network namespace (ping without CAP_NET_RAW, any port).
DEFAULT_SYSCTLS = {"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}
# Docker's device cgroup: deny all, allow zero, null, urandom, random, tty, console, deny fuse (moby's
# DefaultLinuxSpec), plus full, ptmx and pts/* that runc adds to every container.
DEFAULT_DEVICE_RULES = (
    DeviceRule(allow=False, access="rwm"),
    *(DeviceRule(allow=True, type="c", major=ma, minor=mi, access="rwm")
      for ma, mi in ((1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1))),
    DeviceRule(allow=False, type="c", major=10, minor=229, access="rwm"),
    DeviceRule(allow=True, type="c", major=1, minor=7, access="rwm"),
    DeviceRule(allow=True, type="c", major=5, minor=2, access="rwm"),
    DeviceRule(allow=True, type="c", major=136, access="rwm"),
)
_NETWORK_FILES = ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts")
_NOT_READONLY = ("/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev")


@dataclass(frozen=True)
class SpecContext:
    """What the engine prepared for one container."""

    container_id: str
    rootfs: str  # absolute host path of the overlay merge directory
    hostname: str | None = None  # default host name: None -> container_id[:12] (the host's for --network host)
    etc_files: Mapping[str, str] = field(default_factory=dict)  # /etc/resolv.conf, /etc/hostname, /etc/hosts -> host
    volume_sources: Mapping[str, str] = field(default_factory=dict)  # target -> host dir of each (named/anon) volume
    netns_path: str | None = None  # namespace to join (bridge, user network, container:X); None: a new empty one
    cgroups_path: str | None = None  # None -> /vessel/<id>
    cgroup_v2: bool = True  # a private cgroup namespace on v2 (Docker's default); the host's on v1/hybrid
    init_path: str | None = None  # host binary bound at /sbin/docker-init for --init (DEFAULT_INIT)
    passwd: str | None = None  # the image's /etc/passwd and /etc/group text (None: no such file)
    group: str | None = None
    host_devices: Mapping[str, Device] = field(default_factory=dict)  # host path -> node, for --device/--privileged
    default_sysctls: bool = True  # Docker's DEFAULT_SYSCTLS for a private network namespace
    kernel: str | None = None  # uname -r for the seccomp profile's minKernel rules (None: this host's)
    arch: str | None = None  # libseccomp arch name (None: this host's)
    host_caps: tuple[str, ...] | None = None  # what the engine may grant ("ALL", --privileged): host_capabilities()
    host_cpus: int | None = None  # for the --cpus range check (None: not checked)


# ---- the image's config merged with the options (what docker inspect's Config shows) ----------------------

def entrypoint_and_cmd(image: ContainerConfig | None, opts: RunOptions) -> tuple[list[str], list[str]]:
    """Docker's merge: no --entrypoint -> the image's, and its Cmd unless a command is given;
    --entrypoint X -> X and only the given command; --entrypoint "" -> just the given command."""
    cmd = list(opts.command or ())
    if opts.entrypoint is None:
        entrypoint = list(image.entrypoint or []) if image else []
        if not cmd and image:
            cmd = list(image.cmd or [])
    else:
        entrypoint = list(opts.entrypoint)
    return ([] if entrypoint == [""] else entrypoint), cmd


def merged_env(image: ContainerConfig | None, opts: RunOptions) -> list[str]:
    """The container's Config.Env: the user's entries, then the image's whose key the user did not give."""
    user_keys = {e.partition("=")[0] for e in opts.env}
    return list(opts.env) + [e for e in (image.env or [] if image else []) if e.partition("=")[0] not in user_keys]


def merged_labels(image: ContainerConfig | None, opts: RunOptions) -> dict[str, str]:
    return {**(image.labels or {} if image else {}), **opts.labels}


def effective_memory_swap(opts: RunOptions) -> int | None:
    """--memory-swap as docker stores it: unset with --memory -> twice the memory; -1 unlimited."""
    if opts.memory and not opts.memory_swap:
        return 2 * opts.memory
    return opts.memory_swap or None


def volume_mounts(image: ContainerConfig | None, opts: RunOptions) -> tuple[VolumeMount, ...]:
    """Every mount of the container: the user's, then an anonymous volume per image VOLUME not covered."""
    taken = {v.target for v in opts.volumes}
    extra = [VolumeMount(kind="anonymous", target=posixpath.normpath(t))
             for t in sorted((image.volumes or {}) if image else {}) if posixpath.normpath(t) not in taken]
    return tuple(opts.volumes) + tuple(extra)


def _replace_or_append(base: list[str], overrides: Iterable[str]) -> list[str]:
    """moby's ReplaceOrAppendEnvValues: same key replaced in place, new keys appended, a lone KEY removes."""
    out: list[str | None] = list(base)
    index = {e.partition("=")[0]: i for i, e in enumerate(base)}
    for item in overrides:
        key, sep, _ = item.partition("=")
        if key in index:
            out[index[key]] = item if sep else None
        elif sep:
            index[key] = len(out)
            out.append(item)
    return [e for e in out if e is not None]


# ---- process ----------------------------------------------------------------------------------------------

def _normalise_caps(names: Iterable[str], known: Sequence[str]) -> list[str]:
    out = []
    for raw in names:
        name = raw.upper()
        if name != "ALL":
            name = name if name.startswith("CAP_") else "CAP_" + name
            if name not in CAPS:
                raise InvalidArgument(f'unknown capability: "{name}"', value=raw,
                                      hint="see capabilities(7); names with or without CAP_, or ALL")
            if name not in known:
                raise InvalidArgument(f'capability not supported by your kernel or not available in the current '
                                      f'environment: "{name}"', value=raw)
        out.append(name)
    return out


def capability_set(opts: RunOptions, host_caps: Sequence[str] | None = None) -> list[str]:
    """moby's TweakCapabilities: privileged -> all; ALL in add -> all but drops; ALL in drop -> adds only.

    "All" is what the engine itself may grant (`host_caps`, default every capability Linux names).
    """
    known = [c for c in CAPS if c in host_caps] if host_caps is not None else list(CAPS)
    if opts.privileged:
        return list(known)
    add, drop = _normalise_caps(opts.cap_add, known), _normalise_caps(opts.cap_drop, known)
    if "ALL" in add:
        caps = [c for c in known if c not in drop]
    elif "ALL" in drop:
        caps = add
    else:
        caps = [c for c in DEFAULT_CAPS if c not in drop] + add
    return list(dict.fromkeys(caps))


def _args(image: ContainerConfig | None, opts: RunOptions, ctx: SpecContext) -> list[str]:
    entrypoint, cmd = entrypoint_and_cmd(image, opts)
    args = entrypoint + cmd
    if not args:
        raise InvalidArgument("No command specified", value=opts.image,
                              hint="give a command after the image name, or use an image with CMD or ENTRYPOINT")
    if opts.init:
        if not ctx.init_path:
            raise Unsupported("--init needs an init binary and none was found", value=DEFAULT_INIT,
                              hint="install Debian's tini package (tini-static)")
        args = [INIT_IN_CONTAINER, "--", *args]
    return args


def _rlimits(opts: RunOptions) -> list[Rlimit]:
    def value(v: int) -> int:
        return RLIM_INFINITY if v < 0 else v

    return [Rlimit(type="RLIMIT_" + u.name.upper(), hard=value(u.hard), soft=value(u.soft)) for u in opts.ulimits]


def _process(image: ContainerConfig | None, opts: RunOptions, ctx: SpecContext, hostname: str,
             caps: list[str]) -> Process:
    user_spec = opts.user or (image.user if image else None)
    uid, gid, gids, home = resolve_user(user_spec, ctx.passwd, ctx.group)
    base = [DEFAULT_ENV_PATH, f"HOSTNAME={hostname}"] + (["TERM=xterm"] if opts.tty else [])
    env = _replace_or_append(base, merged_env(image, opts))
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    cwd = opts.workdir or (image.working_dir if image else None) or "/"
    return Process(args=_args(image, opts, ctx), cwd=posixpath.normpath(posixpath.join("/", cwd)), env=env,
                   terminal=opts.tty, user=User(uid=uid, gid=gid, additional_gids=gids),
                   capabilities=Capabilities(bounding=list(caps), effective=list(caps), permitted=list(caps)),
                   rlimits=_rlimits(opts), no_new_privileges=opts.no_new_privileges,
                   oom_score_adj=opts.oom_score_adj or 0)


# ---- mounts -----------------------------------------------------------------------------------------------

def _depth(path: str) -> int:
    return posixpath.normpath(path).count("/")


def _volume_dir(vol: VolumeMount, ctx: SpecContext) -> str:
    try:
        return ctx.volume_sources[vol.target]
    except KeyError:
        what = f"volume {vol.source}" if vol.source else "the anonymous volume"
        raise InvalidArgument(f"no host directory was prepared for {what} at {vol.target}", value=vol.target,
                              hint="the engine creates every volume of volume_mounts() before generate()") from None


def _user_mount(vol: VolumeMount, ctx: SpecContext) -> Mount:
    if vol.kind == "tmpfs":
        options = ["noexec", "nosuid", "nodev", "rprivate", *vol.options] + (["ro"] if vol.readonly else [])
        return Mount(destination=vol.target, type="tmpfs", source="tmpfs", options=merge_tmpfs_options(options))
    if vol.kind not in ("bind", "volume", "anonymous"):
        raise InvalidArgument(f"unknown mount kind {vol.kind!r} at {vol.target}", value=vol.kind,
                              hint="kinds are volume, anonymous, bind and tmpfs")
    source = vol.source if vol.kind == "bind" else _volume_dir(vol, ctx)
    propagation = [o for o in vol.options if o in ("shared", "rshared", "slave", "rslave", "private", "rprivate")]
    if vol.kind == "bind" and not propagation:
        propagation = ["rprivate"]
    options = ["bind" if "bind" in vol.options else "rbind"] + (["ro"] if vol.readonly else []) + propagation[-1:]
    return Mount(destination=vol.target, type="bind", source=source, options=options)


def _network_files(ctx: SpecContext, read_only: bool, taken: set[str]) -> list[Mount]:
    """The generated /etc files (docker's order first), unless a user mount takes their place."""
    order = [d for d in _NETWORK_FILES if d in ctx.etc_files] + [d for d in ctx.etc_files if d not in _NETWORK_FILES]
    return [Mount(destination=dest, type="bind", source=ctx.etc_files[dest],
                  options=["rbind"] + (["ro"] if read_only else []) + ["rprivate"])
            for dest in order if dest not in taken]


def _rootfs_propagation(user: list[Mount]) -> str | None:
    modes = {o for m in user if m.type == "bind" for o in m.options}
    if modes & {"shared", "rshared"}:
        return "shared"
    if modes & {"slave", "rslave"}:
        return "rslave"
    return None


def _mounts(image: ContainerConfig | None, opts: RunOptions, ctx: SpecContext) -> tuple[list[Mount], str | None]:
    vols = volume_mounts(image, opts)
    taken = {v.target for v in vols}
    user = [_user_mount(v, ctx) for v in vols if v.kind != "tmpfs"]
    user += _network_files(ctx, opts.read_only, taken)
    user += [_user_mount(v, ctx) for v in vols if v.kind == "tmpfs"]
    user.sort(key=lambda m: _depth(m.destination))
    dests = {m.destination for m in user}
    defaults = [m for m in default_mounts(opts.shm_size or SHM_SIZE) if m.destination not in dests
                and not ("/dev" in dests and m.destination.startswith("/dev/"))]
    if opts.init and ctx.init_path:
        defaults.append(Mount(destination=INIT_IN_CONTAINER, type="bind", source=ctx.init_path,
                              options=["bind", "ro"]))
    if opts.read_only:
        defaults = [m if m.destination in _NOT_READONLY or "ro" in m.options else replace(m, options=[*m.options, "ro"])
                    for m in defaults]
    if opts.privileged:
        defaults = [replace(m, options=[o for o in m.options if o != "ro"]) if m.type in ("sysfs", "cgroup") else m
                    for m in defaults]
    return defaults + user, _rootfs_propagation(user)


# ---- devices, resources, security -------------------------------------------------------------------------

def _mapped_devices(spec: str, ctx: SpecContext) -> list[tuple[Device, DeviceRule]]:
    mapping = parse_device(spec)
    host, dest = mapping.host_path, mapping.container_path
    found = [(host, dest)] if host in ctx.host_devices else [
        (path, posixpath.join(dest, path[len(host) + 1:])) for path in sorted(ctx.host_devices)
        if path.startswith(host.rstrip("/") + "/")]
    if not found:
        raise NotFound(f'error gathering device information while adding custom device "{host}": '
                       f'no such file or directory', path=host, hint="--device takes a device node or a directory")
    out = []
    for path, target in found:
        dev = ctx.host_devices[path]
        out.append((replace(dev, path=target), DeviceRule(allow=True, type=dev.type, major=dev.major,
                                                          minor=dev.minor, access=mapping.permissions)))
    return out


def _devices(opts: RunOptions, ctx: SpecContext) -> tuple[list[Device], list[DeviceRule]]:
    mapped = [pair for spec in opts.devices for pair in _mapped_devices(spec, ctx)]
    if opts.privileged:
        devices = [replace(d, path=p) for p, d in sorted(ctx.host_devices.items())]
        known = {d.path for d in devices}
        return devices + [d for d, _ in mapped if d.path not in known], [DeviceRule(allow=True, access="rwm")]
    return [d for d, _ in mapped], list(DEFAULT_DEVICE_RULES) + [r for _, r in mapped]


def _resources(opts: RunOptions, ctx: SpecContext, rules: list[DeviceRule]) -> Resources:
    memory = Memory(limit=opts.memory or None, reservation=opts.memory_reservation or None,
                    swap=effective_memory_swap(opts),
                    disable_oom_killer=True if opts.oom_kill_disable and not ctx.cgroup_v2 else None)
    quota, period = opts.cpu_quota or None, opts.cpu_period or None
    if opts.cpus is not None:
        quota, period = round(opts.cpus * 1_000_000_000) * CPU_PERIOD // 1_000_000_000, CPU_PERIOD
    cpu = Cpu(shares=opts.cpu_shares or None, quota=quota, period=period, cpus=opts.cpuset_cpus or None,
              mems=opts.cpuset_mems or None)
    pids = None if opts.pids_limit is None else Pids(limit=opts.pids_limit if opts.pids_limit > 0 else -1)
    return Resources(devices=rules, memory=memory if memory != Memory() else None,
                     cpu=cpu if cpu != Cpu() else None, pids=pids)


def _seccomp(opts: RunOptions, caps: list[str], ctx: SpecContext) -> Seccomp | None:
    profile = opts.seccomp_profile
    if opts.privileged or profile == "unconfined":
        return None
    if profile is None:
        return default_seccomp(set(caps), arch=ctx.arch, kernel=ctx.kernel)
    text = profile
    if not profile.lstrip().startswith("{"):
        try:
            text = Path(profile).read_text()
        except OSError as err:
            raise NotFound(f"opening seccomp profile ({profile}) failed: {err.strerror or err}", path=profile,
                           hint="give a readable JSON file in docker's seccomp format") from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InvalidArgument(f"decoding seccomp profile failed: {err}", hint="the profile must be JSON") from None
    if not isinstance(data, dict):
        raise InvalidArgument("decoding seccomp profile failed: not a JSON object", hint="see docker's format")
    return resolve_profile(data, set(caps), arch=ctx.arch, kernel=ctx.kernel)


def _namespaces(opts: RunOptions, ctx: SpecContext) -> list[Namespace]:
    out = [Namespace(type="mount")]
    if opts.network != "host":
        if opts.network.startswith("container:") and not ctx.netns_path:
            raise InvalidArgument(f"network mode {opts.network} needs that container's network namespace",
                                  value=opts.network, hint="start the other container first")
        out.append(Namespace(type="network", path=ctx.netns_path))
    out += [Namespace(type="uts"), Namespace(type="pid"), Namespace(type="ipc")]
    if ctx.cgroup_v2:
        out.append(Namespace(type="cgroup"))
    return out


def _sysctls(opts: RunOptions, ctx: SpecContext) -> dict[str, str]:
    private_net = opts.network != "host" and not opts.network.startswith("container:")
    return {**(DEFAULT_SYSCTLS if private_net and ctx.default_sysctls else {}), **opts.sysctls}


# ---- the spec ---------------------------------------------------------------------------------------------

def generate(image: ContainerConfig | None, opts: RunOptions, ctx: SpecContext) -> Spec:
    """The OCI runtime spec of a container of `image` run with `opts` (validated)."""
    validate_options(opts, ctx.host_cpus)
    hostname = opts.hostname or ctx.hostname or ctx.container_id[:12]
    caps = capability_set(opts, ctx.host_caps)
    mounts, propagation = _mounts(image, opts, ctx)
    devices, rules = _devices(opts, ctx)
    linux = Linux(namespaces=_namespaces(opts, ctx), devices=devices,
                  cgroups_path=ctx.cgroups_path or f"/vessel/{ctx.container_id}",
                  resources=_resources(opts, ctx, rules), rootfs_propagation=propagation,
                  seccomp=_seccomp(opts, caps, ctx), sysctl=_sysctls(opts, ctx),
                  masked_paths=[] if opts.privileged else list(MASKED_PATHS),
                  readonly_paths=[] if opts.privileged else list(READONLY_PATHS))
    annotations = {"io.vessel.image": opts.image} | ({"io.vessel.name": opts.name} if opts.name else {})
    spec = Spec(oci_version=OCI_VERSION, root=Root(path=ctx.rootfs, readonly=opts.read_only),
                process=_process(image, opts, ctx, hostname, caps), hostname=hostname,
                domainname=opts.domainname or None, mounts=mounts, annotations=annotations, linux=linux)
    validate(spec)
    return spec


def create_warnings(opts: RunOptions, ctx: SpecContext) -> list[str]:
    """What docker's create answers in Warnings for options it discards."""
    out = []
    if opts.network == "host" and (opts.publish or opts.publish_all):
        out.append("Published ports are discarded when using host network mode")
    if opts.oom_kill_disable and ctx.cgroup_v2:
        out.append("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
    if opts.oom_kill_disable and not opts.memory:
        out.append("OOM killer is disabled for the container, but no memory limit is set, this can result in "
                   "the system running out of resources.")
    return out


# ---- the shell: host device nodes -------------------------------------------------------------------------

_SKIP_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})
# /dev/console belongs to the container's terminal; /dev/ptmx is pointed at the container's devpts by the
# runtime (runc replaces the node with a symlink, vessel-runtime makes the symlink first)
_SKIP_FILES = frozenset({"console", "ptmx"})


def host_capabilities(status: str = "/proc/self/status") -> tuple[str, ...]:
    """The capabilities in this process's bounding set (what docker calls "available in the environment")."""
    try:
        text = Path(status).read_text()
    except OSError as err:
        raise NotFound(f"cannot read {status}: {err.strerror or err}", path=status) from None
    for line in text.splitlines():
        if line.startswith("CapBnd:"):
            mask = int(line.split()[1], 16)
            return tuple(name for bit, name in enumerate(CAPS) if mask >> bit & 1)
    raise NotFound(f"no CapBnd line in {status}", path=status)


def device_node(path: str) -> Device | None:
    """The node at `path` (symlinks followed) as an OCI device, or None if it is no device."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else None
    if kind is None:
        return None
    return Device(type=kind, path=path, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
                  file_mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)


def _walk(root: str, skip_dirs: frozenset[str]) -> dict[str, Device]:
    out: dict[str, Device] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip_dirs]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if name in _SKIP_FILES or os.path.islink(path):
                continue
            dev = device_node(path)
            if dev is not None:
                out[path] = dev
    return out


def scan_host_devices(root: str = "/dev") -> dict[str, Device]:
    """Every device node under /dev (not pts, shm, fd, mqueue, console, ptmx, symlinks), for --privileged."""
    return _walk(root, _SKIP_DIRS)


def stat_devices(specs: Iterable[str]) -> dict[str, Device]:
    """The host nodes --device names: each path, or every device under a directory."""
    out: dict[str, Device] = {}
    for spec in specs:
        host = parse_device(spec).host_path
        dev = device_node(host)
        if dev is not None:
            out[host] = dev
        elif os.path.isdir(host):
            out.update(_walk(host, frozenset()))
    return out
