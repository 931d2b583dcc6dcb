"""linux.resources.blockIO -> blkio (v1) or io (v2) controller writes (pure)."""

from __future__ import annotations

from vessel.oci.resources import BlockIO
from vessel.runtime.cgroups.convert import blkio_weight_to_io_weight
from vessel.runtime.cgroups.model import Collector, Target

_THROTTLES = (  # spec field, v1 file, v2 io.max key
    ("throttle_read_bps_device", "blkio.throttle.read_bps_device", "rbps"),
    ("throttle_write_bps_device", "blkio.throttle.write_bps_device", "wbps"),
    ("throttle_read_iops_device", "blkio.throttle.read_iops_device", "riops"),
    ("throttle_write_iops_device", "blkio.throttle.write_iops_device", "wiops"),
)


def _wanted(bio: BlockIO) -> bool:
    return bool(bio.weight or bio.leaf_weight or bio.weight_device
                or any(getattr(bio, name) for name, _f, _k in _THROTTLES))


def plan_blkio(target: Target, bio: BlockIO, out: Collector) -> None:
    if not _wanted(bio):
        return
    located = target.locate("blkio") or target.locate("io")
    if located is None:
        out.missing("blkio/io", "linux.resources.blockIO")
        return
    d, version = located
    if version == 1:
        _v1(d, bio, out)
    else:
        _v2(d, bio, out)


def _v1(d: str, bio: BlockIO, out: Collector) -> None:
    # CFQ had blkio.weight; since Linux 5.0 only BFQ is left and its files are blkio.bfq.*
    if bio.weight:
        out.write(d, "blkio.weight", bio.weight, alternatives=(("blkio.bfq.weight", str(bio.weight)),),
                  if_missing="linux.resources.blockIO.weight is ignored: no proportional I/O scheduler (CFQ/BFQ)")
    if bio.leaf_weight:
        out.write(d, "blkio.leaf_weight", bio.leaf_weight,
                  if_missing="linux.resources.blockIO.leafWeight is ignored: this kernel has no leaf weights")
    for wd in bio.weight_device:
        dev = f"{wd.major}:{wd.minor}"
        if wd.weight:
            line = f"{dev} {wd.weight}"
            out.write(d, "blkio.weight_device", line, alternatives=(("blkio.bfq.weight_device", line),),
                      if_missing=f"blockIO weight for device {dev} is ignored: no proportional I/O scheduler")
        if wd.leaf_weight:
            out.write(d, "blkio.leaf_weight_device", f"{dev} {wd.leaf_weight}",
                      if_missing=f"blockIO leaf weight for device {dev} is ignored: no leaf weights")
    for name, file, _key in _THROTTLES:
        for td in getattr(bio, name):
            out.write(d, file, f"{td.major}:{td.minor} {td.rate}")


def _v2(d: str, bio: BlockIO, out: Collector) -> None:
    # BFQ takes the v1 weight range as is; io.weight (the io.cost controller) has its own range
    if bio.weight:
        out.write(d, "io.bfq.weight", bio.weight,
                  alternatives=(("io.weight", str(blkio_weight_to_io_weight(bio.weight))),),
                  if_missing="linux.resources.blockIO.weight is ignored: no io.weight or io.bfq.weight here")
    for wd in bio.weight_device:
        dev = f"{wd.major}:{wd.minor}"
        if wd.weight:
            out.write(d, "io.bfq.weight", f"{dev} {wd.weight}",
                      alternatives=(("io.weight", f"{dev} {blkio_weight_to_io_weight(wd.weight)}"),),
                      if_missing=f"blockIO weight for device {dev} is ignored: no io.weight here")
    if bio.leaf_weight or any(wd.leaf_weight for wd in bio.weight_device):
        out.warn("linux.resources.blockIO leaf weights are ignored on cgroup v2 (no such knob)")
    per_device: dict[str, list[str]] = {}
    for name, _file, key in _THROTTLES:
        for td in getattr(bio, name):
            per_device.setdefault(f"{td.major}:{td.minor}", []).append(f"{key}={td.rate if td.rate > 0 else 'max'}")
    for dev, keys in per_device.items():
        out.write(d, "io.max", f"{dev} {' '.join(keys)}")
