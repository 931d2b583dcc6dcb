"""Value conversions between the runtime spec (cgroup v1 units) and cgroup v2 (pure)."""

from __future__ import annotations

import math

CPU_SHARES_MIN, CPU_SHARES_MAX = 2, 262144  # kernel MIN_SHARES, MAX_SHARES (1 << 18)
CPU_WEIGHT_MIN, CPU_WEIGHT_MAX = 1, 10000
DEFAULT_CPU_PERIOD = 100000  # microseconds, the kernel's default cfs period
BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX = 10, 1000
IO_WEIGHT_MIN, IO_WEIGHT_MAX = 1, 10000


def cpu_shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000]; 0 means unset and gives 0.

    The mapping runc (>= 1.3.2, opencontainers/cgroups#20) and crun (>= 1.23) use:
    with l = log2(shares), weight = ceil(10 ** ((l*l + 125*l) / 612 - 7/34)).
    It is a curve through the three points that matter: the minimum 2 -> 1, the
    default 1024 -> 100 (the v2 default) and the maximum 262144 -> 10000.  The
    older linear formula, 1 + (shares - 2) * 9999 // 262142, gave 1024 -> 39.
    """
    if shares == 0:
        return 0
    shares = min(max(shares, CPU_SHARES_MIN), CPU_SHARES_MAX)
    l = math.log2(shares)
    exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0
    # round first so that float noise at the exact points (2, 1024, 262144) cannot push ceil() up by one
    weight = math.ceil(round(10 ** exponent, 9))
    return min(max(weight, CPU_WEIGHT_MIN), CPU_WEIGHT_MAX)


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000], linearly (as runc and crun do); 0 stays 0."""
    if weight == 0:
        return 0
    weight = min(max(weight, BLKIO_WEIGHT_MIN), BLKIO_WEIGHT_MAX)
    return 1 + (weight - BLKIO_WEIGHT_MIN) * (IO_WEIGHT_MAX - 1) // (BLKIO_WEIGHT_MAX - BLKIO_WEIGHT_MIN)


def cpu_max(quota: int | None, period: int | None) -> str | None:
    """cpu.max for a quota/period pair ("max 100000" when unlimited); None when neither is set.

    A quota of 0 means unset (as in runc); a negative quota means unlimited.
    """
    if not quota and not period:
        return None
    q = "max" if quota is None or quota <= 0 else str(quota)
    return f"{q} {period or DEFAULT_CPU_PERIOD}"


def v2_limit(value: int) -> str:
    """A byte or count limit for a v2 file: negative means "max"."""
    return "max" if value < 0 else str(value)


UNLIMITED_V1 = 1 << 62  # v1 reports "no limit" as PAGE_COUNTER_MAX pages, far above this


def as_limit(value: int | None) -> int | None:
    """A limit read back from a cgroup file, None when there is none (v1's huge number, v2's "max", -1)."""
    if value is None or value < 0 or value >= UNLIMITED_V1:
        return None
    return value
