"""The micro-VM backend: ``VmBackend(root)`` makes and finds VMs, ``VmHandle`` drives one.

A VM is a folder ``<root>/vm/<id>/``: config.json, state.json, disk.qcow2 (overlay
over a cached base in ``<root>/vm/images``), initrd.cpio, console.log (kernel),
output.log (the process's stdout/stderr), status (guest reports), ctl.in/ctl.out
(FIFOs to the guest), qemu.pid, and ram.state while suspended.  Sockets live in
a short runtime folder (``run_root``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal as _signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vessel.errors import Conflict, InvalidArgument, NotFound
from vessel.vm import accel as _accel
from vessel.vm import disk, initramfs, launch
from vessel.vm.kernel import GuestKernel, boot_image, find_kernel, modules_for
from vessel.vm.qemu_args import QEMU, Machine, VmPaths, qemu_argv, volume_tags
from vessel.vm.spec import NetworkSpec, PortSpec, ProcessSpec, VmConfig, VolumeSpec, validate
from vessel.vm.status import Status, VmState, final_exit_code, require

DEFAULT_BOOT_TIMEOUT = 60.0


def random_mac() -> str:
    """A locally administered unicast MAC in QEMU's 52:54:00 range."""
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def new_id() -> str:
    return secrets.token_hex(6)


def signal_number(sig: int | str) -> int:
    if isinstance(sig, int):
        return sig
    name = sig.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(getattr(_signal, name))
    except AttributeError:
        raise InvalidArgument(f"unknown signal {sig!r}", hint="use a name like TERM or KILL, or a number") from None


@dataclass(frozen=True, slots=True)
class VmInfo:
    """What ``ps``/``inspect`` show of a VM."""

    id: str
    name: str
    status: str
    pid: int
    exit_code: int | None
    accel: str
    cpus: int
    memory_mb: int
    command: tuple[str, ...]
    dir: str
    error: str


class VmBackend:
    """All VMs under one vessel root.  Inject ``kernel``/``qemu``/clock in tests."""

    isolation = "vm"

    def __init__(self, root: Path | str, *, run_root: Path | str = "/run/vessel/vm", qemu: str = QEMU,
                 kernel: GuestKernel | None = None, boot_timeout: float = DEFAULT_BOOT_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root = Path(root)
        self.vm_root = self.root / "vm"
        self.run_root = Path(run_root)
        self.qemu = qemu
        self._kernel = kernel
        self.boot_timeout = boot_timeout
        self.clock = clock

    # --- shared resources ----------------------------------------------------------------------
    @property
    def kernel(self) -> GuestKernel:
        if self._kernel is None:
            self._kernel = find_kernel()
        return self._kernel

    @property
    def cache_dir(self) -> Path:
        return self.vm_root / "cache"

    @property
    def images_dir(self) -> Path:
        return self.vm_root / "images"

    def accelerator(self) -> tuple[str, str]:
        """("kvm"|"tcg", reason) for `vessel info`; probed once, cached in <root>/vm/accel.json."""
        image = self.kernel.image
        verdict = _accel.cached_verdict(self.vm_root / "accel.json", _accel.fingerprint(self.qemu, image),
                                        Path("/dev/kvm").exists(), lambda: _accel.probe_kvm(image, self.qemu))
        return verdict.accel, verdict.reason

    def machine(self) -> Machine:
        accel, _reason = self.accelerator()
        return _accel.machine_for(accel, _accel.host_tsc_khz(Path("/proc/cpuinfo").read_text()))

    def paths(self, vm_id: str) -> VmPaths:
        vm_dir = self.vm_root / vm_id
        short = hashlib.sha256(str(vm_dir.resolve()).encode()).hexdigest()[:12]
        return VmPaths(vm_dir, self.run_root / short)

    # --- creating and finding ------------------------------------------------------------------
    def create(self, vm_id: str | None, rootfs: Path | str, process: ProcessSpec, *, name: str | None = None,
               cpus: int = 1, memory_mb: int = 256, volumes: tuple[VolumeSpec, ...] = (),
               ports: tuple[PortSpec, ...] = (), network: NetworkSpec | None = None,
               image_key: str | None = None) -> "VmHandle":
        """Make a VM folder (disk overlay, initrd, config) for ``rootfs``: a directory, a tarball,
        or an ext4 disk image; ``image_key`` (the image digest) names the cached base disk."""
        vm_id = vm_id or new_id()
        config = VmConfig(id=vm_id, name=name or vm_id, process=process, base_image="", cpus=cpus,
                          memory_mb=memory_mb, volumes=tuple(volumes), ports=tuple(ports),
                          network=network or NetworkSpec(), mac=random_mac(), created=time.time())
        validate(config)
        self._check_name_free(config)
        base = disk.base_image(self.images_dir, Path(rootfs), image_key)
        config = config.update(base_image=str(base))
        paths = self.paths(vm_id)
        paths.dir.mkdir(parents=True)
        try:
            disk.create_overlay(paths.disk, base)
            handle = VmHandle(self, paths)
            handle.write_config(config)
            handle.write_state(VmState())
        except BaseException:
            shutil.rmtree(paths.dir, ignore_errors=True)
            raise
        return handle

    def _check_name_free(self, config: VmConfig) -> None:
        if (self.vm_root / config.id / "config.json").exists():
            raise Conflict(f"VM {config.id} already exists in {self.vm_root}", vm=config.id)
        for other in self.list():
            if other.config.name == config.name:
                raise Conflict(f"VM name {config.name} is in use by {other.id}", vm=other.id)

    def get(self, ref: str) -> "VmHandle":
        """A VM by id, name, or unique id prefix."""
        direct = self.vm_root / ref
        if (direct / "config.json").is_file():
            return VmHandle(self, self.paths(ref))
        matches = [h for h in self.list() if h.config.name == ref or h.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(f"no VM {ref!r} in {self.vm_root}", vm=ref)
        raise InvalidArgument(f"VM reference {ref!r} is ambiguous: {', '.join(h.id for h in matches)}")

    def list(self) -> list["VmHandle"]:
        if not self.vm_root.is_dir():
            return []
        return [VmHandle(self, self.paths(d.name)) for d in sorted(self.vm_root.iterdir())
                if (d / "config.json").is_file()]

    def import_(self, archive: Path | str, name: str | None = None) -> "VmHandle":
        from vessel.vm.transfer import import_vm
        return import_vm(self, Path(archive), name)


class VmHandle:
    """One VM.  Every method re-reads the folder, so handles are cheap and never stale."""

    def __init__(self, backend: VmBackend, paths: VmPaths) -> None:
        self.backend = backend
        self.paths = paths
        self.id = paths.dir.name
        self._popen: subprocess.Popen | None = None  # only for an interactive (foreground) QEMU

    # --- files ---------------------------------------------------------------------------------
    @property
    def config(self) -> VmConfig:
        try:
            return VmConfig.from_json(self.paths.config.read_text(), str(self.paths.config))
        except FileNotFoundError:
            raise NotFound(f"VM {self.id} does not exist", vm=self.id) from None

    @property
    def logs_path(self) -> Path:
        return self.paths.output_log

    @property
    def console_path(self) -> Path:
        return self.paths.console_log

    def write_config(self, config: VmConfig) -> None:
        _atomic_write(self.paths.config, config.to_json())

    def write_state(self, state: VmState) -> None:
        _atomic_write(self.paths.state, state.to_json())

    def _raw_state(self) -> VmState:
        try:
            return VmState.from_json(self.paths.state.read_text())
        except FileNotFoundError:
            raise NotFound(f"VM {self.id} does not exist", vm=self.id) from None

    def state(self) -> VmState:
        """The current state; a VM whose QEMU has gone is settled as exited with its exit code."""
        state = self._raw_state()
        if state.status is Status.RUNNING and not launch.alive(state.pid, str(self.paths.dir)):
            if self._popen is not None:
                self._popen.wait()
            code, error = final_exit_code(launch.read_report(self.paths), state.killed_by)
            state = state.update(status=Status.EXITED, pid=0, exit_code=code, error=error, finished_at=time.time())
            self.write_state(state)
        return state

    def info(self) -> VmInfo:
        c, s = self.config, self.state()
        return VmInfo(self.id, c.name, s.status.value, s.pid, s.exit_code, s.accel, c.cpus, c.memory_mb,
                      c.process.args, str(self.paths.dir), s.error)

    # --- life cycle ----------------------------------------------------------------------------
    def prepare_boot(self, machine: Machine) -> None:
        """Write the per-VM initrd and runtime files for a boot with ``machine``."""
        config, kernel = self.config, self.backend.kernel
        base = initramfs.base_archive(self.backend.cache_dir, kernel)
        modules = initramfs.module_order(kernel, modules_for(machine.kind, config.network.mode != "none",
                                                             bool(config.volumes)))
        initramfs.write_vm_initrd(self.paths.initrd, base, config, modules, volume_tags(config))
        self.paths.run.mkdir(parents=True, exist_ok=True)
        launch.make_fifos(self.paths)

    def qemu_argv(self, machine: Machine, *, incoming: bool = False, tty: bool = False) -> list[str]:
        kernel_image = boot_image(self.backend.cache_dir, self.backend.kernel)
        return qemu_argv(machine, self.config, self.paths, kernel_image, daemonize=not tty,
                         incoming=incoming, tty=tty, qemu=self.backend.qemu)

    def start(self, tty: bool | None = None) -> None:
        """Boot the VM and return once its process runs (boot supervised with a timeout)."""
        state = self.state()
        require(self.id, state.status, state.status.can_start(), "start")
        config = self.config
        tty = config.process.tty if tty is None else tty
        machine = self.backend.machine()
        self.prepare_boot(machine)
        self.paths.status.write_text("")
        launch.start_virtiofsd(config, self.paths, self.backend.clock)
        argv = self.qemu_argv(machine, tty=tty)
        if tty:
            self._popen = subprocess.Popen(argv)
            pid = self._popen.pid
        else:
            pid = launch.run_qemu(argv, self.id, self.paths)
        self.write_state(VmState(Status.RUNNING, pid=pid, started_at=time.time(), accel=machine.accel))
        try:
            launch.supervise_boot(self.id, self.paths, pid, self.backend.boot_timeout, self.backend.clock)
        except Exception:
            launch.terminate(pid, str(self.paths.dir))
            self.state()
            raise

    def wait(self, timeout: float | None = None) -> int:
        """Block until the process exits; its exit code (``TimeoutError`` if ``timeout`` passes)."""
        state = self.state()
        if state.status is Status.RUNNING:
            if self._popen is not None:
                try:
                    self._popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    raise TimeoutError(f"VM {self.id} still running after {timeout}s") from None
            elif not launch.wait_exit(state.pid, timeout):
                raise TimeoutError(f"VM {self.id} still running after {timeout}s")
            state = self.state()
        if state.status is not Status.EXITED or state.exit_code is None:
            raise Conflict(f"VM {self.id} is {state.status.value}, it has no exit code", vm=self.id)
        return state.exit_code

    def kill(self, sig: int | str = "KILL") -> None:
        """SIGKILL ends QEMU at once (exit 137); other signals go to the guest's process."""
        number = signal_number(sig)
        state = self.state()
        require(self.id, state.status, state.status.can_signal(), "signal")
        if number == _signal.SIGKILL:
            self.write_state(state.update(killed_by=number))
            launch.terminate(state.pid, str(self.paths.dir))
            self.state()
        else:
            launch.send_control(self.paths, f"kill {number}")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM to the process, SIGKILL to the VM after ``timeout``; the exit code."""
        state = self.state()
        if state.status is Status.RUNNING:
            self.kill("TERM")
            try:
                return self.wait(timeout)
            except TimeoutError:
                self.kill("KILL")
        elif state.status is Status.SUSPENDED:
            self.paths.ram_state.unlink(missing_ok=True)
            self.write_state(state.update(status=Status.EXITED, exit_code=128 + _signal.SIGKILL))
        return self.wait(0)

    def delete(self, force: bool = False) -> None:
        state = self.state()
        require(self.id, state.status, state.status.can_delete(force), "remove",
                hint="stop it first, or force removal")
        if state.status is Status.RUNNING:
            self.kill("KILL")
        shutil.rmtree(self.paths.run, ignore_errors=True)
        shutil.rmtree(self.paths.dir)

    # --- mobility (see suspend.py, migrate.py, transfer.py) --------------------------------------
    def suspend(self) -> None:
        from vessel.vm.mobility import suspend
        suspend(self)

    def resume(self) -> None:
        from vessel.vm.mobility import resume
        resume(self)

    def export(self, dest: Path | str) -> Path:
        from vessel.vm.transfer import export_vm
        return export_vm(self, Path(dest))

    def migrate(self, to_root: Path | str, **kwargs: object) -> "object":
        from vessel.vm.mobility import migrate
        return migrate(self, VmBackend(to_root, run_root=self.backend.run_root, qemu=self.backend.qemu,
                                       kernel=self.backend._kernel, boot_timeout=self.backend.boot_timeout),
                       **kwargs)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
