"""linux.resources of the OCI runtime spec (config-linux.md#control-groups)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vessel.oci._codec import key

_F = dict(frozen=True)


@dataclass(**_F)
class DeviceRule:
    allow: bool
    type: str | None = None  # a (all), c, b
    major: int | None = None  # None: any (*)
    minor: int | None = None
    access: str | None = None  # subset of "rwm"


@dataclass(**_F)
class Memory:
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None  # memory+swap, as on cgroup v1
    kernel: int | None = None
    kernel_tcp: int | None = field(default=None, metadata=key("kernelTCP"))
    swappiness: int | None = None
    disable_oom_killer: bool | None = field(default=None, metadata=key("disableOOMKiller"))
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


@dataclass(**_F)
class Cpu:
    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: int | None = None


@dataclass(**_F)
class WeightDevice:
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None


@dataclass(**_F)
class ThrottleDevice:
    major: int
    minor: int
    rate: int


@dataclass(**_F)
class BlockIO:
    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: list[WeightDevice] = field(default_factory=list)
    throttle_read_bps_device: list[ThrottleDevice] = field(default_factory=list)
    throttle_write_bps_device: list[ThrottleDevice] = field(default_factory=list)
    throttle_read_iops_device: list[ThrottleDevice] = field(
        default_factory=list, metadata=key("throttleReadIOPSDevice"))
    throttle_write_iops_device: list[ThrottleDevice] = field(
        default_factory=list, metadata=key("throttleWriteIOPSDevice"))


@dataclass(**_F)
class HugepageLimit:
    page_size: str
    limit: int


@dataclass(**_F)
class Pids:
    limit: int


@dataclass(**_F)
class NetPriority:
    name: str
    priority: int


@dataclass(**_F)
class Network:
    class_id: int | None = field(default=None, metadata=key("classID"))
    priorities: list[NetPriority] = field(default_factory=list)


@dataclass(**_F)
class Resources:
    devices: list[DeviceRule] = field(default_factory=list)
    memory: Memory | None = None
    cpu: Cpu | None = None
    block_io: BlockIO | None = field(default=None, metadata=key("blockIO"))
    hugepage_limits: list[HugepageLimit] = field(default_factory=list)
    network: Network | None = None
    pids: Pids | None = None
    rdma: dict[str, dict[str, int]] = field(default_factory=dict)
    unified: dict[str, str] = field(default_factory=dict)
