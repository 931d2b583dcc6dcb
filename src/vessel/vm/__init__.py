"""vessel's micro-VM backend: an image's process under its own guest kernel in QEMU.

Public API (see docs/vm.md)::

    backend = VmBackend(root)
    vm = backend.create(id, rootfs, ProcessSpec(args=("sh", "-c", "exit 7")), cpus=1, memory_mb=256)
    vm.start(); vm.wait() -> 7
    vm.kill("TERM"), vm.stop(timeout), vm.state(), vm.delete(), vm.logs_path
    vm.suspend(), vm.resume(), vm.export(path), backend.import_(path), vm.migrate(other_root)
    backend.accelerator() -> ("kvm" | "tcg", reason)
"""

from vessel.vm.backend import VmBackend, VmHandle, VmInfo
from vessel.vm.mobility import MigrationReport
from vessel.vm.spec import NetworkSpec, PortSpec, ProcessSpec, VmConfig, VolumeSpec
from vessel.vm.status import Status, VmState

__all__ = ["VmBackend", "VmHandle", "VmInfo", "MigrationReport", "NetworkSpec", "PortSpec", "ProcessSpec",
           "VmConfig", "VolumeSpec", "Status", "VmState"]
