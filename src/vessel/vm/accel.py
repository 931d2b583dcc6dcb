"""Choosing the accelerator: KVM when a real guest boots under it, TCG otherwise.

``/dev/kvm`` existing is not enough: on this kind of host it is paravirtual
(PVM) and a stock guest kernel does not boot under it.  So the first use boots
a tiny guest under KVM (an initramfs whose /init prints a marker and reboots)
with a short timeout, and caches the verdict in ``<root>/vm/accel.json`` keyed
by host kernel, QEMU binary and guest kernel.

Under TCG the guest's TSC is the host's TSC, and the kernel cannot calibrate it
against microvm's timers (docs/vm.md): ``clock_args`` hands it the frequency.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vessel.vm import cpio
from vessel.vm.initramfs import find_busybox
from vessel.vm.qemu_args import Machine

PROBE_MARKER = "vessel-kvm-probe-ok"
PROBE_TIMEOUT = 8.0


@dataclass(frozen=True, slots=True)
class Verdict:
    accel: str    # "kvm" or "tcg"
    reason: str


def decide(kvm_device: bool, probe_ok: bool | None, detail: str = "") -> Verdict:
    """Pure decision from what the host offers and what the probe boot showed."""
    if not kvm_device:
        return Verdict("tcg", "no /dev/kvm: using TCG (software emulation)")
    if probe_ok:
        return Verdict("kvm", "a probe guest booted under KVM")
    why = f" ({detail})" if detail else ""
    return Verdict("tcg", f"/dev/kvm is present but a probe guest did not boot under it{why}: "
                          "probably a paravirtual KVM (PVM); using TCG")


def host_tsc_khz(cpuinfo: str) -> int | None:
    """The host TSC frequency in kHz from /proc/cpuinfo ("cpu MHz" is tsc_khz on a constant-TSC host)."""
    if "constant_tsc" not in cpuinfo:
        return None
    match = re.search(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.M)
    return round(float(match.group(1)) * 1000) if match else None


def clock_args(accel: str, tsc_khz: int | None) -> tuple[str, ...]:
    """Kernel arguments that make a TCG guest's clock setup deterministic (see docs/vm.md)."""
    if accel != "tcg" or not tsc_khz:
        return ()
    return (f"tsc_early_khz={tsc_khz}", "tsc=reliable")


def machine_for(accel: str, tsc_khz: int | None) -> Machine:
    """The machine vessel boots under ``accel`` (pure).  ``qemu64`` is cheaper to emulate than
    ``max`` under TCG; the PIT is dropped when the guest is handed the TSC frequency (the
    kernel only needs it to calibrate the TSC, see qemu_args.Machine)."""
    clock = clock_args(accel, tsc_khz)
    return Machine(kind="microvm", accel=accel, cpu="qemu64" if accel == "tcg" else "host",
                   clock_args=clock, pit=not clock)


def fingerprint(qemu: str, guest_kernel: Path) -> str:
    st = guest_kernel.stat()
    return f"{platform.release()}|{qemu}|{guest_kernel.name}|{st.st_size}"


def cached_verdict(cache: Path, key: str, kvm_device: bool, probe: Callable[[], tuple[bool, str]]) -> Verdict:
    """The cached verdict for ``key``, probing (and caching) on a miss."""
    try:
        data = json.loads(cache.read_text())
        if data.get("key") == key:
            return Verdict(data["accel"], data["reason"])
    except (OSError, ValueError, KeyError):
        pass
    ok, detail = probe() if kvm_device else (False, "")
    verdict = decide(kvm_device, ok, detail)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "accel": verdict.accel, "reason": verdict.reason}) + "\n")
    os.replace(tmp, cache)
    return verdict


def probe_initramfs() -> bytes:
    init = f"#!/bin/busybox sh\n/bin/busybox echo {PROBE_MARKER} > /dev/console\n/bin/busybox reboot -f\n"
    return cpio.archive([cpio.directory("bin"), cpio.directory("dev"), cpio.char_device("dev/console", 5, 1),
                         cpio.file("bin/busybox", find_busybox().read_bytes(), 0o755),
                         cpio.file("init", init.encode(), 0o755)])


def probe_kvm(kernel_image: Path, qemu: str = "qemu-system-x86_64", timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Boot a tiny guest under KVM; True when its marker reached the console in time."""
    with tempfile.TemporaryDirectory(prefix="vessel-kvm-probe-") as tmp:
        initrd = Path(tmp) / "probe.cpio"
        initrd.write_bytes(probe_initramfs())
        console = Path(tmp) / "console.log"
        argv = [qemu, "-M", "microvm,x-option-roms=off,isa-serial=on", "-accel", "kvm", "-cpu", "host",
                "-m", "128M", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-kernel", str(kernel_image), "-initrd", str(initrd),
                "-append", "console=ttyS0 reboot=t panic=-1 quiet", "-serial", f"file:{console}"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return False, f"no sign of life within {timeout:.0f}s"
        except FileNotFoundError:
            return False, f"{qemu} not found"
        text = console.read_text(errors="replace") if console.exists() else ""
        if PROBE_MARKER in text:
            return True, ""
        return False, (done.stderr.strip().splitlines() or [f"QEMU exited {done.returncode}"])[-1][:200]
