#!/usr/bin/env python3
"""Boot-to-exit of a micro-VM through vessel vs a stock QEMU q35 boot, side by side.

    sudo .venv/bin/python benchmarks/vm_boot.py [--runs 5] [--memory 256]

* vessel CLI: `vessel run --isolation vm --rm busybox true` as a user types it (a new
  process each time: CLI start-up, engine, create, boot, run, exit, removal).
* vessel.vm API: create + start + wait of a busybox rootfs running `true` (microvm, PVH
  kernel, vessel initramfs, root disk mounted, process run, exit code reported).
* stock q35: `qemu-system-x86_64 -M q35 -m 256 -kernel <same kernel> -initrd <trivial>`,
  default devices and firmware, an initramfs whose /init powers off at once.
* The three are interleaved run by run, so load from other work on the machine hits all alike.
* QEMU's host RSS beyond guest RAM: from /proc/PID/smaps of a running VM, the resident
  memory of every mapping except the guest-RAM one.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vessel.vm import ProcessSpec, VmBackend, cpio
from vessel.vm.initramfs import find_busybox
from vessel.vm.kernel import find_kernel
from vessel.vm.rootfs import busybox_rootfs


def vessel_boot(backend: VmBackend, rootfs: Path, memory: int, i: int) -> float:
    began = time.monotonic()
    vm = backend.create(f"bench{i}", rootfs, ProcessSpec(("true",)), memory_mb=memory)
    vm.start()
    code = vm.wait(120)
    took = time.monotonic() - began
    vm.delete()
    if code != 0:
        raise SystemExit(f"benchmark VM exited {code}")
    return took


def vessel_cli(root: Path, memory: int) -> float:
    """`vessel run --isolation vm --rm busybox true`, timed from the outside."""
    argv = [str(Path(sys.executable).with_name("vessel")), "--root", str(root), "run", "--isolation", "vm", "--rm",
            "-m", f"{memory}m", "busybox", "true"]
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    took = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"vessel run exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return took


def stock_q35(initrd: Path, kernel: Path, memory: int, log: Path) -> float:
    argv = ["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-m", str(memory), "-display", "none",
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", "console=ttyS0", "-serial", f"file:{log}"]
    began = time.monotonic()
    subprocess.run(argv, check=True, timeout=120)
    return time.monotonic() - began


def trivial_initrd(path: Path) -> Path:
    init = b"#!/bin/busybox sh\n/bin/busybox poweroff -f\n"
    path.write_bytes(cpio.archive([cpio.directory("bin"), cpio.directory("dev"), cpio.char_device("dev/console", 5, 1),
                                   cpio.file("bin/busybox", find_busybox().read_bytes(), 0o755),
                                   cpio.file("init", init, 0o755)]))
    return path


def rss_beyond_guest(backend: VmBackend, rootfs: Path, memory: int) -> tuple[int, int]:
    """(total RSS kB, RSS kB outside the guest-RAM mapping) of a running VM's QEMU."""
    vm = backend.create("rss", rootfs, ProcessSpec(("sleep", "600")), memory_mb=memory)
    vm.start()
    try:
        time.sleep(1.0)  # let the guest settle after boot
        total = guest = 0
        size = rss = 0
        for line in Path(f"/proc/{vm.state().pid}/smaps").read_text().splitlines():
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
                total += rss
                if size == memory * 1024:
                    guest += rss
        return total, total - guest
    finally:
        vm.delete(force=True)


def row(what: str, times: list[float]) -> str:
    return f"{what:48} {statistics.median(times):9.2f} {' '.join(f'{t:.2f}' for t in times)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--memory", type=int, default=256)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vessel-bench-"))
    run = Path(tempfile.mkdtemp(prefix="vb", dir="/tmp"))
    cli_root = work / "cli-root"
    try:
        rootfs = busybox_rootfs(work / "rootfs")
        backend = VmBackend(work / "root", run_root=run)
        print(f"accelerator: {backend.accelerator()[0]}", file=sys.stderr)
        vessel_boot(backend, rootfs, args.memory, 0)  # warm the caches (base disk, initramfs, vmlinux)
        vessel_cli(cli_root, args.memory)             # same for the CLI's root (image, base disk)
        initrd = trivial_initrd(work / "trivial.cpio")
        kernel = find_kernel().image
        cli, ours, stock = [], [], []
        for i in range(args.runs):  # interleaved, so load changes hit all alike
            cli.append(vessel_cli(cli_root, args.memory))
            ours.append(vessel_boot(backend, rootfs, args.memory, i + 1))
            stock.append(stock_q35(initrd, kernel, args.memory, work / "q35.log"))
        total, beyond = rss_beyond_guest(backend, rootfs, args.memory)
        m_stock = statistics.median(stock)
        print(f"{'what':48} {'median s':>9} runs")
        print(row("vessel run --isolation vm --rm busybox true", cli))
        print(row("vessel.vm API: create + boot + run true + exit", ours))
        print(row("stock q35 boot-to-poweroff, trivial initrd", stock))
        print(f"ratio vessel run / stock: {statistics.median(cli) / m_stock:.2f}, "
              f"API / stock: {statistics.median(ours) / m_stock:.2f} (target <= 0.50)")
        print(f"QEMU host RSS: {total / 1024:.0f} MiB total, {beyond / 1024:.0f} MiB beyond guest RAM "
              f"({args.memory} MiB guest)")
    finally:
        subprocess.run([str(Path(sys.executable).with_name("vessel")), "--root", str(cli_root), "system", "reset",
                        "--force"], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
