"""Small value parsers Docker applies to instruction arguments.

Go durations (HEALTHCHECK), port specs (EXPOSE), signals (STOPSIGNAL), file
modes (``--chmod``), digests (``--checksum``), platforms (``--platform``)
and image references (FROM, ``--from``).  Each raises ``ValueError`` with
Docker's wording; callers add the file and line.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
                   "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds (``1m30s``, ``1.5h``, ``300ms``)."""
    orig = text
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if text == "":
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match or (match.group(1) == "" and not match.group(2)):
            if match is None and re.match(r"[\d.]+\Z", text[pos:]):
                raise ValueError(f'time: missing unit in duration "{orig}"')
            raise ValueError(f'time: invalid duration "{orig}"')
        whole, frac, unit = match.group(1) or "0", match.group(2) or "", match.group(3)
        scale = _DURATION_UNITS[unit]
        total += int(whole) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
        pos = match.end()
    if total > 2**63 - 1:
        raise ValueError(f'time: invalid duration "{orig}"')
    return sign * total


def parse_port_spec(spec: str) -> list[str]:
    """``[ip:][hostPort:]containerPort[-end][/proto]`` -> container ports as ``80/tcp`` keys."""
    port_part, _, proto = spec.partition("/")
    if spec == "" or port_part == "":
        raise ValueError(f"no port specified: {spec}<empty>")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid proto: {proto}")
    container = port_part.rsplit(":", 1)[-1] if not port_part.startswith("[") else port_part.rsplit("]:", 1)[-1]
    container = container.rsplit(":", 1)[-1]
    start, end = _port_range(container)
    return [f"{port}/{proto}" for port in range(start, end + 1)]


def _port_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        start = _port(low)
        end = _port(high) if sep else start
    except ValueError:
        raise ValueError(f"invalid containerPort: {text}") from None
    if end < start:
        raise ValueError(f"invalid range specified for container port: {text}")
    return start, end


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(text)
    return int(text)


_SIGNALS = ("ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV STKFLT "
            "STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ").split()
_RT_SIGNALS = {"RTMIN", "RTMAX"} | {f"RTMIN+{i}" for i in range(1, 16)} | {f"RTMAX-{i}" for i in range(1, 15)}


def check_signal(text: str) -> None:
    """moby's ParseSignal: a non-zero number or a name with or without SIG."""
    try:
        number = int(text, 10)
    except ValueError:
        number = None
    if number is not None:
        if number == 0:
            raise ValueError(f"Invalid signal: {text}")
        return
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name not in _SIGNALS and name not in _RT_SIGNALS:
        raise ValueError(f"Invalid signal: {text}")


_SYMBOLIC_MODE = re.compile(r"[ugoa]*[-+=][rwxXst]*(?:,[ugoa]*[-+=][rwxXst]*)*\Z")


def parse_chmod(text: str) -> int | None:
    """``--chmod``: an octal mode up to 07777 (returned), or a symbolic one (None)."""
    if re.fullmatch(r"[0-7]+", text):
        mode = int(text, 8)
        if mode <= 0o7777:
            return mode
    elif _SYMBOLIC_MODE.match(text):
        return None
    raise ValueError(f"invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777")


_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def check_digest(text: str) -> None:
    algo, sep, hexpart = text.partition(":")
    if not sep:
        raise ValueError("invalid checksum digest format")
    if algo not in _DIGEST_LENGTHS:
        raise ValueError("unsupported digest algorithm")
    if len(hexpart) != _DIGEST_LENGTHS[algo] or not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise ValueError("invalid checksum digest length")


_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
                 "i386": "386", "i686": "386"}
_OSES = {"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "plan9", "aix"}


def normalize_platform(text: str) -> str:
    """containerd's platforms.Parse + Format for the common cases (``linux/amd64``)."""
    parts = text.lower().split("/")
    if not 1 <= len(parts) <= 3 or any(not re.fullmatch(r"[a-z0-9_.-]+", p) for p in parts):
        raise ValueError(f'"{text}": invalid platform specifier')
    if len(parts) == 1:
        parts = [parts[0]] if parts[0] in _OSES else ["linux", parts[0]]
        if len(parts) == 1:
            return parts[0]
    os_name, arch = parts[0], _ARCH_ALIASES.get(parts[1], parts[1])
    if os_name not in _OSES:
        raise ValueError(f'"{text}": unknown operating system or architecture')
    variant = parts[2] if len(parts) == 3 else ""
    if arch == "arm64" and variant == "v8":
        variant = ""
    return "/".join(p for p in (os_name, arch, variant) if p)


_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
                        r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?\Z")


def check_reference(ref: str) -> None:
    """distribution's ParseNormalizedNamed: raises for what it would reject."""
    if _REFERENCE.match(ref):
        return
    name = ref.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    if name != name.lower() and _REFERENCE.match(ref.lower()):
        raise ValueError("invalid reference format: repository name must be lowercase")
    raise ValueError("invalid reference format")
