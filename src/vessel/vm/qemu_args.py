"""The QEMU command line for a VM, as a pure function of its config, machine choice and paths.

Trimmed for boot time (see docs/vm.md): ``-M microvm`` (no PCI bus, no option
ROMs; no PIT once the guest is handed the TSC frequency), direct ``-kernel`` boot,
no default devices, one virtio-mmio device per need: root disk, serial ports, NIC,
virtiofs volumes; a kernel command line that skips what a vessel guest never uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vessel.vm.spec import VmConfig

QEMU = "qemu-system-x86_64"
SERIAL_PORTS = 3  # hvc0 (the process's stdio), vessel.status, vessel.ctl

# Kernel command line (figures: docs/vm.md, "Boot time").  The clock options are the fix for
# the TCG boot hang: the guest's TSC is the host's, so its frequency is given (tsc_early_khz,
# accel.clock_args) rather than calibrated against timers TCG emulates imprecisely on a loaded
# host, and trusted (tsc=reliable: no watchdog).
BASE_CMDLINE = ("console=ttyS0", "quiet", "pci=off", "reboot=t", "panic=-1", "nokaslr",
                "i8042.noaux", "i8042.nomux", "i8042.nopnp", "i8042.dumbkbd",
                "random.trust_cpu=on", "cryptomgr.notests", "audit=0")

# Built-in initcalls a vessel guest does not need, each measured under TCG (initcall_debug):
# tracefs (event directories for ~1,500 trace events, kprobe_events, the enum map rewrite:
# ~0.1 s together), the KDF108 self-test (~0.02 s) and loading the X.509 module-signing key
# (~0.015 s; the initramfs modules carry no signature, see initramfs.py).
INITCALL_BLACKLIST = ("init_kprobe_trace", "trace_eval_init", "tracer_init_tracefs", "crypto_kdf108_init",
                      "load_system_certificate_list")

# Per accelerator.  Under TCG the boot-time rewriting of kernel text is slow: noreplace-smp
# skips the uniprocessor rewrite of ~9,000 LOCK prefixes, and keeping the default
# mitigations skips rewriting ~7,900 retpoline call sites (mitigations=off asks for that):
# 0.39 s -> 0.17 s for the alternatives phase.  Under KVM rewriting is native-fast and
# mitigations=off saves run time instead.
ACCEL_CMDLINE = {"tcg": ("noreplace-smp",), "kvm": ("mitigations=off",)}


@dataclass(frozen=True, slots=True)
class Machine:
    """How to emulate: machine type, accelerator, CPU model, extra kernel arguments."""

    kind: str = "microvm"          # "microvm" or "q35"
    accel: str = "tcg"             # "kvm" or "tcg"
    cpu: str = "max"
    clock_args: tuple[str, ...] = ()   # e.g. ("tsc_early_khz=2596138", "tsc=reliable", "lpj=...")
    # The i8254 PIT.  On microvm the guest kernel only uses it to calibrate the TSC (it is not
    # wired to the IO-APIC), so when clock_args hand over the frequency it goes: its early
    # calibration loop costs ~0.1 s under TCG.
    pit: bool = True


@dataclass(frozen=True, slots=True)
class VmPaths:
    """The files of one VM (all inside its folder)."""

    dir: Path
    run: Path  # short runtime dir for sockets (AF_UNIX paths are limited to 108 bytes)

    @property
    def config(self) -> Path: return self.dir / "config.json"
    @property
    def state(self) -> Path: return self.dir / "state.json"
    @property
    def disk(self) -> Path: return self.dir / "disk.qcow2"
    @property
    def initrd(self) -> Path: return self.dir / "initrd.cpio"
    @property
    def console_log(self) -> Path: return self.dir / "console.log"
    @property
    def output_log(self) -> Path: return self.dir / "output.log"
    @property
    def status(self) -> Path: return self.dir / "status"
    @property
    def ctl(self) -> Path: return self.dir / "ctl"
    @property
    def qmp(self) -> Path: return self.run / "qmp.sock"
    @property
    def pidfile(self) -> Path: return self.dir / "qemu.pid"
    @property
    def ram_state(self) -> Path: return self.dir / "ram.state"
    @property
    def qemu_log(self) -> Path: return self.dir / "qemu.log"

    def virtiofs_socket(self, index: int) -> Path:
        return self.run / f"fs{index}.sock"


def volume_tags(config: VmConfig) -> list[str]:
    return [f"vol{i}" for i in range(len(config.volumes))]


def kernel_cmdline(machine: Machine) -> str:
    blacklist = ("initcall_blacklist=" + ",".join(INITCALL_BLACKLIST),)
    return " ".join(BASE_CMDLINE + blacklist + ACCEL_CMDLINE.get(machine.accel, ()) + machine.clock_args)


def _bus(machine: Machine, device: str) -> str:
    """virtio device names: ``-device`` on microvm's MMIO transport, ``-pci`` otherwise."""
    return f"{device}-device" if machine.kind == "microvm" else f"{device}-pci"


def machine_args(machine: Machine, config: VmConfig) -> list[str]:
    if machine.kind == "microvm":
        m = "microvm,x-option-roms=off,isa-serial=on" + ("" if machine.pit else ",pit=off")
    else:
        m = "q35,sata=off,smbus=off,vmport=off,i8042=off" if machine.kind == "q35" else machine.kind
    args = ["-global", "virtio-mmio.force-legacy=false"] if machine.kind == "microvm" else []  # virtio 1.0
    args += ["-M", m, "-accel", machine.accel, "-cpu", machine.cpu,
            "-smp", str(config.cpus), "-m", f"{config.memory_mb}M"]
    if config.volumes:  # vhost-user (virtiofsd) needs guest RAM it can map
        args += ["-object", f"memory-backend-memfd,id=mem,size={config.memory_mb}M,share=on",
                 "-machine", "memory-backend=mem"]
    return args


def device_args(machine: Machine, config: VmConfig, paths: VmPaths, tty: bool = False) -> list[str]:
    # max_ports: the three ports below, not the default 31 (each port is two virtqueues the
    # guest driver sets up at probe time)
    args = ["-chardev", f"file,id=con,path={paths.console_log},append=on", "-serial", "chardev:con",
            "-device", _bus(machine, "virtio-serial") + f",max_ports={SERIAL_PORTS}"]
    if tty:
        args += ["-chardev", "stdio,id=out,signal=off"]
    else:
        args += ["-chardev", f"file,id=out,path={paths.output_log},append=on"]
    args += ["-device", "virtconsole,chardev=out",
             "-chardev", f"file,id=status,path={paths.status},append=on",
             "-device", "virtserialport,chardev=status,name=vessel.status",
             "-chardev", f"pipe,id=ctl,path={paths.ctl}",
             "-device", "virtserialport,chardev=ctl,name=vessel.ctl",
             "-drive", f"id=root,file={paths.disk},format=qcow2,if=none,discard=unmap",
             "-device", _bus(machine, "virtio-blk") + ",drive=root"]
    args += network_args(machine, config)
    for i, tag in enumerate(volume_tags(config)):
        args += ["-chardev", f"socket,id=fs{i},path={paths.virtiofs_socket(i)}",
                 "-device", _bus(machine, "vhost-user-fs") + f",chardev=fs{i},tag={tag}"]
    return args


def network_args(machine: Machine, config: VmConfig) -> list[str]:
    net = config.network
    if net.mode == "none":
        return []
    if net.mode == "tap":  # the seam for the vessel bridge: the network layer made the tap
        netdev = f"tap,id=net0,ifname={net.tap},script=no,downscript=no"
    else:
        fwd = "".join(f",hostfwd={p.protocol}:{p.host_ip}:{p.host_port}-:{p.guest_port}" for p in config.ports)
        netdev = f"user,id=net0{',restrict=on' if net.restrict else ''}{fwd}"
    return ["-netdev", netdev, "-device", _bus(machine, "virtio-net") + f",netdev=net0,mac={config.mac}"]


def qemu_argv(machine: Machine, config: VmConfig, paths: VmPaths, kernel: Path, *,
              daemonize: bool = True, incoming: bool = False, tty: bool = False, qemu: str = QEMU) -> list[str]:
    """The full command line.  ``incoming`` waits for a migration stream (``migrate-incoming``)."""
    argv = [qemu, "-name", f"vessel-{config.id},process=vessel-vm-{config.id}",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]
    argv += machine_args(machine, config)
    argv += ["-kernel", str(kernel), "-initrd", str(paths.initrd), "-append", kernel_cmdline(machine)]
    argv += device_args(machine, config, paths, tty)
    argv += ["-qmp", f"unix:{paths.qmp},server=on,wait=off", "-pidfile", str(paths.pidfile)]
    if incoming:
        argv += ["-incoming", "defer"]
    if daemonize:
        argv += ["-daemonize"]
    return argv


def virtiofsd_argv(source: str, socket: Path, readonly: bool, binary: str = "/usr/lib/qemu/virtiofsd") -> list[str]:
    """virtiofsd sharing ``source`` on ``socket`` (QEMU 7.2's C daemon)."""
    opts = f"source={source},cache=auto,no_xattr"  # read-only is enforced by the guest mount (7.2 has no readonly option)
    return [binary, f"--socket-path={socket}", "-o", opts]
