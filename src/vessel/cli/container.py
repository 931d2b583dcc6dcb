"""Container commands, docker's names and flags: run, create, start, stop, ps, logs, exec, rm, ..."""

from __future__ import annotations

import argparse
import json
import sys
import time

from vessel.errors import VesselError


def engine(args):
    from vessel.engine.engine import Engine

    return Engine(args.root)


# ---------------------------------------------------------------- run / create / start
def cmd_run(args) -> int:
    from vessel.engine import attach, monitor
    from vessel.engine.flags import options_from_args

    opts = options_from_args(args)
    keys = _detach_keys(args)
    eng = engine(args)
    rec = eng.create(opts)
    if rec.isolation == "vm" and not opts.detach:
        return _run_vm_attached(eng, rec, opts)
    if opts.detach:
        eng.start(rec.id)
        print(rec.id)
        return 0
    with eng.attach_lock(rec.id, exclusive=False):
        try:
            rec = eng.start_monitor(rec)
            sock = monitor.attach_socket(eng.socket_dir, rec.id)
            eng.finish_start(rec)
        except VesselError:
            if opts.remove:
                eng.remove(rec.id, force=True, volumes=True)
            raise
        resize = (lambda: _resize(eng, rec.id)) if opts.tty else None
        if attach.pump_attach(sock, stdin=opts.interactive, tty=opts.tty, on_resize=resize, detach_keys=keys):
            return 0    # detached: the container runs on (with --rm, its exit command removes it later)
        code = eng.wait_exit(rec.id, None)
        if opts.remove:
            eng.remove(rec.id, force=True, volumes=True)
    return code if code is not None else 0


def _run_vm_attached(eng, rec, opts) -> int:
    """A VM in the foreground: boot, stream the guest process's output, wait, exit with its code."""
    from vessel.engine import vmbackend

    try:
        eng.start(rec.id)
        path = vmbackend.logs_path(eng, rec)
        offset = 0
        while True:
            running = eng.refresh(eng.db.get_by_id(rec.id)).is_running()
            offset = _copy_new(path, offset)
            if not running:
                break
            time.sleep(0.05)
        code = eng.db.get_by_id(rec.id).exit_code
    finally:
        if opts.remove:
            eng.remove(rec.id, force=True, volumes=True)
    return code if code is not None else 0


def _copy_new(path, offset: int) -> int:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return offset
    if data:
        sys.stdout.buffer.write(data.replace(b"\r\n", b"\n"))
        sys.stdout.buffer.flush()
    return offset + len(data)


def _resize(eng, cid: str) -> None:
    from vessel.engine import attach, monitor

    size = attach.terminal_size()
    if size:
        monitor.resize(eng.socket_dir, cid, *size)


def cmd_create(args) -> int:
    from vessel.engine.flags import options_from_args

    rec = engine(args).create(options_from_args(args))
    print(rec.id)
    return 0


def cmd_start(args) -> int:
    eng = engine(args)
    failed = 0
    for ref in args.containers:
        try:
            rec = eng.get(ref)
            if args.attach:
                from vessel.engine import attach, monitor

                rec = eng.start_monitor(rec)
                sock = monitor.attach_socket(eng.socket_dir, rec.id)
                eng.finish_start(rec)
                if attach.pump_attach(sock, stdin=args.interactive, tty=rec.options.get("tty", False),
                                      detach_keys=_detach_keys(args)):
                    return 0
                return eng.wait_exit(rec.id, None) or 0
            eng.start(rec.id)
            print(ref)
        except VesselError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            failed = 1
    return failed


def _each(args, action) -> int:
    eng = engine(args)
    failed = 0
    for ref in args.containers:
        try:
            action(eng, ref)
            print(ref)
        except VesselError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            failed = 1
    return failed


def cmd_stop(args) -> int:
    return _each(args, lambda e, r: e.stop(r, args.time))


def cmd_restart(args) -> int:
    def restart(e, r):
        e.stop(r, args.time)
        e.start(r)
    return _each(args, restart)


def cmd_kill(args) -> int:
    return _each(args, lambda e, r: e.kill(r, args.signal))


def cmd_rm(args) -> int:
    return _each(args, lambda e, r: e.remove(r, force=args.force, volumes=args.volumes))


def cmd_pause(args) -> int:
    return _each(args, lambda e, r: e.pause(r))


def cmd_unpause(args) -> int:
    return _each(args, lambda e, r: e.unpause(r))


def cmd_wait(args) -> int:
    eng = engine(args)
    for ref in args.containers:
        rec = eng.get(ref)
        print(eng.wait_exit(rec.id, None))
    return 0


# ---------------------------------------------------------------- ps / inspect / logs
def _ago(ts: float | None) -> str:
    from vessel.humanize import human_duration

    return human_duration(max(0.0, time.time() - ts)) if ts else ""


def status_text(rec) -> str:
    from vessel.humanize import status_text as docker_status

    from vessel.engine.health import suffix

    text = docker_status(rec.status, rec.exit_code, rec.started_at, rec.finished_at, time.time())
    if rec.status == "running":
        text += suffix(rec.extra.get("health"))
    return f"{text} (vm)" if rec.isolation == "vm" else text


def _filter(rec, filters: list[str]) -> bool:
    for f in filters:
        key, _, value = f.partition("=")
        if key == "name" and value not in rec.name:
            return False
        if key == "id" and not rec.id.startswith(value):
            return False
        if key == "status" and rec.status != value:
            return False
        if key == "ancestor" and value not in (rec.image, rec.image_id, rec.image_id[7:19]):
            return False
        if key == "label":
            k, _, v = value.partition("=")
            labels = rec.options.get("labels", {})
            if k not in labels or (v and labels[k] != v):
                return False
        if key == "exited" and (rec.status != "exited" or str(rec.exit_code) != value):
            return False
    return True


def cmd_ps(args) -> int:
    eng = engine(args)
    recs = [r for r in eng.list(all_containers=args.all or bool(args.filter)) if _filter(r, args.filter)]
    if args.last is not None:
        recs = recs[:args.last]
    if args.quiet:
        for r in recs:
            print(r.id if args.no_trunc else r.short_id)
        return 0
    if args.format == "json":
        for r in recs:
            print(json.dumps({"ID": r.short_id, "Image": r.image, "Command": _command(eng, r), "Names": r.name,
                              "Status": status_text(r), "State": r.status, "CreatedAt": r.created,
                              "Isolation": r.isolation}))
        return 0
    rows = [[r.id if args.no_trunc else r.short_id, r.image, _command(eng, r, trunc=not args.no_trunc),
             _ago(r.created) + " ago", status_text(r), _ports(eng, r), r.name] for r in recs]
    _table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], rows)
    return 0


def _command(eng, rec, trunc: bool = True) -> str:
    try:
        if rec.isolation == "vm":
            from vessel.engine import vmbackend

            cmd = " ".join(vmbackend.handle(eng, rec).config.process.args)
        else:
            spec = json.loads((eng.cdir(rec.id) / "bundle" / "config.json").read_text())
            cmd = " ".join(spec["process"]["args"])
    except (OSError, ValueError, KeyError, VesselError):
        cmd = ""
    text = f'"{cmd}"'
    return text if not trunc or len(text) <= 22 else text[:19] + '…"'


def _ports(eng, rec) -> str:
    if rec.status not in ("running", "paused") or rec.options.get("network") in ("none", "host"):
        return ""
    try:
        from vessel.engine.ops import port_lines

        return ", ".join(f"{l.split(' -> ')[1]}->{l.split(' -> ')[0]}" for l in port_lines(eng, rec))
    except VesselError:
        return ""


def _table(headers, rows) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    for row in [headers, *rows]:
        print("   ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def cmd_inspect(args) -> int:
    eng = engine(args)
    out = []
    failed = 0
    for ref in args.objects:
        try:
            if args.type in (None, "container"):
                try:
                    from vessel.engine.ops import inspect

                    out.append(inspect(eng, eng.get(ref)))
                    continue
                except VesselError:
                    if args.type == "container":
                        raise
            out.append(eng.store.inspect(ref))
        except VesselError:
            print(f"Error: No such object: {ref}", file=sys.stderr)
            failed = 1
    if args.format and args.format != "json":
        for obj in out:
            print(_go_template(args.format, obj))
    else:
        print(json.dumps(out, indent=4))
    return failed


def _go_template(fmt: str, obj: dict) -> str:
    """The common `{{.State.Status}}` / `{{json .Config}}` forms of docker's --format (dotted lookups only)."""
    import re

    def lookup(m):
        value = obj
        for part in m.group(2).strip().lstrip(".").split("."):
            if part:
                value = value.get(part) if isinstance(value, dict) else None
        if m.group(1) or isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))     # Go's json: compact
        if isinstance(value, bool):
            return "true" if value else "false"      # Go prints booleans in lower case
        return "<no value>" if value is None else str(value)
    return re.sub(r"\{\{\s*(json\s+)?([.\w]+)\s*\}\}", lookup, fmt)


def cmd_logs(args) -> int:
    from vessel.engine import logs

    eng = engine(args)
    rec = eng.get(args.container)
    if rec.isolation == "vm":
        from vessel.engine import vmbackend

        _copy_new(vmbackend.logs_path(eng, rec), 0)  # the guest console: no per-line timestamps
        return 0
    now = time.time()
    path = eng.cdir(rec.id) / "ctr.log"
    tail = None if args.tail in (None, "all") else int(args.tail)

    def running() -> bool:
        return eng.refresh(eng.db.get_by_id(rec.id)).is_running()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    try:
        for e in logs.read(path, since=logs.parse_since(args.since, now), until=logs.parse_since(args.until, now),
                           tail=tail, follow=args.follow, running=running):
            target = err if e.stream == "stderr" else out
            target.write(logs.format_entry(e, args.timestamps))
            target.flush()
    except BrokenPipeError:
        pass
    return 0


# ---------------------------------------------------------------- exec / top / stats / misc
def cmd_exec(args) -> int:
    from vessel.engine.execute import exec_in

    return exec_in(engine(args), args)


def cmd_top(args) -> int:
    from vessel.engine.ops import top

    eng = engine(args)
    titles, rows = top(eng, eng.get(args.container), args.ps_args)
    _table(titles, rows)
    return 0


def cmd_stats(args) -> int:
    from vessel.engine.ops import stats

    eng = engine(args)
    recs = [eng.get(r) for r in args.containers] if args.containers else eng.list(all_containers=args.all)
    rows, data = [], []
    for rec in recs:
        s = stats(eng, rec)
        data.append(s)
        mem = s.get("memory", {}) if s.get("running") else {}
        usage, limit = mem.get("usage", 0), mem.get("limit") or 0
        rows.append([rec.short_id, rec.name, f"{s.get('cpu', {}).get('usage_ns', 0) / 1e9:.2f}s",
                     f"{_human(usage)} / {_human(limit) if limit and limit < 1 << 60 else 'unlimited'}",
                     f"{100 * usage / limit:.2f}%" if limit and limit < 1 << 60 else "--",
                     str(s.get("pids", {}).get("current", 0))])
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        _table(["CONTAINER ID", "NAME", "CPU TIME", "MEM USAGE / LIMIT", "MEM %", "PIDS"], rows)
    return 0


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n:.1f}TiB"


def cmd_port(args) -> int:
    from vessel.engine.ops import port_lines

    eng = engine(args)
    for line in port_lines(eng, eng.get(args.container)):
        print(line)
    return 0


def cmd_rename(args) -> int:
    from vessel.engine.ops import rename

    eng = engine(args)
    rename(eng, eng.get(args.container), args.new_name)
    return 0


def cmd_update(args) -> int:
    from vessel.engine.ops import update

    eng = engine(args)
    for ref in args.containers:
        rec = eng.get(ref)
        cpus = args.cpus
        quota = args.cpu_quota
        if cpus is not None:
            quota = str(int(float(cpus) * int(args.cpu_period or 100000)))
        for w in update(eng, rec, memory=args.memory, memory_swap=args.memory_swap,
                        memory_reservation=args.memory_reservation, pids_limit=args.pids_limit,
                        cpu_share=args.cpu_shares, cpu_quota=quota, cpu_period=args.cpu_period,
                        cpuset_cpus=args.cpuset_cpus, cpuset_mems=args.cpuset_mems):
            print(f"WARNING: {w}", file=sys.stderr)
        print(ref)
    return 0


def cmd_export(args) -> int:
    from vessel.engine.ops import export

    eng = engine(args)
    rec = eng.get(args.container)
    if args.output:
        with open(args.output, "wb") as f:
            export(eng, rec, f)
    else:
        export(eng, rec, sys.stdout.buffer)
    return 0


def cmd_cp(args) -> int:
    from vessel.engine.cp import copy

    return copy(engine(args), args.src, args.dest)


def cmd_commit(args) -> int:
    from vessel.engine.ops import commit

    eng = engine(args)
    image = commit(eng, eng.get(args.container), args.repository, args.change, args.message, args.author,
                   pause=not args.no_pause)
    print(image.id)
    return 0


def cmd_prune(args) -> int:
    eng = engine(args)
    removed = []
    for rec in eng.list(all_containers=True):
        if rec.status in ("exited", "created", "dead"):
            eng.remove(rec.id)
            removed.append(rec.id)
    print("Deleted Containers:")
    for cid in removed:
        print(cid)
    return 0


def cmd_attach(args) -> int:
    """Attach our terminal to a running container's stdio (conmon's attach socket)."""
    from vessel.engine import attach, monitor
    from vessel.errors import Conflict

    keys = _detach_keys(args)
    eng = engine(args)
    rec = eng.get(args.container)
    if rec.status != "running":
        raise Conflict(f"You cannot attach to a stopped container, start it first ({rec.name} is {rec.status})")
    tty = rec.options.get("tty", False)
    sock = monitor.attach_socket(eng.socket_dir, rec.id)
    stdin = not args.no_stdin and rec.options.get("interactive", False)
    if attach.pump_attach(sock, stdin=stdin, tty=tty, on_resize=(lambda: _resize(eng, rec.id)) if tty else None,
                          detach_keys=keys):
        return 0
    code = eng.wait_exit(rec.id, 2)
    return code if code is not None else 0


def _detach_keys(args) -> bytes:
    from vessel.engine.detachkeys import parse

    return parse(getattr(args, "detach_keys", None))


def cmd_cleanup(args) -> int:
    engine(args).cleanup(args.container)
    return 0


# ---------------------------------------------------------------- registration
def _multi(sub, name, func, help_text, **extra):
    p = sub.add_parser(name, help=help_text)
    for flag, kw in extra.items():
        p.add_argument(*flag.split("|"), **kw)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(func=func)
    return p


def _add_ps(sub, name: str) -> None:
    p = sub.add_parser(name, help="list containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("-n", "--last", type=int)
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format")
    p.set_defaults(func=cmd_ps)


def _add_container_commands(sub, only: str | None = None) -> None:
    for name, func, text in (("run", cmd_run, "create and start a container"), ("create", cmd_create, "create a container")):
        p = sub.add_parser(name, help=text)
        if only in (None, name):  # docker's ~60 run flags: built only when they will be parsed
            from vessel.engine.flags import add_run_flags

            add_run_flags(p)
        p.set_defaults(func=func)
    p = _multi(sub, "start", cmd_start, "start stopped containers", **{"-a|--attach": {"action": "store_true"},
                                                                       "-i|--interactive": {"action": "store_true"},
                                                                       "--detach-keys": {}})
    _multi(sub, "stop", cmd_stop, "stop running containers", **{"-t|--time|--timeout": {"type": int, "default": None}})
    _multi(sub, "restart", cmd_restart, "restart containers", **{"-t|--time|--timeout": {"type": int, "default": None}})
    _multi(sub, "kill", cmd_kill, "kill running containers", **{"-s|--signal": {"default": "KILL"}})
    _multi(sub, "rm", cmd_rm, "remove containers", **{"-f|--force": {"action": "store_true"},
                                                        "-v|--volumes": {"action": "store_true"}})
    _multi(sub, "pause", cmd_pause, "pause all processes within containers")
    _multi(sub, "unpause", cmd_unpause, "unpause containers")
    _multi(sub, "wait", cmd_wait, "block until containers stop, then print their exit codes")
    _add_ps(sub, "ps")
    p = sub.add_parser("inspect", help="low-level information on containers and images")
    p.add_argument("-f", "--format")
    p.add_argument("--type", choices=("container", "image"))
    p.add_argument("objects", nargs="+", metavar="NAME|ID")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("logs", help="fetch the logs of a container")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("-n", "--tail")
    p.add_argument("container")
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("exec", help="run a command in a running container")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-u", "--user")
    p.add_argument("-w", "--workdir")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_exec)
    p = sub.add_parser("attach", help="attach local standard input, output and error to a running container")
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("--sig-proxy", default="true")
    p.add_argument("--detach-keys", help="key sequence that detaches (default ctrl-p,ctrl-q)")
    p.add_argument("container")
    p.set_defaults(func=cmd_attach)
    p = sub.add_parser("top", help="display the running processes of a container")
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_top)
    p = sub.add_parser("stats", help="resource usage statistics of containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--format")
    p.add_argument("containers", nargs="*")
    p.set_defaults(func=cmd_stats)
    p = sub.add_parser("port", help="list port mappings of a container")
    p.add_argument("container")
    p.set_defaults(func=cmd_port)
    p = sub.add_parser("rename", help="rename a container")
    p.add_argument("container")
    p.add_argument("new_name")
    p.set_defaults(func=cmd_rename)
    p = sub.add_parser("update", help="update the resource limits of containers")
    for flag in ("--memory|-m", "--memory-swap", "--memory-reservation", "--pids-limit", "--cpu-shares|-c", "--cpus",
                 "--cpu-quota", "--cpu-period", "--cpuset-cpus", "--cpuset-mems", "--restart", "--blkio-weight"):
        p.add_argument(*flag.split("|"))
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=cmd_update)
    p = sub.add_parser("export", help="export a container's filesystem as a tar archive")
    p.add_argument("-o", "--output")
    p.add_argument("container")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("cp", help="copy files between a container and the host (CONTAINER:PATH)")
    p.add_argument("-a", "--archive", action="store_true")
    p.add_argument("-L", "--follow-link", action="store_true")
    p.add_argument("src")
    p.add_argument("dest")
    p.set_defaults(func=cmd_cp)
    p = sub.add_parser("commit", help="create a new image from a container's changes")
    p.add_argument("-a", "--author")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-m", "--message")
    p.add_argument("-p", "--pause", action="store_true", default=True)
    p.add_argument("--no-pause", action="store_true")
    p.add_argument("container")
    p.add_argument("repository", nargs="?")
    p.set_defaults(func=cmd_commit)


def _add_healthcheck(sub) -> None:
    group = sub.add_parser("healthcheck", help="run a container's health check now (podman's command)")
    gsub = group.add_subparsers(dest="healthcheck_command", metavar="COMMAND")
    p = gsub.add_parser("run", help="run the check once, record it; exit 0 healthy, 1 unhealthy")
    p.add_argument("--token", help=argparse.SUPPRESS)      # the per-start loop's: ends a previous start's loop
    p.add_argument("container")
    p.set_defaults(func=cmd_healthcheck_run)


def cmd_healthcheck_run(args) -> int:
    code = engine(args).healthcheck(args.container, token=args.token)
    if args.token is None:
        print({0: "healthy", 1: "unhealthy"}.get(code, "not running"))
    return code


def register(sub) -> None:
    command = getattr(sub, "vessel_command", None)
    _add_container_commands(sub, command)
    if command in (None, "healthcheck"):
        _add_healthcheck(sub)
    if command not in (None, "container"):
        sub.add_parser("container", help="manage containers")
        return
    group = sub.add_parser("container", help="manage containers")
    gsub = group.add_subparsers(dest="container_command", metavar="COMMAND")
    _add_container_commands(gsub)
    _add_ps(gsub, "ls")
    p = gsub.add_parser("prune", help="remove all stopped containers")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(func=cmd_prune)
    p = gsub.add_parser("cleanup", help=argparse.SUPPRESS)
    p.add_argument("container")
    p.set_defaults(func=cmd_cleanup)
