"""vessel-runtime: the OCI runtime command line, as runc has it (so conmon and podman can drive it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from vessel.errors import VesselError

DEFAULT_ROOT = "/run/vessel-runtime"


class Logger:
    """Errors and warnings to stderr and, with --log, to a file (text or runc's JSON lines)."""

    def __init__(self, path: str | None, fmt: str) -> None:
        self.path = path
        self.fmt = fmt

    def _write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = (json.dumps({"level": level, "msg": msg, "time": stamp}) if self.fmt == "json"
                else f'time="{stamp}" level={level} msg="{msg}"')
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def warn(self, msg: str) -> None:
        print(f"vessel-runtime: warning: {msg}", file=sys.stderr)
        self._write("warning", msg)

    def error(self, msg: str) -> None:
        print(f"vessel-runtime: error: {msg}", file=sys.stderr)
        self._write("error", msg)


def _create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-b", "--bundle", default=".", help="path to the bundle directory (default: .)")
    p.add_argument("--pid-file", help="write the init's pid to this file")
    p.add_argument("--console-socket", help="unix socket receiving the pty master when process.terminal is set")
    p.add_argument("--preserve-fds", type=int, default=0, help="pass N extra fds (3..3+N-1) to the process")
    p.add_argument("--no-pivot", action="store_true", help="accepted for compatibility")
    p.add_argument("--no-new-keyring", action="store_true", help="accepted for compatibility")
    p.add_argument("id")


COMMANDS = ("create", "run", "start", "state", "pause", "resume", "kill", "delete", "exec", "update", "ps",
            "list", "ls", "features", "spec")


def _wanted(argv: list[str] | None) -> str | None:
    """The subcommand named in argv, so only its parser is built (argparse set-up costs ~15 ms)."""
    for arg in argv if argv is not None else sys.argv[1:]:
        if arg in COMMANDS:
            return arg
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vessel-runtime", description="An OCI runtime written in Python.")
    p.add_argument("--root", default=DEFAULT_ROOT, help=f"state directory (default {DEFAULT_ROOT})")
    p.add_argument("--log", help="log file for errors and warnings")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("--systemd-cgroup", action="store_true", help="slice:prefix:name cgroup paths (on cgroupfs)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--rootless", default=None, help="accepted for compatibility")
    p.add_argument("--criu", default=None, help="accepted for compatibility")
    p.add_argument("-v", "--version", action="store_true")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    _add_commands(sub, only)
    return p


def _add_commands(sub, only: str | None) -> None:
    def want(*names: str) -> bool:
        return only is None or only in names

    if want("create"):
        _create_flags(sub.add_parser("create", help="create a container"))
    if want("run"):
        r = sub.add_parser("run", help="create and start a container, wait for it, delete it")
        _create_flags(r)
        r.add_argument("-d", "--detach", action="store_true")
    for name in ("start", "state", "pause", "resume"):
        if want(name):
            sub.add_parser(name).add_argument("id")
    if want("kill"):
        k = sub.add_parser("kill", help="send a signal to the init (or --all processes)")
        k.add_argument("-a", "--all", action="store_true")
        k.add_argument("id")
        k.add_argument("signal", nargs="?", default="TERM")
    if want("delete"):
        d = sub.add_parser("delete", help="delete a stopped container (--force: any)")
        d.add_argument("-f", "--force", action="store_true")
        d.add_argument("id")
    if want("exec"):
        _exec_flags(sub.add_parser("exec", help="run a process in a running container"))
    if want("update"):
        u = sub.add_parser("update", help="change the resource limits of a running container")
        u.add_argument("-r", "--resources", help="linux.resources JSON file (- for stdin)")
        for flag in ("blkio-weight", "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime", "cpu-share",
                     "cpuset-cpus", "cpuset-mems", "memory", "memory-reservation", "memory-swap", "pids-limit",
                     "kernel-memory", "kernel-memory-tcp", "l3-cache-schema", "mem-bw-schema"):
            u.add_argument(f"--{flag}")
        u.add_argument("id")
    if want("ps"):
        ps = sub.add_parser("ps", help="processes of a container")
        ps.add_argument("-f", "--format", choices=("table", "json"), default="table")
        ps.add_argument("id")
        ps.add_argument("ps_args", nargs=argparse.REMAINDER)
    if want("list", "ls"):
        ls = sub.add_parser("list", aliases=["ls"], help="list containers")
        ls.add_argument("-f", "--format", choices=("table", "json"), default="table")
        ls.add_argument("-q", "--quiet", action="store_true")
    if want("features"):
        sub.add_parser("features", help="what this runtime implements (JSON)")
    if want("spec"):
        s = sub.add_parser("spec", help="write a starter config.json")
        s.add_argument("-b", "--bundle", default=".")
        s.add_argument("--rootless", action="store_true")


def _exec_flags(e: argparse.ArgumentParser) -> None:
    e.add_argument("-p", "--process")
    e.add_argument("-t", "--tty", action="store_true")
    e.add_argument("-d", "--detach", action="store_true")
    e.add_argument("--pid-file")
    e.add_argument("--console-socket")
    e.add_argument("--cwd")
    e.add_argument("-e", "--env", action="append", default=[])
    e.add_argument("-u", "--user")
    e.add_argument("-c", "--cap", action="append", default=[])
    e.add_argument("--no-new-privs", action="store_true")
    e.add_argument("--preserve-fds", type=int, default=0)
    e.add_argument("--process-label")
    e.add_argument("--apparmor")
    e.add_argument("id")
    e.add_argument("args", nargs=argparse.REMAINDER)


def main(argv: list[str] | None = None) -> int:
    args = build_parser(_wanted(argv)).parse_args(argv)
    log = Logger(args.log, args.log_format)
    if args.version:
        from vessel import __version__
        from vessel.runtime.state import OCI_VERSION

        print(f"vessel-runtime version {__version__}\nspec: {OCI_VERSION}")
        return 0
    if not args.cmd:
        build_parser().print_help()
        return 0
    try:
        return _dispatch(args, log)
    except VesselError as err:
        if args.debug:
            raise
        log.error(str(err).replace("\n", " "))
        return err.exit_code if err.exit_code in (126, 127) else 1
    except OSError as err:
        if args.debug:
            raise
        log.error(f"{err.strerror or err}{': ' + str(err.filename) if err.filename else ''}")
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args, log: Logger) -> int:
    root = Path(args.root)
    cmd = args.cmd
    if cmd in ("create", "run"):
        from vessel.runtime.create import CreateOptions

        opts = CreateOptions(root=root, container_id=args.id, bundle=Path(args.bundle), pid_file=args.pid_file,
                             console_socket=args.console_socket, systemd_cgroup=args.systemd_cgroup,
                             preserve_fds=args.preserve_fds)
        if cmd == "create":
            from vessel.runtime.create import create

            create(opts, log.warn)
            return 0
        from vessel.runtime.run import run

        return run(opts, args.detach, log.warn)
    from vessel.runtime import ops

    if cmd == "start":
        ops.start(root, args.id, log.warn)
    elif cmd == "state":
        print(json.dumps(ops.state_json(root, args.id), indent=2))
    elif cmd == "kill":
        ops.kill(root, args.id, ops.parse_signal(args.signal), args.all)
    elif cmd == "delete":
        ops.delete(root, args.id, args.force, log.warn)
    elif cmd == "pause":
        ops.pause(root, args.id)
    elif cmd == "resume":
        ops.resume(root, args.id)
    elif cmd == "exec":
        return _exec(root, args, log)
    elif cmd == "update":
        for w in ops.update(root, args.id, _update_resources(args)):
            log.warn(w)
    elif cmd == "ps":
        return _ps(root, args)
    elif cmd in ("list", "ls"):
        _list(root, args)
    elif cmd == "features":
        from vessel.runtime.features import features

        print(json.dumps(features(), indent=2))
    elif cmd == "spec":
        from vessel.oci.defaults import example_spec

        path = Path(args.bundle) / "config.json"
        if path.exists():
            log.error(f"{path} already exists")
            return 1
        path.write_text(json.dumps(example_spec(rootless=args.rootless).to_json(), indent=2) + "\n")
    return 0


def _exec(root: Path, args, log: Logger) -> int:
    from vessel.runtime.exec import ExecOptions, exec_process

    cmd = list(args.args)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    opts = ExecOptions(process_file=args.process, args=tuple(cmd), tty=args.tty, detach=args.detach,
                       pid_file=args.pid_file, console_socket=args.console_socket, cwd=args.cwd,
                       env=tuple(args.env), user=args.user, cap_add=tuple(args.cap), no_new_privs=args.no_new_privs)
    return exec_process(root, args.id, opts, log.warn)


def _update_resources(args):
    from vessel.runtime import cgroups

    if args.resources:
        from vessel.oci._codec import decode
        from vessel.oci.resources import Resources

        raw = sys.stdin.read() if args.resources == "-" else Path(args.resources).read_text()
        return decode(Resources, json.loads(raw), "resources")
    flags = {k: getattr(args, k) for k in ("blkio_weight", "cpu_period", "cpu_quota", "cpu_rt_period",
                                           "cpu_rt_runtime", "cpu_share", "cpuset_cpus", "cpuset_mems", "memory",
                                           "memory_reservation", "memory_swap", "pids_limit")
             if getattr(args, k) is not None}
    return cgroups.resources_from_update_flags(**flags)


def _ps(root: Path, args) -> int:
    from vessel.runtime import ops

    pids = ops.pids(root, args.id)
    if args.format == "json":
        print(json.dumps(pids))
        return 0
    import subprocess

    ps_args = [a for a in args.ps_args if a != "--"] or ["-ef"]
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False).stdout.splitlines()
    if not out:
        return 1
    header = out[0].split()
    col = header.index("PID") if "PID" in header else 1
    print(out[0])
    wanted = {str(p) for p in pids}
    for line in out[1:]:
        fields = line.split()
        if len(fields) > col and fields[col] in wanted:
            print(line)
    return 0


def _list(root: Path, args) -> None:
    from vessel.runtime import ops

    rows = ops.list_containers(root)
    if args.quiet:
        for r in rows:
            print(r["id"])
    elif args.format == "json":
        print(json.dumps(rows))
    else:
        print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} {'CREATED':<32} OWNER")
        for r in rows:
            print(f"{r['id']:<20} {r['pid']:<8} {r['status']:<10} {r['bundle']:<40} {r['created']:<32} {r['owner']}")


if __name__ == "__main__":
    sys.exit(main())
