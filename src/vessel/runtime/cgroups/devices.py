"""linux.resources.devices -> v1 devices.allow / devices.deny writes (pure).

cgroup v2 has no devices files: access is filtered by an eBPF program attached
to the cgroup (BPF_CGROUP_DEVICE).  vessel does not load one yet, so on v2 the
rules are reported as not enforced; what still limits the container there is
which device nodes exist in its /dev (the spec's default devices plus
linux.devices) and its capabilities (no CAP_MKNOD by default).
"""

from __future__ import annotations

from vessel.errors import InvalidArgument
from vessel.oci.resources import DeviceRule
from vessel.runtime.cgroups.model import Collector, Target

# Always allowed after the spec's rules, so the default devices the runtime
# creates in /dev keep working (the spec lists them; runc does the same).
DEFAULT_ALLOW = (
    DeviceRule(allow=True, type="c", access="m"),  # mknod of any char device (access is still checked)
    DeviceRule(allow=True, type="b", access="m"),  # ... and block device
    DeviceRule(allow=True, type="c", major=1, minor=3, access="rwm"),  # /dev/null
    DeviceRule(allow=True, type="c", major=1, minor=5, access="rwm"),  # /dev/zero
    DeviceRule(allow=True, type="c", major=1, minor=7, access="rwm"),  # /dev/full
    DeviceRule(allow=True, type="c", major=1, minor=8, access="rwm"),  # /dev/random
    DeviceRule(allow=True, type="c", major=1, minor=9, access="rwm"),  # /dev/urandom
    DeviceRule(allow=True, type="c", major=5, minor=0, access="rwm"),  # /dev/tty
    DeviceRule(allow=True, type="c", major=5, minor=1, access="rwm"),  # /dev/console
    DeviceRule(allow=True, type="c", major=5, minor=2, access="rwm"),  # /dev/ptmx
    DeviceRule(allow=True, type="c", major=136, access="rwm"),  # /dev/pts/*
)


def _access(rule: DeviceRule) -> str:
    acc = rule.access or "rwm"
    if not acc or set(acc) - set("rwm"):
        raise InvalidArgument(f"device rule access {acc!r} is not a subset of 'rwm'", value=acc)
    return "".join(c for c in "rwm" if c in acc)


def rule_lines(rule: DeviceRule) -> list[str]:
    """The v1 lines for one rule.

    The kernel reads a line starting with "a" as "every device, every access",
    whatever follows; so "a" is only written when the rule really is all of it,
    and a partial all-types rule becomes one line per type.
    """
    kind = rule.type or "a"
    if kind not in ("a", "c", "b"):
        raise InvalidArgument(f"device rule type {kind!r} is not a, c or b", value=kind)
    acc = _access(rule)
    major = "*" if rule.major is None or rule.major < 0 else str(rule.major)
    minor = "*" if rule.minor is None or rule.minor < 0 else str(rule.minor)
    if kind == "a":
        if major == "*" and minor == "*" and acc == "rwm":
            return ["a"]
        return [f"c {major}:{minor} {acc}", f"b {major}:{minor} {acc}"]
    return [f"{kind} {major}:{minor} {acc}"]


def plan_devices(target: Target, rules: list[DeviceRule], out: Collector) -> None:
    if not rules:
        return
    located = target.locate("devices")
    if located is None or located[1] == 2:
        if target.v1_host:
            out.missing("devices", "linux.resources.devices")
        else:
            out.warn("linux.resources.devices is not enforced: there is no cgroup v1 devices controller and on "
                     "cgroup v2 vessel attaches no eBPF device filter; the container reaches only the device "
                     "nodes in its /dev, as its capabilities allow")
        return
    d, _version = located
    for rule in (*rules, *DEFAULT_ALLOW):
        file = "devices.allow" if rule.allow else "devices.deny"
        for line in rule_lines(rule):
            out.write(d, file, line)
