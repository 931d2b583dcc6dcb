"""`vessel vm ...`: the verbs only VMs have (suspend, resume, export, import, migrate), plus
`vm run`/`ls`/`logs`/`stop`/`rm`/`accel` to drive the backend before the engine exists."""

from __future__ import annotations

import argparse
import json
import sys
import time


def _backend(args: argparse.Namespace):
    from vessel.vm import VmBackend
    return VmBackend(args.root)


def _run(args: argparse.Namespace) -> int:
    from vessel.vm import ProcessSpec
    from vessel.vm.spec import NetworkSpec, parse_port, parse_volume

    backend = _backend(args)
    process = ProcessSpec(tuple(args.command), env=tuple(args.env), cwd=args.workdir, user=args.user,
                          hostname=args.hostname or "", tty=args.interactive and args.tty)
    vm = backend.create(args.name, args.rootfs, process, name=args.name, cpus=args.cpus, memory_mb=args.memory,
                        volumes=tuple(parse_volume(v) for v in args.volume),
                        ports=tuple(parse_port(p) for p in args.publish),
                        network=NetworkSpec(mode=args.network))
    vm.start()
    if args.detach:
        print(vm.id)
        return 0
    code = _follow(vm) if not process.tty else vm.wait()
    if args.rm:
        vm.delete()
    return code


def _follow(vm) -> int:
    """Copy the VM's output to stdout until it exits; its exit code."""
    with open(vm.logs_path, "rb") as log:
        while True:
            chunk = log.read(65536)
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                continue
            try:
                return vm.wait(0.1)
            except TimeoutError:
                continue
            finally:
                rest = log.read()
                if rest:
                    sys.stdout.buffer.write(rest)
                    sys.stdout.flush()


def _ls(args: argparse.Namespace) -> int:
    rows = [vm.info() for vm in _backend(args).list()]
    if args.json:
        print(json.dumps([_asdict(r) for r in rows], indent=2))
        return 0
    print(f"{'ID':14} {'NAME':16} {'STATUS':10} {'EXIT':5} {'ACCEL':5} {'CPUS':4} {'MEM':6} COMMAND")
    for r in rows:
        code = "" if r.exit_code is None else str(r.exit_code)
        print(f"{r.id:14} {r.name:16} {r.status:10} {code:5} {r.accel:5} {r.cpus:<4} {r.memory_mb:<6} {' '.join(r.command)}")
    return 0


def _asdict(info) -> dict:
    from dataclasses import asdict
    return asdict(info)


def _logs(args: argparse.Namespace) -> int:
    vm = _backend(args).get(args.vm)
    path = vm.console_path if args.console else vm.logs_path
    sys.stdout.buffer.write(path.read_bytes() if path.exists() else b"")
    return 0


def _stop(args: argparse.Namespace) -> int:
    print(_backend(args).get(args.vm).stop(args.time))
    return 0


def _rm(args: argparse.Namespace) -> int:
    for ref in args.vms:
        _backend(args).get(ref).delete(force=args.force)
    return 0


def _suspend(args: argparse.Namespace) -> int:
    vm = _backend(args).get(args.vm)
    began = time.monotonic()
    vm.suspend()
    size = vm.paths.ram_state.stat().st_size
    print(f"suspended {vm.id}: {size / 2**20:.1f} MiB of state in {time.monotonic() - began:.2f}s")
    return 0


def _resume(args: argparse.Namespace) -> int:
    vm = _backend(args).get(args.vm)
    began = time.monotonic()
    vm.resume()
    print(f"resumed {vm.id} in {time.monotonic() - began:.2f}s")
    return 0


def _export(args: argparse.Namespace) -> int:
    path = _backend(args).get(args.vm).export(args.output)
    print(path)
    return 0


def _import(args: argparse.Namespace) -> int:
    vm = _backend(args).import_(args.archive, name=args.name)
    print(vm.id)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    report = _backend(args).get(args.vm).migrate(args.to)
    if args.json:
        print(json.dumps(_asdict(report), indent=2))
    else:
        print(f"migrated {report.vm} to {report.destination}: total {report.total_ms} ms, "
              f"downtime {report.downtime_ms} ms, RAM sent {report.ram_bytes / 2**20:.1f} MiB, "
              f"disk sent {report.disk_bytes / 2**20:.1f} MiB (wall {report.wall_s:.2f}s)")
    return 0


def _accel(args: argparse.Namespace) -> int:
    accel, reason = _backend(args).accelerator()
    print(f"{accel}: {reason}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    vm = subparsers.add_parser("vm", help="micro-VMs: run, suspend, resume, export, import, migrate")
    sub = vm.add_subparsers(dest="vm_command", metavar="VERB")
    sub.required = True

    run = sub.add_parser("run", help="boot a root filesystem (directory, tarball or ext4 image) and run CMD in it")
    run.add_argument("rootfs")
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.add_argument("--name")
    run.add_argument("--cpus", type=int, default=1)
    run.add_argument("-m", "--memory", type=int, default=256, help="guest RAM in MiB")
    run.add_argument("-e", "--env", action="append", default=[], help="NAME=value")
    run.add_argument("-w", "--workdir", default="/")
    run.add_argument("-u", "--user", default="0:0")
    run.add_argument("--hostname")
    run.add_argument("-v", "--volume", action="append", default=[], help="/host/dir:/guest/dir[:ro]")
    run.add_argument("-p", "--publish", action="append", default=[], help="[ip:]hostport:guestport[/proto]")
    run.add_argument("--network", default="user", choices=("user", "none"))
    run.add_argument("-d", "--detach", action="store_true")
    run.add_argument("-i", "--interactive", action="store_true")
    run.add_argument("-t", "--tty", action="store_true")
    run.add_argument("--rm", action="store_true")
    run.set_defaults(func=_run)

    ls = sub.add_parser("ls", help="list VMs")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_ls)

    logs = sub.add_parser("logs", help="the process's output (or --console: the kernel's)")
    logs.add_argument("vm")
    logs.add_argument("--console", action="store_true")
    logs.set_defaults(func=_logs)

    stop = sub.add_parser("stop", help="SIGTERM the process, SIGKILL the VM after --time seconds")
    stop.add_argument("vm")
    stop.add_argument("-t", "--time", type=float, default=10.0)
    stop.set_defaults(func=_stop)

    rm = sub.add_parser("rm", help="remove VMs")
    rm.add_argument("vms", nargs="+")
    rm.add_argument("-f", "--force", action="store_true")
    rm.set_defaults(func=_rm)

    for name, func, text in (("suspend", _suspend, "save the running VM's RAM to a file and stop QEMU"),
                             ("resume", _resume, "start a suspended VM from its saved RAM")):
        p = sub.add_parser(name, help=text)
        p.add_argument("vm")
        p.set_defaults(func=func)

    export = sub.add_parser("export", help="write a (suspended or stopped) VM as a tar")
    export.add_argument("vm")
    export.add_argument("-o", "--output", required=True)
    export.set_defaults(func=_export)

    imp = sub.add_parser("import", help="make a new VM (fresh id, name, MAC) from an exported tar")
    imp.add_argument("archive")
    imp.add_argument("--name")
    imp.set_defaults(func=_import)

    mig = sub.add_parser("migrate", help="live-migrate a running VM to another vessel root on this machine")
    mig.add_argument("vm")
    mig.add_argument("--to", required=True, help="the destination vessel root")
    mig.add_argument("--json", action="store_true")
    mig.set_defaults(func=_migrate)

    acc = sub.add_parser("accel", help="which accelerator VMs use here, and why")
    acc.set_defaults(func=_accel)
