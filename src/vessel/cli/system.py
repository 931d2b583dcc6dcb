"""`vessel info`, `vessel version`, `vessel system df|prune|reset`."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys


def _engine(args):
    from vessel.engine.engine import Engine

    return Engine(args.root)


def cmd_version(args) -> int:
    from vessel import __version__

    print(f"vessel {__version__} (python {platform.python_version()}, {platform.machine()})")
    return 0


def cmd_info(args) -> int:
    from vessel.runtime import cgroups

    eng = _engine(args)
    recs = eng.list(all_containers=True)
    layout = cgroups.detect()
    info = {
        "Containers": len(recs),
        "ContainersRunning": sum(r.status == "running" for r in recs),
        "ContainersPaused": sum(r.status == "paused" for r in recs),
        "ContainersStopped": sum(r.status in ("exited", "created") for r in recs),
        "Images": len(eng.store.images()),
        "Driver": "overlay",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if layout.mode == "v2" else "1",
        "CgroupLayout": layout.mode,
        "DefaultRuntime": "vessel-runtime",
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "NCPU": os.cpu_count(),
        "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "DockerRootDir": str(eng.root),
        "Isolation": ["container", "vm"],
    }
    try:
        from vessel.vm import VmBackend

        accel, reason = VmBackend(eng.root).accelerator()
        info["VMAccelerator"] = accel
        info["VMAcceleratorReason"] = reason
    except Exception as err:  # noqa: BLE001 - info must print even without QEMU
        info["VMAccelerator"] = f"unavailable ({err})"
    if getattr(args, "format", None) == "json":
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        print(f" {key}: {value}")
    return 0


def _os_name() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def cmd_df(args) -> int:
    eng = _engine(args)
    images = eng.store.images()
    recs = eng.list(all_containers=True)

    from vessel.engine.volumes import dir_size as du
    img_size = sum(eng.store.image_size(i) for i in images)
    ctr_size = sum(du(eng.cdir(r.id) / "upper") for r in recs)
    vols = eng.volumes.db.volumes()
    vol_size = sum(du(eng.volumes.path(v["name"])) for v in vols)
    print(f"{'TYPE':<16}{'TOTAL':<8}{'ACTIVE':<8}SIZE")
    print(f"{'Images':<16}{len(images):<8}{len({r.image_id for r in recs}):<8}{img_size}")
    print(f"{'Containers':<16}{len(recs):<8}{sum(r.is_running() for r in recs):<8}{ctr_size}")
    print(f"{'Local Volumes':<16}{len(vols):<8}{'':<8}{vol_size}")
    return 0


def cmd_reset(args) -> int:
    """Remove every container, volume, network and image of this root, and the root itself."""
    if not args.force:
        print("Error: this removes everything under the root; run again with --force", file=sys.stderr)
        return 125
    eng = _engine(args)
    for rec in eng.db.all():
        try:
            eng.remove(rec.id, force=True, volumes=True)
        except Exception as err:  # noqa: BLE001 - keep going, report each failure
            print(f"warning: removing {rec.short_id}: {err}", file=sys.stderr)
    try:
        eng.net.purge()
    except Exception as err:  # noqa: BLE001
        print(f"warning: network purge: {err}", file=sys.stderr)
    eng.db.close()
    shutil.rmtree(eng.root, ignore_errors=True)
    return 0


def register(sub) -> None:
    p = sub.add_parser("version", help="show the vessel version")
    p.set_defaults(func=cmd_version)
    p = sub.add_parser("info", help="display system-wide information")
    p.add_argument("-f", "--format")
    p.set_defaults(func=cmd_info)
    group = sub.add_parser("system", help="manage vessel")
    ss = group.add_subparsers(dest="system_command", metavar="COMMAND")
    p = ss.add_parser("df", help="show disk usage")
    p.set_defaults(func=cmd_df)
    p = ss.add_parser("info", help="display system-wide information")
    p.add_argument("-f", "--format")
    p.set_defaults(func=cmd_info)
    p = ss.add_parser("reset", help="remove all containers, volumes, networks and images of this root")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(func=cmd_reset)
