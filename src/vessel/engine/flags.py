"""docker `run`/`create` flags -> RunOptions (pure; files are read through an injected reader).

`add_run_flags(parser)` declares docker's flags (names, short forms, COMMAND
kept verbatim after IMAGE); `options_from_args(args)` turns the parsed
namespace into a `RunOptions`, using one small parser per flag value, each
raising `InvalidArgument` with docker's wording and a hint.
`validate_options(opts)` holds the cross-field checks docker's daemon makes;
the API path (`apibody.py`) reuses the same parsers and checks.

Conventions kept in `RunOptions`:
* `env` entries without "=" mean "unset this variable" (`-e FOO` when FOO is
  not in the caller's environment, as docker);
* `seccomp_profile` is "unconfined", or the profile's JSON text (the docker
  CLI reads the file client side and sends its content; so does vessel), or
  a path (read by `specgen.generate` if a caller built RunOptions by hand).
"""

from __future__ import annotations

import argparse
import csv
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vessel.engine.options import PortSpec, RestartPolicy, RunOptions, Ulimit, VolumeMount
from vessel.errors import InvalidArgument, NotFound

ReadText = Callable[[str], str]

MIN_MEMORY = 6 << 20  # docker's linuxMinMemory
_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_DOMAIN = re.compile(r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*"
                     r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
ULIMITS = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
           "rtprio", "rttime", "sigpending", "stack")
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
# mount flags of a tmpfs option list, grouped as moby's MergeTmpfsOptions collides them (last one wins)
_FLAG_GROUPS = {
    "ro": "rdonly", "rw": "rdonly", "suid": "nosuid", "nosuid": "nosuid", "dev": "nodev", "nodev": "nodev",
    "exec": "noexec", "noexec": "noexec", "sync": "sync", "async": "sync", "dirsync": "dirsync",
    "remount": "remount", "mand": "mand", "nomand": "mand", "atime": "noatime", "noatime": "noatime",
    "diratime": "nodiratime", "nodiratime": "nodiratime", "relatime": "relatime", "norelatime": "relatime",
    "strictatime": "strictatime", "nostrictatime": "strictatime", "bind": "bind", "rbind": "bind",
    **{p: "propagation" for p in (*PROPAGATIONS, "unbindable", "runbindable")},
}
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")
SYSCTLS_IPC = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
               "kernel.shmmni", "kernel.shm_rmid_forced")
_TRUE, _FALSE = ("1", "t", "T", "true", "TRUE", "True"), ("0", "f", "F", "false", "FALSE", "False")


def _bad(message: str, value: object, hint: str | None = None) -> InvalidArgument:
    return InvalidArgument(message, value=value, hint=hint)


def _flag_error(value: str, flag: str | None, reason: str, hint: str | None = None) -> InvalidArgument:
    text = f'invalid argument "{value}" for "{flag}" flag: {reason}' if flag else reason
    return _bad(text, value, hint)


# ---- argparse ---------------------------------------------------------------------------------------------

_LIST = dict(action="append", default=[])
_RUN_FLAGS: tuple[tuple[tuple[str, ...], dict], ...] = (
    (("-d", "--detach"), dict(action="store_true", help="run in the background, print the container ID")),
    (("--detach-keys",), dict(help="key sequence that detaches from a -it session (default ctrl-p,ctrl-q)")),
    (("-i", "--interactive"), dict(action="store_true", help="keep STDIN open")),
    (("-t", "--tty"), dict(action="store_true", help="allocate a pseudo-TTY")),
    (("--rm",), dict(action="store_true", help="remove the container when it exits")),
    (("--name",), dict(help="container name")),
    (("-e", "--env"), dict(_LIST, metavar="KEY[=VALUE]", help="set an environment variable")),
    (("--env-file",), dict(_LIST, metavar="FILE", help="read environment variables from a file")),
    (("-w", "--workdir"), dict(help="working directory inside the container")),
    (("-u", "--user"), dict(metavar="USER[:GROUP]", help="user name or uid, and optional group")),
    (("--entrypoint",), dict(help="override the image's ENTRYPOINT ('' resets it)")),
    (("-h", "--hostname"), dict(help="container host name")),
    (("--domainname",), dict(help="container NIS domain name")),
    (("-v", "--volume"), dict(_LIST, metavar="[SRC:]DST[:OPTS]", help="bind mount or volume")),
    (("--mount",), dict(_LIST, metavar="type=...,target=...", help="attach a mount (bind, volume, tmpfs)")),
    (("--tmpfs",), dict(_LIST, metavar="DST[:OPTS]", help="mount a tmpfs")),
    (("--read-only",), dict(action="store_true", help="mount the root filesystem read-only")),
    (("-m", "--memory"), dict(help="memory limit (e.g. 64m)")),
    (("--memory-reservation",), dict(help="memory soft limit")),
    (("--memory-swap",), dict(help="memory+swap limit; -1 unlimited")),
    (("--cpus",), dict(help="number of CPUs (e.g. 0.5)")),
    (("-c", "--cpu-shares"), dict(help="CPU shares (relative weight)")),
    (("--cpu-period",), dict(help="CFS period in microseconds")),
    (("--cpu-quota",), dict(help="CFS quota in microseconds")),
    (("--cpuset-cpus",), dict(help="CPUs to run on (0-3, 0,1)")),
    (("--cpuset-mems",), dict(help="memory nodes to use (0-3, 0,1)")),
    (("--pids-limit",), dict(help="process limit (-1 unlimited)")),
    (("--ulimit",), dict(_LIST, metavar="NAME=SOFT[:HARD]", help="ulimit")),
    (("--oom-kill-disable",), dict(action="store_true", help="disable the OOM killer")),
    (("--oom-score-adj",), dict(help="OOM score adjustment (-1000..1000)")),
    (("--shm-size",), dict(help="size of /dev/shm")),
    (("--cap-add",), dict(_LIST, help="add a Linux capability")),
    (("--cap-drop",), dict(_LIST, help="drop a Linux capability")),
    (("--privileged",), dict(action="store_true", help="give extended privileges")),
    (("--security-opt",), dict(_LIST, help="seccomp=FILE|unconfined, no-new-privileges")),
    (("--device",), dict(_LIST, metavar="HOST[:CTR[:rwm]]", help="add a host device")),
    (("--sysctl",), dict(_LIST, metavar="KEY=VALUE", help="namespaced kernel parameter")),
    (("--restart",), dict(default="no", help="no | on-failure[:N] | always | unless-stopped")),
    (("--stop-signal",), dict(help="signal to stop the container")),
    (("--stop-timeout",), dict(help="seconds to wait before killing the container")),
    (("--health-cmd",), dict(help="command to run to check health (sh -c)")),
    (("--health-interval",), dict(help="time between running the check (30s)")),
    (("--health-timeout",), dict(help="maximum time to allow one check to run (30s)")),
    (("--health-retries",), dict(help="consecutive failures needed to report unhealthy (3)")),
    (("--health-start-period",), dict(help="start period during which failures do not count (0s)")),
    (("--no-healthcheck",), dict(action="store_true", help="disable any container-specified HEALTHCHECK")),
    (("-l", "--label"), dict(_LIST, metavar="KEY[=VALUE]", help="set metadata")),
    (("--label-file",), dict(_LIST, metavar="FILE", help="read labels from a file")),
    (("--init",), dict(action="store_true", help="run an init inside the container (tini)")),
    (("--network", "--net"), dict(dest="network", default="bridge", help="bridge | none | host | NAME")),
    (("--network-alias",), dict(_LIST, help="network-scoped alias")),
    (("-p", "--publish"), dict(_LIST, metavar="[IP:][HPORT:]CPORT[/PROTO]", help="publish a port")),
    (("-P", "--publish-all"), dict(action="store_true", help="publish every exposed port")),
    (("--ip",), dict(help="IPv4 address")),
    (("--mac-address",), dict(help="MAC address")),
    (("--dns",), dict(_LIST, help="DNS server")),
    (("--dns-search",), dict(_LIST, help="DNS search domain")),
    (("--dns-option",), dict(_LIST, help="DNS option")),
    (("--add-host",), dict(_LIST, metavar="HOST:IP", help="add a line to /etc/hosts")),
    (("--runtime",), dict(help="OCI runtime (default vessel-runtime; runc, crun or a path)")),
    (("--isolation",), dict(default="container", help="container | vm")),
)


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """docker's `run`/`create` flags, then IMAGE and COMMAND... (everything after IMAGE is the command).

    docker's `-h` is --hostname: argparse's own -h (help) gives way; --help stays.
    """
    help_action = parser._option_string_actions.pop("-h", None)  # noqa: SLF001 (argparse has no public way)
    if help_action is not None:
        help_action.option_strings = [s for s in help_action.option_strings if s != "-h"]
    for names, kwargs in _RUN_FLAGS:
        kwargs = {k: (list(v) if isinstance(v, list) else v) for k, v in kwargs.items()}
        parser.add_argument(*names, **kwargs)
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("command", metavar="COMMAND", nargs=argparse.REMAINDER)


# ---- one value -> one value ------------------------------------------------------------------------------

def parse_size(text: str, flag: str | None = None) -> int:
    """docker's RAMInBytes: "64m", "1.5g", "512", "2MiB" (binary units)."""
    match = _SIZE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise _flag_error(text, flag, f"invalid size: '{text}'", "a number with an optional unit b, k, m or g (64m)")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def parse_memory_swap(text: str, flag: str | None = "--memory-swap") -> int:
    return -1 if text.strip() == "-1" else parse_size(text, flag)


def parse_int(text: str, flag: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise _flag_error(text, flag, f'strconv.ParseInt: parsing "{text}": invalid syntax',
                          "give a whole number") from None


def parse_cpus(text: str, flag: str | None = "--cpus") -> float:
    """A number of CPUs ("0.5", "2", "1/2"), exact to the nano-CPU as docker requires."""
    from fractions import Fraction

    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise _flag_error(text, flag, f"failed to parse {text} as a rational number",
                          "a decimal number of CPUs, e.g. 0.5") from None
    if (value * 1_000_000_000).denominator != 1:
        raise _flag_error(text, flag, "value is too precise", "at most 9 decimals")
    return float(value)


def _absolute(path: str, what: str, spec: str) -> str:
    if not path.startswith("/"):
        raise _bad(f"invalid mount config: invalid mount path: '{path}' mount path must be absolute", spec,
                   f"the {what} of {spec!r} must be an absolute path")
    clean = posixpath.normpath(path)
    return "/" + clean.lstrip("/")


def _host_path(source: str, cwd: str | None) -> str:
    if source.startswith(".") and cwd:  # docker CLI >= 23 resolves ./x and ../x against the current directory
        return posixpath.normpath(posixpath.join(cwd, source))
    return source


def check_target(target: str, spec: str) -> str:
    target = _absolute(target, "destination", spec)
    if target == "/":
        raise _bad("invalid specification: destination can't be '/'", spec, "mount over a directory, not the root")
    return target


def check_volume_name(name: str, spec: str) -> None:
    if not _VOLUME_NAME.match(name):
        raise _bad(f'"{name}" includes invalid characters for a local volume name, only '
                   f'"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed', spec,
                   "If you intended to pass a host directory, use absolute path")


def _volume_modes(mode: str, spec: str, kind: str) -> tuple[bool, tuple[str, ...]]:
    """-v modes: rw|ro, z|Z, one propagation, nocopy, consistency; -> (readonly, kept options)."""
    readonly, kept, seen = False, [], set()
    for item in mode.split(",") if mode else ():
        group = {"rw": "rw", "ro": "rw", "z": "label", "Z": "label", "nocopy": "copy",
                 "consistent": "consistency", "cached": "consistency", "delegated": "consistency"}.get(item)
        group = group or ("propagation" if item in PROPAGATIONS else None)
        if group is None or group in seen or (group == "propagation" and kind != "bind") or \
                (group == "copy" and kind == "bind"):
            raise _bad(f"invalid mode: {mode}", spec, "modes are ro|rw, z|Z, a propagation "
                       "(bind mounts) and nocopy (volumes), separated by commas")
        seen.add(group)
        if item in ("ro", "rw"):
            readonly = item == "ro"
        elif group != "consistency":
            kept.append(item)
    return readonly, tuple(kept)


def parse_volume(text: str, cwd: str | None = None) -> VolumeMount:
    """-v: "/ctr" (anonymous), "name:/ctr[:opts]" (named volume), "/host:/ctr[:opts]" (bind)."""
    parts = text.split(":")
    if not parts[0] or len(parts) > 3 or any(p == "" for p in parts):
        raise _bad(f"invalid volume specification: '{text}'", text, "write [SRC:]DST[:OPTIONS]")
    if len(parts) == 1:
        return VolumeMount(kind="anonymous", target=check_target(parts[0], text))
    source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    source = _host_path(source, cwd)
    kind = "bind" if source.startswith("/") else "volume"
    if kind == "volume":
        check_volume_name(source, text)
    readonly, options = _volume_modes(mode, text, kind)
    if kind == "bind":
        source = posixpath.normpath(source)
    return VolumeMount(kind=kind, target=check_target(target, text), source=source, readonly=readonly,
                       options=options)


def _parse_bool(key: str, value: str, spec: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _bad(f"invalid value for {key}: {value}", spec, "use true or false")


def tmpfs_size_option(size: int) -> str:
    for suffix, unit in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if size % unit == 0:
            return f"size={size // unit}{suffix}"
    return f"size={size}"


def _mount_fields(text: str) -> dict[str, str | None]:
    try:
        items = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        raise _bad(f"invalid --mount specification: {text}", text, "write type=...,source=...,target=...") from None
    out: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep:
            if key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
                raise _bad(f"invalid field '{item}' must be a key=value pair", text, "write key=value")
            value = None
        out[{"src": "source", "dst": "target", "destination": "target", "ro": "readonly"}.get(key, key)] = value
    return out


def parse_mount(text: str, cwd: str | None = None) -> VolumeMount:
    """--mount type=bind|volume|tmpfs,source=..,target=..,readonly,bind-propagation=..,tmpfs-size=..,..."""
    fields = _mount_fields(text)
    kind = fields.pop("type", None) or "volume"
    target, source = fields.pop("target", None), fields.pop("source", None) or ""
    readonly = "readonly" in fields and _parse_bool("readonly", fields.pop("readonly") or "true", text)
    options: list[str] = []
    for key, value in fields.items():
        prefix = key.split("-", 1)[0]
        if prefix in ("bind", "volume", "tmpfs") and prefix != kind:
            raise _bad(f"cannot mix '{prefix}-*' options with mount type '{kind}'", text, "drop the option")
        if key == "bind-propagation" and value in PROPAGATIONS:
            options.append(value)
        elif key == "bind-nonrecursive" and _parse_bool(key, value or "true", text):
            options.append("bind")
        elif key == "bind-recursive" and value in ("enabled", "disabled"):
            options += ["bind"] if value == "disabled" else []
        elif key == "volume-nocopy" and _parse_bool(key, value or "true", text):
            options.append("nocopy")
        elif key == "volume-driver" and value == "local" or key == "consistency":
            continue
        elif key == "tmpfs-size":
            options.append(tmpfs_size_option(parse_size(value or "", "tmpfs-size")))
        elif key == "tmpfs-mode" and value and re.fullmatch(r"[0-7]{1,4}", value):
            options.append(f"mode={int(value, 8):o}")
        elif key in ("bind-propagation", "bind-recursive", "tmpfs-mode", "volume-driver"):
            raise _bad(f"invalid value for {key}: {value}", text, "see `docker run --mount` in docker's docs")
        elif key not in ("volume-nocopy", "bind-nonrecursive"):
            raise _bad(f"unexpected key '{key}' in '{text}'", text,
                       "known keys: type, source, target, readonly, bind-propagation, bind-recursive, "
                       "volume-nocopy, tmpfs-size, tmpfs-mode")
    if not target:
        raise _bad("target is required", text, "add target=/path/in/container")
    target = check_target(target, text)
    if kind == "bind":
        if not source:
            raise _bad('invalid mount config for type "bind": field Source must not be empty', text, "add source=")
        source = _host_path(source, cwd)
        if not source.startswith("/"):
            raise _bad(f"invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be "
                       f"absolute", text, "give an absolute host path, or ./path for the current directory")
        return VolumeMount("bind", target, posixpath.normpath(source), readonly, tuple(options))
    if kind == "volume":
        if source:
            check_volume_name(source, text)
        return VolumeMount("volume" if source else "anonymous", target, source, readonly, tuple(options))
    if kind == "tmpfs":
        if source:
            raise _bad('invalid mount config for type "tmpfs": field Source must not be specified', text,
                       "drop source=")
        return VolumeMount("tmpfs", target, "", readonly, tuple(options))
    raise _bad(f"invalid mount type: {kind!r}", text, "vessel mounts type=bind, volume or tmpfs")


def merge_tmpfs_options(options: Sequence[str]) -> list[str]:
    """moby's MergeTmpfsOptions: per flag group and per data key, the last one given wins; order kept."""
    out: list[str] = []
    seen: set[str] = set()
    for option in reversed(options):
        if option == "defaults":
            continue
        key = _FLAG_GROUPS.get(option)
        if key is None:
            name, sep, _ = option.partition("=")
            if not sep or name not in _TMPFS_DATA:
                raise _bad(f"invalid tmpfs option {option!r}", option,
                           f"tmpfs takes mount flags (ro, noexec, ...) and {', '.join(_TMPFS_DATA)}=VALUE")
            key = "data:" + name
        if key not in seen:
            seen.add(key)
            out.insert(0, option)
    return out


def parse_tmpfs(text: str) -> VolumeMount:
    """--tmpfs /run[:size=64m,mode=1777,...]."""
    target, _, data = text.partition(":")
    target = check_target(target, text)
    options = tuple(o for o in data.split(",") if o) if data else ()
    merge_tmpfs_options(options)  # validates
    readonly = any(o == "ro" for o in options) and [o for o in options if o in ("ro", "rw")][-1] == "ro"
    return VolumeMount(kind="tmpfs", target=target, readonly=readonly, options=options)


def parse_ulimit(text: str) -> Ulimit:
    """"nofile=1024[:2048]" (soft[:hard]; -1 unlimited)."""
    name, sep, values = text.partition("=")
    if not sep:
        raise _bad(f"invalid ulimit argument: {text}", text, "write NAME=SOFT[:HARD], e.g. nofile=1024:2048")
    if name not in ULIMITS:
        raise _bad(f"invalid ulimit type: {name}", text, f"known: {', '.join(ULIMITS)}")
    soft_s, _, hard_s = values.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        raise _bad(f"invalid ulimit argument: {text}", text, "limits are whole numbers, -1 for unlimited") from None
    if hard != -1 and (soft > hard or soft == -1):
        raise _bad(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}", text,
                   "give SOFT:HARD with SOFT <= HARD")
    return Ulimit(name=name, soft=soft, hard=hard)


def check_restart(policy: RestartPolicy) -> RestartPolicy:
    if policy.name not in RESTART_POLICIES:
        raise _bad(f"invalid restart policy: unknown policy '{policy.name}'; use one of 'no', 'always', "
                   f"'on-failure', or 'unless-stopped'", policy.name, "e.g. --restart on-failure:3")
    if policy.max_retries < 0:
        raise _bad("invalid restart policy: maximum retry count cannot be negative", policy.max_retries)
    if policy.max_retries and policy.name != "on-failure":
        raise _bad("invalid restart policy: maximum retry count can only be used with 'on-failure'",
                   policy.max_retries, "write --restart on-failure:N")
    return policy


def parse_restart(text: str) -> RestartPolicy:
    """"no", "always", "unless-stopped", "on-failure[:N]"."""
    name, _, count = (text or "no").partition(":")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise _bad("invalid restart policy format: maximum retry count must be an integer", text,
                   "e.g. on-failure:3") from None
    return check_restart(RestartPolicy(name=name, max_retries=retries))


def _kv_lines(text: str, what: str) -> Iterable[tuple[str, str | None, str]]:
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        line = raw.lstrip(" \t\n\v\f\r")
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.lstrip()
        if not key:
            raise _bad(f"no variable name on line '{line}'", line, f"line {number} of the {what} needs NAME=VALUE")
        if re.search(r"\s", key):
            raise _bad(f"variable '{key}' contains whitespaces", line, f"line {number} of the {what}")
        yield key, (value if sep else None), line


def parse_env_file(text: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """docker's env-file rules: KEY=VALUE verbatim; a lone KEY takes the caller's value or is left out."""
    environ = os.environ if environ is None else environ
    out = []
    for key, value, _ in _kv_lines(text, "env file"):
        if value is not None:
            out.append(f"{key}={value}")
        elif key in environ:
            out.append(f"{key}={environ[key]}")
    return out


def parse_label_file(text: str) -> list[str]:
    return [f"{key}={value or ''}" for key, value, _ in _kv_lines(text, "label file")]


def parse_env(item: str, environ: Mapping[str, str] | None = None) -> str:
    """-e KEY=VALUE, or -e KEY: the caller's value, else KEY alone (unset in the container)."""
    key, sep, _ = item.partition("=")
    if not key:
        raise _bad(f"invalid environment variable: {item}", item, "write KEY=VALUE")
    environ = os.environ if environ is None else environ
    if not sep and key in environ:
        return f"{key}={environ[key]}"
    return item


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        key = key.strip()
        if not key:
            raise _bad(f"invalid label '{item}': empty name", item, "write KEY=VALUE")
        if re.search(r"\s", key):
            raise _bad(f"label '{key}' contains whitespaces", item)
        out[key] = value
    return out


@dataclass(frozen=True)
class SecurityOpts:
    seccomp_profile: str | None = None  # None: default; "unconfined"; JSON text; or a path
    no_new_privileges: bool = False


def parse_security_opts(values: Iterable[str], read_text: ReadText | None = None) -> SecurityOpts:
    """seccomp=unconfined|builtin|FILE, no-new-privileges[:true|false], label=..., apparmor=... (ignored).

    With `read_text` (the CLI) seccomp=FILE is read, as the docker CLI does;
    without (the API) the value must be the profile's JSON text.
    """
    profile, nnp = None, False
    for opt in values:
        if opt == "no-new-privileges":
            nnp = True
            continue
        sep = "=" if "=" in opt else ":"
        key, found, value = opt.partition(sep)
        if not found or not value:
            raise _bad(f'Invalid --security-opt: "{opt}"', opt, "e.g. seccomp=unconfined or no-new-privileges")
        if key == "no-new-privileges":
            if value not in _TRUE + _FALSE:
                raise _bad(f'invalid --security-opt 2: "{opt}"', opt, "no-new-privileges[=true|false]")
            nnp = value in _TRUE
        elif key == "seccomp":
            profile = _seccomp_value(value, read_text)
        elif key not in ("label", "apparmor"):  # no SELinux/AppArmor on vessel: accepted, ignored
            raise _bad(f'invalid --security-opt 2: "{opt}"', opt,
                       "vessel knows seccomp=, no-new-privileges, label= and apparmor=")
    return SecurityOpts(profile, nnp)


def _seccomp_value(value: str, read_text: ReadText | None) -> str | None:
    if value == "builtin":
        return None
    if value == "unconfined" or value.lstrip().startswith("{"):
        return value
    if read_text is None:
        raise _bad(f"seccomp profile {value!r} is neither 'unconfined' nor a JSON profile", value,
                   "the API takes the profile's JSON text in seccomp=")
    import json

    try:
        return json.dumps(json.loads(read_text(value)), separators=(",", ":"))
    except OSError as err:
        raise NotFound(f"opening seccomp profile ({value}) failed: {err.strerror or err}", path=value,
                       hint="give a readable JSON file in docker's seccomp format") from None
    except ValueError as err:
        raise _bad(f"compacting json for seccomp profile ({value}) failed: {err}", value,
                   "the file must be a JSON seccomp profile") from None


def parse_publish(text: str) -> tuple[PortSpec, ...]:
    """-p [hostIP:][hostPort:]containerPort[/proto], with ranges (the network layer's parser)."""
    from vessel.network.ports import parse_publish as network_parse

    if not text.isascii():  # str.isdigit() takes "²"; keep such text away from int()
        raise _bad(f"invalid publish spec {text!r}", text, "write [hostIP:][hostPort:]containerPort[/tcp|/udp]")
    return tuple(PortSpec(host_ip=m.host_ip, host_port=m.host_port, container_port=m.container_port,
                          protocol=m.protocol, host_port_end=m.host_port_end) for m in network_parse(text))


@dataclass(frozen=True)
class DeviceMapping:
    host_path: str
    container_path: str
    permissions: str = "rwm"


def parse_device(text: str) -> DeviceMapping:
    """--device /dev/x[:/dev/y][:rwm]."""
    parts = text.split(":")
    if len(parts) > 3 or not parts[0]:
        raise _bad(f"invalid device specification: {text}", text, "write HOST[:CONTAINER][:PERMISSIONS]")
    perms, dest = "rwm", ""
    if len(parts) == 3:
        dest, perms = parts[1], parts[2]
    elif len(parts) == 2:
        if parts[1] and set(parts[1]) <= set("rwm"):
            perms = parts[1]
        else:
            dest = parts[1]
    if not perms or not set(perms) <= set("rwm"):
        raise _bad(f"bad mode specified: {perms}", text, "permissions are a subset of rwm")
    for path in (parts[0], dest or parts[0]):
        if not path.startswith("/"):
            raise _bad(f"{path} is not an absolute path", text, "device paths are absolute (/dev/...)")
    return DeviceMapping(posixpath.normpath(parts[0]), posixpath.normpath(dest or parts[0]), perms)


def parse_ip(text: str, what: str = "ip") -> str:
    try:
        import ipaddress

        return str(ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]")))
    except ValueError:
        raise _bad(f"{text} is not an ip address", text, f"--{what} takes an IPv4 or IPv6 address") from None


def parse_add_host(text: str) -> str:
    """--add-host NAME:IP or NAME=IP (IP may be host-gateway) -> "NAME:IP"."""
    name, sep, addr = text.partition("=")
    if not sep:
        name, sep, addr = text.partition(":")
    if not sep or not name:
        raise _bad(f"bad format for add-host: {text!r}", text, "write NAME:IP, e.g. db:10.88.0.7")
    if addr != "host-gateway":
        try:
            addr = parse_ip(addr, "add-host")
        except InvalidArgument:
            raise _bad(f"invalid IP address in add-host: {addr!r}", text,
                       "write NAME:IP or NAME:host-gateway") from None
    return f"{name}:{addr}"


def parse_dns_search(text: str) -> str:
    if text == ".":
        return text
    name = text.removesuffix(".")
    if len(name) > 255 or not _DOMAIN.match(name):
        raise _bad(f"{text} is not a valid domain", text, "e.g. example.com")
    return text


def parse_sysctl(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise _bad(f"invalid sysctl value {text!r}", text, "write KEY=VALUE, e.g. net.ipv4.ip_forward=1")
    return key, value


def check_sysctl(name: str, network: str = "bridge") -> None:
    """Only namespaced sysctls (docker's list): kernel IPC ones, net.*, fs.mqueue.*."""
    if name.startswith("net."):
        if network == "host":
            raise _bad(f"sysctl '{name}' is not allowed in host network namespace", name,
                       "net.* sysctls need the container's own network namespace")
        return
    if name in SYSCTLS_IPC or name.startswith("fs.mqueue."):
        return
    raise _bad(f"sysctl '{name}' is not allowed", name,
               "only namespaced sysctls: net.*, fs.mqueue.*, kernel.msg*/sem/shm*")


# ---- the whole command line -------------------------------------------------------------------------------

def _read(path: str, read_text: ReadText, what: str) -> str:
    try:
        return read_text(path)
    except OSError as err:
        raise NotFound(f"open {path}: {(err.strerror or str(err)).lower()}", path=path,
                       hint=f"the {what} must be a readable file") from None


def _optional(value: str | None, parse: Callable[..., object], *extra: object):
    return None if value is None else parse(value, *extra)


def parse_healthcheck(args: argparse.Namespace) -> dict | None:
    """--health-* / --no-healthcheck as docker's Config.Healthcheck (durations in ns); None: the image's."""
    from vessel.engine.health import parse_duration

    given = {flag: getattr(args, flag.replace("-", "_"), None) for flag in
             ("health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period")}
    if getattr(args, "no_healthcheck", False):
        if any(v is not None for v in given.values()):
            raise _bad("--no-healthcheck conflicts with --health-* options", "--no-healthcheck",
                       "give either --no-healthcheck or --health-* flags")
        return {"Test": ["NONE"]}
    if all(v is None for v in given.values()):
        return None
    out: dict = {}
    if given["health-cmd"] is not None:
        out["Test"] = ["CMD-SHELL", given["health-cmd"]]
    for flag, key in (("health-interval", "Interval"), ("health-timeout", "Timeout"),
                      ("health-start-period", "StartPeriod")):
        if given[flag] is not None:
            out[key] = parse_duration(given[flag], f"--{flag}")
    if given["health-retries"] is not None:
        out["Retries"] = parse_int(given["health-retries"], "--health-retries")
        if out["Retries"] < 0:
            raise _bad("--health-retries cannot be negative", given["health-retries"], "give 0 or more")
    return out


def options_from_args(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None,
                      read_text: ReadText | None = None, cwd: str | None = None) -> RunOptions:
    """The RunOptions of a parsed `run`/`create` command line (see add_run_flags)."""
    environ = os.environ if environ is None else environ
    read_text = read_text or (lambda p: Path(p).read_text())
    cwd = cwd if cwd is not None else os.getcwd()
    env = [line for f in args.env_file for line in parse_env_file(_read(f, read_text, "env file"), environ)]
    env += [parse_env(item, environ) for item in args.env]
    labels = [line for f in args.label_file for line in parse_label_file(_read(f, read_text, "label file"))]
    security = parse_security_opts(args.security_opt, read_text)
    ulimits = {u.name: u for u in map(parse_ulimit, args.ulimit)}
    opts = RunOptions(
        image=args.image, command=tuple(args.command) if args.command else None,
        entrypoint=None if args.entrypoint is None else ((args.entrypoint,) if args.entrypoint else ()),
        name=args.name, env=tuple(env), workdir=args.workdir, user=args.user, hostname=args.hostname,
        domainname=args.domainname, labels=parse_labels(labels + list(args.label)),
        volumes=tuple([parse_volume(v, cwd) for v in args.volume] + [parse_mount(m, cwd) for m in args.mount]
                      + [parse_tmpfs(t) for t in args.tmpfs]),
        read_only=args.read_only, tty=args.tty, interactive=args.interactive, detach=args.detach, remove=args.rm,
        init=args.init, memory=_optional(args.memory, parse_size, "--memory"),
        memory_reservation=_optional(args.memory_reservation, parse_size, "--memory-reservation"),
        memory_swap=_optional(args.memory_swap, parse_memory_swap), cpus=_optional(args.cpus, parse_cpus),
        cpu_shares=_optional(args.cpu_shares, parse_int, "--cpu-shares"),
        cpu_period=_optional(args.cpu_period, parse_int, "--cpu-period"),
        cpu_quota=_optional(args.cpu_quota, parse_int, "--cpu-quota"),
        cpuset_cpus=args.cpuset_cpus, cpuset_mems=args.cpuset_mems,
        pids_limit=_optional(args.pids_limit, parse_int, "--pids-limit"), ulimits=tuple(ulimits.values()),
        oom_kill_disable=args.oom_kill_disable,
        oom_score_adj=_optional(args.oom_score_adj, parse_int, "--oom-score-adj"),
        shm_size=_optional(args.shm_size, parse_size, "--shm-size"), cap_add=tuple(args.cap_add),
        cap_drop=tuple(args.cap_drop), privileged=args.privileged, seccomp_profile=security.seccomp_profile,
        no_new_privileges=security.no_new_privileges,
        devices=tuple(args.device),
        sysctls=dict(parse_sysctl(s) for s in args.sysctl), restart=parse_restart(args.restart),
        stop_signal=args.stop_signal, stop_timeout=_optional(args.stop_timeout, parse_int, "--stop-timeout"),
        healthcheck=parse_healthcheck(args),
        network="bridge" if args.network == "default" else args.network,
        network_aliases=tuple(args.network_alias),
        publish=tuple(p for spec in args.publish for p in parse_publish(spec)), publish_all=args.publish_all,
        ip=_optional(args.ip, parse_ip), mac_address=args.mac_address,
        dns=tuple(parse_ip(d, "dns") for d in args.dns), dns_search=tuple(map(parse_dns_search, args.dns_search)),
        dns_options=tuple(args.dns_option), extra_hosts=tuple(map(parse_add_host, args.add_host)),
        runtime=args.runtime, isolation=args.isolation)
    validate_options(opts)
    return opts


# ---- cross-field checks (docker's daemon-side validation) --------------------------------------------------

def _check_identity(opts: RunOptions) -> None:
    if opts.name is not None and not _NAME.match(opts.name):
        raise _bad(f"Invalid container name ({opts.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", opts.name,
                   "names start with a letter or digit and are at least 2 characters long")
    if opts.workdir is not None and opts.workdir and not opts.workdir.startswith("/"):
        raise _bad(f"the working directory '{opts.workdir}' is invalid, it needs to be an absolute path",
                   opts.workdir, "e.g. -w /app")
    if opts.hostname and not _HOSTNAME.match(opts.hostname):
        raise _bad(f"invalid hostname format: {opts.hostname}", opts.hostname,
                   "letters, digits, '-' and '.', up to 253 characters")
    if opts.mac_address and not _MAC.match(opts.mac_address):
        raise _bad(f"{opts.mac_address} is not a valid mac address", opts.mac_address, "e.g. 02:42:ac:11:00:02")
    if opts.isolation not in ("container", "vm"):
        raise _bad(f"invalid isolation: {opts.isolation!r}", opts.isolation, "vessel isolates with container or vm")
    for entry in opts.env:
        if not entry.partition("=")[0]:
            raise _bad(f"invalid environment variable: {entry}", entry, "write KEY=VALUE")


def _check_memory(opts: RunOptions) -> None:
    memory, swap, reservation = opts.memory or 0, opts.memory_swap or 0, opts.memory_reservation or 0
    if 0 < memory < MIN_MEMORY or memory < 0:
        raise _bad("Minimum memory limit allowed is 6MB", memory, "give --memory 6m or more")
    if swap > 0 and not memory:
        raise _bad("You should always set the Memory limit when using Memoryswap limit, see usage", swap,
                   "add --memory")
    if memory and 0 < swap < memory:
        raise _bad("Minimum memoryswap limit should be larger than memory limit, see usage", swap,
                   "--memory-swap is memory plus swap: give at least --memory, or -1 for unlimited swap")
    if swap < -1:
        raise _bad(f"invalid memory swap {swap}", swap, "-1 is unlimited")
    if 0 < reservation < MIN_MEMORY or reservation < 0:
        raise _bad("Minimum memory reservation allowed is 6MB", reservation)
    if memory and reservation and memory < reservation:
        raise _bad("Minimum memory limit can not be less than memory reservation limit, see usage", reservation,
                   "--memory-reservation must be at most --memory")
    if opts.shm_size is not None and opts.shm_size < 0:
        raise _bad("SHM size can not be less than 0", opts.shm_size)


def _check_cpu(opts: RunOptions, host_cpus: int | None) -> None:
    if opts.cpus is not None:
        if opts.cpu_period:
            raise _bad("Conflicting options: Nano CPUs and CPU Period cannot both be set", opts.cpus,
                       "use --cpus or --cpu-period/--cpu-quota")
        if opts.cpu_quota:
            raise _bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set", opts.cpus,
                       "use --cpus or --cpu-period/--cpu-quota")
        if opts.cpus < 0 or (host_cpus and opts.cpus > host_cpus):
            n = host_cpus or os.cpu_count() or 1
            raise _bad(f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available", opts.cpus)
    if opts.cpu_period and not 1000 <= opts.cpu_period <= 1_000_000:
        raise _bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)",
                   opts.cpu_period)
    if opts.cpu_quota and 0 < opts.cpu_quota < 1000 or (opts.cpu_quota or 0) < -1:
        raise _bad("CPU cfs quota can not be less than 1ms (i.e. 1000)", opts.cpu_quota)
    if opts.cpu_shares is not None and opts.cpu_shares < 0:
        raise _bad(f"invalid CPU shares {opts.cpu_shares}", opts.cpu_shares, "shares are a positive weight")
    if opts.oom_score_adj is not None and not -1000 <= opts.oom_score_adj <= 1000:
        raise _bad(f"Invalid value {opts.oom_score_adj}, range for oom score adj is [-1000, 1000]",
                   opts.oom_score_adj)


def _check_network(opts: RunOptions) -> None:
    if opts.network.startswith("container:"):
        for given, what in ((opts.hostname, "hostname"), (opts.dns or opts.dns_search or opts.dns_options, "dns"),
                            (opts.extra_hosts, "custom host-to-IP mapping"), (opts.mac_address, "mac-address"),
                            (opts.publish or opts.publish_all, "port publishing")):
            if given:
                raise _bad(f"conflicting options: {what} and the network mode", opts.network,
                           "a container sharing another's network uses that container's settings")
    for name in opts.sysctls:
        check_sysctl(name, opts.network)


def _check_mounts(opts: RunOptions) -> None:
    seen: set[str] = set()
    for vol in opts.volumes:
        if vol.target in seen:
            raise _bad(f"Duplicate mount point: {vol.target}", vol.target, "mount one thing per destination")
        seen.add(vol.target)


def validate_options(opts: RunOptions, host_cpus: int | None = None) -> None:
    """Docker's daemon-side checks of a create request, with its messages."""
    _check_identity(opts)
    _check_memory(opts)
    _check_cpu(opts, host_cpus)
    _check_network(opts)
    _check_mounts(opts)
    check_restart(opts.restart)
    if opts.remove and opts.restart.name != "no":
        raise _bad("Conflicting options: --restart and --rm", opts.restart.name,
                   "a container removed on exit cannot be restarted; drop one of them")
    for ulimit in opts.ulimits:
        if ulimit.name not in ULIMITS:
            raise _bad(f"invalid ulimit type: {ulimit.name}", ulimit.name, f"known: {', '.join(ULIMITS)}")
    for device in opts.devices:
        parse_device(device)
