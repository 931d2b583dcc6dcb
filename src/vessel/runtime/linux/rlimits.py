"""`process.rlimits` -> setrlimit for the container process.

`check()` is pure: given the host's limits it lists the problems (unknown
name, soft above hard, and a hard limit above the host's when the runtime
cannot raise it).  `apply()` reads the host's limits, refuses the whole set
with one clear error if there is any problem, and only then sets them with
prlimit(2): nothing is half-applied by a predictable failure.

Rule from the runtime issue: never try to raise a hard limit above the
host's unless the runtime holds CAP_SYS_RESOURCE (this host's runtime does not,
and its hard nofile is 20000).  Call `apply()` in the container's init before
the user switch and capability drop, as runc does.
"""

from __future__ import annotations

import resource

from vessel.errors import InvalidArgument, SystemFailure

RLIM_INFINITY = (1 << 64) - 1  # as the OCI spec (uint64) writes "unlimited"
_UNLIMITED = 1 << 63  # values at or above this are unlimited for the kernel's signed view

LIMITS: dict[str, int] = {
    "RLIMIT_AS": resource.RLIMIT_AS, "RLIMIT_CORE": resource.RLIMIT_CORE, "RLIMIT_CPU": resource.RLIMIT_CPU,
    "RLIMIT_DATA": resource.RLIMIT_DATA, "RLIMIT_FSIZE": resource.RLIMIT_FSIZE,
    "RLIMIT_LOCKS": getattr(resource, "RLIMIT_LOCKS", 10), "RLIMIT_MEMLOCK": resource.RLIMIT_MEMLOCK,
    "RLIMIT_MSGQUEUE": resource.RLIMIT_MSGQUEUE, "RLIMIT_NICE": resource.RLIMIT_NICE,
    "RLIMIT_NOFILE": resource.RLIMIT_NOFILE, "RLIMIT_NPROC": resource.RLIMIT_NPROC,
    "RLIMIT_RSS": resource.RLIMIT_RSS, "RLIMIT_RTPRIO": resource.RLIMIT_RTPRIO,
    "RLIMIT_RTTIME": resource.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": resource.RLIMIT_SIGPENDING,
    "RLIMIT_STACK": resource.RLIMIT_STACK,
}
_DOCKER_NAMES = {"RLIMIT_NOFILE": "nofile", "RLIMIT_NPROC": "nproc", "RLIMIT_CORE": "core",
                 "RLIMIT_MEMLOCK": "memlock", "RLIMIT_STACK": "stack"}


def normalise(value: int) -> int:
    """An OCI limit value with every "unlimited" spelling (-1, 2**64-1, >= 2**63) as RLIM_INFINITY."""
    return RLIM_INFINITY if value < 0 or value >= _UNLIMITED else value


def _show(value: int) -> str:
    return "unlimited" if normalise(value) == RLIM_INFINITY else str(value)


def raise_hint(name: str, host_hard: int) -> str:
    flag = _DOCKER_NAMES.get(name, name.removeprefix("RLIMIT_").lower())
    return (f"the host's hard limit for {name} is {_show(host_hard)} and raising it needs CAP_SYS_RESOURCE; "
            f"ask for at most that (for example --ulimit {flag}={_show(host_hard)}:{_show(host_hard)})")


def check(rlimits, host_limits: dict[str, tuple[int, int]], *, can_raise: bool = False) -> list[str]:
    """Problems with `rlimits` on a host whose limits are `host_limits` (name -> (soft, hard)); pure."""
    problems = []
    seen = set()
    for rl in rlimits:
        if rl.type not in LIMITS:
            problems.append(f"unknown rlimit {rl.type!r} (known: {', '.join(LIMITS)})")
            continue
        if rl.type in seen:
            problems.append(f"{rl.type} is given twice")
        seen.add(rl.type)
        soft, hard = normalise(rl.soft), normalise(rl.hard)
        if soft > hard:
            problems.append(f"{rl.type}: soft limit {_show(soft)} is above the hard limit {_show(hard)}")
        host = host_limits.get(rl.type)
        if host is None or can_raise:
            continue
        host_hard = normalise(host[1])
        if hard > host_hard:
            problems.append(f"{rl.type}: hard limit {_show(hard)} is above the host's hard limit {_show(host_hard)}")
    return problems


def host_limits(names=LIMITS) -> dict[str, tuple[int, int]]:
    """This process's (soft, hard) for each named limit, unlimited as RLIM_INFINITY."""
    out = {}
    for name in names:
        if name in LIMITS:
            soft, hard = resource.getrlimit(LIMITS[name])
            out[name] = (normalise(soft), normalise(hard))
    return out


def _can_raise() -> bool:
    from vessel.runtime.linux import caps  # local: only needed when limits are set

    effective = caps.get_caps()[0]
    return bool(effective >> caps.NUMBERS["CAP_SYS_RESOURCE"] & 1)


def apply(rlimits, *, can_raise: bool | None = None) -> None:
    """Set every limit of `rlimits` on this process, or none if any cannot be set."""
    if not rlimits:
        return
    host = host_limits([rl.type for rl in rlimits])
    if can_raise is None:
        can_raise = _can_raise()
    problems = check(rlimits, host, can_raise=can_raise)
    if problems:
        first = next((rl for rl in rlimits if rl.type in host and normalise(rl.hard) > host[rl.type][1]), None)
        hint = raise_hint(first.type, host[first.type][1]) if first is not None else None
        raise InvalidArgument(f"cannot set process.rlimits: {'; '.join(problems)}", hint=hint,
                              limit=first.type if first else rlimits[0].type)
    for rl in rlimits:
        soft, hard = normalise(rl.soft), normalise(rl.hard)
        want = (resource.RLIM_INFINITY if soft == RLIM_INFINITY else soft,
                resource.RLIM_INFINITY if hard == RLIM_INFINITY else hard)
        try:
            resource.prlimit(0, LIMITS[rl.type], want)
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            hint = raise_hint(rl.type, host[rl.type][1]) if hard > host[rl.type][1] else None
            if rl.type == "RLIMIT_NOFILE" and hard > host[rl.type][1]:
                hint = f"{hint}; RLIMIT_NOFILE can never exceed /proc/sys/fs/nr_open"
            raise SystemFailure(f"setting {rl.type} to soft {_show(soft)} hard {_show(hard)} failed: {reason}",
                                hint=hint, limit=rl.type, soft=soft, hard=hard) from None
