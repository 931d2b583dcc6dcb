"""The engine: containers from images on one machine, without a daemon (podman's model).

  RunOptions + image ──specgen (pure)──▶ OCI bundle ──conmon──▶ vessel-runtime create/start
  state: SQLite rows (db.py); live facts from conmon's exit files, reconciled on every read.

Layout under the root (default /var/lib/vessel):
  engine.db, image/ (the store), volumes/<name>/_data, exits/<id>, run/ (runtime state), s/ (attach sockets),
  containers/<id>/{bundle/config.json, upper, work, merged, ctr.log, hosts, hostname, resolv.conf}
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from vessel.engine import monitor
from vessel.engine.db import ContainerRecord, Database
from vessel.engine.options import RunOptions
from vessel.engine.volumes import Volumes
from vessel.errors import Conflict, InvalidArgument, NotFound, SystemFailure, VesselError
from vessel.runtime.linux import libc as L

STOP_TIMEOUT = 10


def options_to_json(opts: RunOptions) -> dict:
    return dataclasses.asdict(opts)


def options_from_json(data: dict) -> RunOptions:
    from vessel.engine.options import PortSpec, RestartPolicy, Ulimit, VolumeMount

    d = dict(data)
    d["volumes"] = tuple(VolumeMount(**{**v, "options": tuple(v.get("options", ()))}) for v in d.get("volumes", ()))
    d["ulimits"] = tuple(Ulimit(**u) for u in d.get("ulimits", ()))
    d["publish"] = tuple(PortSpec(**p) for p in d.get("publish", ()))
    d["restart"] = RestartPolicy(**d.get("restart", {}))
    for key in ("command", "entrypoint"):
        if d.get(key) is not None:
            d[key] = tuple(d[key])
    for key, value in list(d.items()):
        if isinstance(value, list):
            d[key] = tuple(value)
    known = {f.name for f in dataclasses.fields(RunOptions)}
    return RunOptions(**{k: v for k, v in d.items() if k in known})


DEFAULT_ROOT = Path("/var/lib/vessel")


def network_config(root: Path):
    """The default root owns vessel0 and the `inet vessel` table; any other root (tests, a second
    "host") gets its own bridge and table, named after a hash of its path, so roots never collide."""
    import hashlib

    from vessel.network.manager import Config

    if Path(root).resolve() == DEFAULT_ROOT:
        return Config()
    tag = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:6]
    return Config(table=f"vessel_{tag}", default_bridge=f"vs{tag}", bridge_prefix=f"v{tag[:4]}-")


class Engine:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.root / "engine.db")
        self.volumes = Volumes(self.root, self.db)
        self.exit_dir = self.root / "exits"
        self.runtime_root = self.root / "run"
        self.socket_dir = self.root / "s"
        for d in (self.exit_dir, self.runtime_root, self.socket_dir, self.root / "containers"):
            d.mkdir(parents=True, exist_ok=True)
        self._store = None
        self._net = None

    # collaborators, made on first use (start-up cost stays off commands that do not need them)
    @property
    def store(self):
        if self._store is None:
            from vessel.image.store import Store

            self._store = Store(self.root, in_use=self.image_users)
        return self._store

    @property
    def net(self):
        if self._net is None:
            from vessel.network.manager import NetworkManager

            self._net = NetworkManager(self.root, config=network_config(self.root))
        return self._net

    def image_users(self, image_id: str) -> list[str]:
        return [r.name for r in self.db.all() if r.image_id == image_id]

    def cdir(self, cid: str) -> Path:
        return self.root / "containers" / cid

    def paths(self, cid: str) -> monitor.MonitorPaths:
        c = self.cdir(cid)
        return monitor.MonitorPaths(bundle=c / "bundle", log=c / "ctr.log", exit_dir=self.exit_dir,
                                    socket_dir=self.socket_dir, runtime_root=self.runtime_root,
                                    conmon_pid=c / "conmon.pid", pid_file=c / "bundle" / "pidfile")

    # ------------------------------------------------------------------ lookup and reconcile
    def get(self, ref: str) -> ContainerRecord:
        return self.refresh(self.db.lookup(ref))

    def list(self, all_containers: bool = False) -> list[ContainerRecord]:
        recs = [self.refresh(r) for r in self.db.all()]
        return recs if all_containers else [r for r in recs if r.is_running()]

    def refresh(self, rec: ContainerRecord) -> ContainerRecord:
        """Bring a running row up to date with reality (exit file, dead monitor)."""
        if rec.status not in ("running", "paused"):
            return rec  # "restarting": the cleanup process owns the row until it has started it again
        if rec.isolation == "vm":
            from vessel.engine import vmbackend

            code = vmbackend.exit_code(self, rec)
            if code is None:
                return rec
            rec = self.db.update(rec.id, status="exited", exit_code=code, finished_at=time.time(), pid=0)
            self.unmount_rootfs(rec.id)
            return rec
        code = monitor.read_exit(self.exit_dir, rec.id)
        if code is None:
            # conmon writes the exit file after the container's init is gone: ask whether conmon lives
            if self._conmon_alive(rec.id):
                return rec
            code = monitor.read_exit(self.exit_dir, rec.id)
            if code is None:
                code = 255  # died without a word from its monitor (killed host, SIGKILLed conmon...)
        # several readers (CLI commands, daemon threads, conmon's exit command) may get here at once:
        # one of them records the exit and releases the runtime, the others see it done
        with self.container_lock(rec.id):
            try:
                current = self.db.get_by_id(rec.id)
            except NotFound:
                return rec
            if current.status not in ("running", "paused") or current.started_at != rec.started_at:
                return current     # recorded meanwhile, or a newer start of the container took over
            return self._mark_exited(current, code)

    @contextlib.contextmanager
    def container_lock(self, cid: str):
        """Serialises state changes of one container across processes and threads (flock).

        Not re-entrant: code holding it must not call `refresh`, `start` or another locker.
        """
        try:
            fd = os.open(self.cdir(cid) / "state.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:   # removed: nothing left to serialise
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _conmon_alive(self, cid: str) -> bool:
        try:
            pid = int((self.cdir(cid) / "conmon.pid").read_text().strip() or 0)
        except (OSError, ValueError):
            return False
        return monitor.process_alive(pid)

    def _mark_exited(self, rec: ContainerRecord, code: int) -> ContainerRecord:
        if rec.extra.get("health_loop"):
            from vessel.engine import health

            health.stop_loop(rec.extra["health_loop"], rec.id)
        finished = self._exit_time(rec.id)
        rec = self.db.update(rec.id, status="exited", exit_code=code, finished_at=finished, pid=0)
        self._release_runtime(rec)
        return rec

    def _exit_time(self, cid: str) -> float:
        try:
            return (self.exit_dir / cid).stat().st_mtime
        except OSError:
            return time.time()

    def _release_runtime(self, rec: ContainerRecord) -> None:
        """What a stopped container no longer needs: runtime state, network, its mounted rootfs."""
        self._runtime(rec, "delete", "--force", rec.id, check=False)
        try:
            self.unmount_rootfs(rec.id)
        except SystemFailure:
            pass  # busy (a cp or export in flight): the next rm or start deals with it
        if rec.options.get("network") not in ("none", "host") and not str(rec.options.get("network", "")).startswith("container:"):
            try:
                self.net.release_all(rec.id)
            except VesselError:
                pass

    def _runtime(self, rec: ContainerRecord, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """One verb of the container's OCI runtime (start, kill, pause, resume, delete...).

        Our own runtime is called in-process (same code, same state directory: saves an
        interpreter start per verb); any other runtime (runc, crun...) as a subprocess.
        `create` is never called here: conmon runs it.
        """
        cmd = [monitor.runtime_path(rec.options.get("runtime")), "--root", str(self.runtime_root), *args]
        if rec.options.get("runtime") in (None, "", "vessel", "vessel-runtime"):
            res = _runtime_in_process(cmd)
        else:
            res = subprocess.run(cmd, capture_output=True, text=True)
        if check and res.returncode != 0:
            raise SystemFailure(f"{Path(cmd[0]).name} {args[0]} {rec.short_id}: {res.stderr.strip() or res.returncode}")
        return res

    # ------------------------------------------------------------------ create
    def create(self, opts: RunOptions) -> ContainerRecord:
        if opts.isolation not in ("container", "vm", "default", ""):
            raise InvalidArgument(f"unknown isolation {opts.isolation!r}", hint="use container or vm")
        image = self.store.get(opts.image, bootstrap=True)
        cid = os.urandom(32).hex()   # secrets.token_hex(32) without importing hashlib
        isolation = "vm" if opts.isolation == "vm" else "container"
        from vessel.engine import names

        name = opts.name or names.generate(self.db.names())
        if opts.name is not None:
            _check_name(opts.name)
        rec = ContainerRecord(id=cid, name=name, image=opts.image, image_id=image.id, created=time.time(),
                              options=options_to_json(opts), isolation=isolation)
        self.db.insert(rec)  # recorded first: an rmi in between now sees the image in use
        try:
            self._prepare(rec, opts, image)
        except BaseException:
            self._teardown_files(rec)
            self.db.delete(cid)
            raise
        return self.db.get_by_id(cid)

    def _prepare(self, rec: ContainerRecord, opts: RunOptions, image) -> None:
        from vessel.engine import bundle

        c = self.cdir(rec.id)
        for d in ("upper", "work", "merged", "bundle"):
            (c / d).mkdir(parents=True, exist_ok=True)
        self.mount_rootfs(rec, image)
        volumes = bundle.resolve_volumes(self, rec, opts, image)
        if rec.isolation == "vm":
            from vessel.engine import vmbackend

            dirs = {v.target: str(self.volumes.path(v.source)) for v in volumes if v.kind in ("volume", "anonymous")}
            vmbackend.create(self, rec, dataclasses.replace(opts, volumes=tuple(volumes)), image, c / "merged", dirs)
            self.unmount_rootfs(rec.id)
        else:
            spec = bundle.make_spec(self, rec, opts, image, volumes)
            (c / "bundle" / "config.json").write_text(spec)
        extra = rec.extra
        if image.config.config is not None and image.config.config.healthcheck is not None:
            from vessel.oci._codec import encode

            extra = {**extra, "image_healthcheck": encode(image.config.config.healthcheck)}
        self.db.update(rec.id, options={**rec.options, "volumes": [dataclasses.asdict(v) for v in volumes]},
                       extra=extra)

    def mount_rootfs(self, rec: ContainerRecord, image=None) -> Path:
        merged = self.cdir(rec.id) / "merged"
        if os.path.ismount(merged):
            return merged
        from vessel.image.mount import overlay_mount

        image = image or self.store.get(rec.image_id)
        c = self.cdir(rec.id)
        m = overlay_mount(self.store.rootfs_layers(image), c / "upper", c / "work", merged)
        try:
            L.mount(*m.mount_args())
        except OSError as err:
            raise SystemFailure.from_os_error(f"mount the overlay for container {rec.short_id}", err) from None
        return merged

    def unmount_rootfs(self, cid: str) -> None:
        merged = self.cdir(cid) / "merged"
        if os.path.ismount(merged):
            try:
                L.umount2(str(merged), L.MNT_DETACH)
            except OSError as err:
                raise SystemFailure.from_os_error(f"unmount {merged}", err) from None

    def _teardown_files(self, rec: ContainerRecord) -> None:
        self.unmount_rootfs(rec.id)
        shutil.rmtree(self.cdir(rec.id), ignore_errors=True)
        for f in (self.exit_dir / rec.id, self.socket_dir / rec.id[:12]):
            if f.is_symlink() or f.is_file():
                f.unlink()

    # ------------------------------------------------------------------ start / stop
    def start_monitor(self, rec: ContainerRecord) -> ContainerRecord:
        """Everything up to a created container held by conmon; `finish_start` then starts it."""
        if rec.status in ("running", "paused"):
            raise Conflict(f"container {rec.name} is already running", status=rec.status)
        opts = options_from_json(rec.options)
        self.mount_rootfs(rec)
        self._runtime(rec, "delete", "--force", rec.id, check=False)
        (self.exit_dir / rec.id).unlink(missing_ok=True)
        stale = self.socket_dir / rec.id[:12]
        if stale.is_symlink():
            stale.unlink()
        exit_cmd = [_vessel_command(), "--root", str(self.root), "container", "cleanup", rec.id]
        from vessel.engine import bundle

        # the bridge, rules and sysctls do not depend on the container: get them ready (imports included)
        # while conmon and the runtime create it, so only the container's own link is left afterwards
        prepared = _in_background(lambda: self.net.ensure_default()) if bundle.uses_bridge(opts.network) else None
        try:
            pid = monitor.launch(rec.id, rec.name, self.paths(rec.id), monitor.runtime_path(opts.runtime),
                                 tty=opts.tty, stdin=opts.interactive, stdin_once=True, exit_command=exit_cmd)
        except BaseException:
            if prepared is not None:
                with contextlib.suppress(VesselError):
                    prepared()
            raise
        try:
            if prepared is not None:
                prepared()
            bundle.connect_network(self, rec, opts, pid, bridge_ready=prepared is not None)
        except BaseException:
            self._runtime(rec, "delete", "--force", rec.id, check=False)
            raise
        return self.db.update(rec.id, status="created", pid=pid)

    def finish_start(self, rec: ContainerRecord) -> ContainerRecord:
        from vessel.engine import health

        check = health.effective(rec.extra.get("image_healthcheck"), rec.options.get("healthcheck"))
        try:
            self._runtime(rec, "start", rec.id)
        except VesselError:
            self._runtime(rec, "delete", "--force", rec.id, check=False)
            raise
        started = time.time()
        extra = {k: v for k, v in rec.extra.items() if k not in ("health", "health_token", "health_loop")}
        if check is not None:
            token = f"{started:.6f}"
            loop = health.start_loop(_vessel_command(), str(self.root), rec.id, token, check)
            extra.update(health={"Status": "starting", "FailingStreak": 0, "Log": []}, health_token=token,
                         health_loop=loop)
        return self.db.update(rec.id, status="running", started_at=started, exit_code=None, finished_at=None,
                              extra=extra)

    def healthcheck(self, ref: str, token: str | None = None) -> int:
        """One probe of a container's health check, recorded in State.Health: 0 passed, 1 failed,
        2 not running (or ``token`` is a previous start's: that start's loop ends)."""
        from vessel.engine import health

        rec = self.get(ref)
        if rec.status != "running" or (token is not None and rec.extra.get("health_token") != token):
            return health.NOT_RUNNING
        check = health.effective(rec.extra.get("image_healthcheck"), rec.options.get("healthcheck"))
        if check is None:
            raise InvalidArgument(f"container {rec.name} has no health check",
                                  hint="--health-cmd, or a HEALTHCHECK in the image")
        runtime = [monitor.runtime_path(rec.options.get("runtime")), "--root", str(self.runtime_root)]
        code, output, start, end = health.probe(runtime, rec.id, check)
        with self.container_lock(rec.id):
            try:
                cur = self.db.get_by_id(rec.id)
            except NotFound:
                return health.NOT_RUNNING
            if cur.status != "running" or cur.extra.get("health_token") != rec.extra.get("health_token"):
                return health.NOT_RUNNING
            state = health.record(cur.extra.get("health"), check, exit_code=code, output=output, start=start,
                                  end=end, started_at=cur.started_at or time.time(), now=time.time())
            self.db.update(rec.id, extra={**cur.extra, "health": state})
        return 0 if code == 0 else 1

    def start(self, ref: str) -> ContainerRecord:
        rec = self.get(ref)
        if rec.status in ("running", "paused"):
            return rec
        if rec.isolation == "vm":
            from vessel.engine import vmbackend

            pid = vmbackend.start(self, rec)
            return self.db.update(rec.id, status="running", pid=pid, started_at=time.time(), exit_code=None,
                                  finished_at=None)
        with self.container_lock(rec.id):      # two concurrent starts: one starts it, the other sees it running
            rec = self.db.get_by_id(rec.id)
            if rec.status in ("running", "paused"):
                return rec
            return self.finish_start(self.start_monitor(rec))

    def kill(self, ref: str, sig: str = "KILL") -> ContainerRecord:
        from vessel.runtime.ops import parse_signal

        rec = self.get(ref)
        if not rec.is_running():
            raise Conflict(f"cannot kill container {rec.name}: container {rec.short_id} is not running", status=rec.status)
        num = parse_signal(sig)
        if rec.isolation == "vm":
            from vessel.engine import vmbackend

            vmbackend.handle(self, rec).kill(num)
            return rec
        if rec.status == "paused" and num == signal.SIGKILL:
            self._runtime(rec, "resume", rec.id, check=False)
        self._runtime(rec, "kill", rec.id, str(num))
        return rec

    def stop(self, ref: str, timeout: int | None = None) -> ContainerRecord:
        rec = self.get(ref)
        if rec.status == "restarting":  # cancel the pending restart
            return self.db.update(rec.id, status="exited", extra={**rec.extra, "stopped_by_user": True})
        if not rec.is_running():
            return rec
        self.db.update(rec.id, extra={**rec.extra, "stopped_by_user": True})
        opts = options_from_json(rec.options)
        if timeout is None:
            timeout = opts.stop_timeout if opts.stop_timeout is not None else STOP_TIMEOUT
        sig = opts.stop_signal or rec.extra.get("image_stop_signal") or "TERM"
        if rec.isolation == "vm":
            from vessel.engine import vmbackend

            vmbackend.handle(self, rec).stop(timeout)
            return self.get(rec.id)
        if rec.status == "paused":
            self._runtime(rec, "resume", rec.id, check=False)
        self._runtime(rec, "kill", rec.id, sig, check=False)
        if self.wait_exit(rec.id, timeout) is None:
            self._runtime(rec, "kill", "--all", rec.id, "KILL", check=False)
            self.wait_exit(rec.id, 10)
        return self.get(rec.id)

    def pause(self, ref: str) -> ContainerRecord:
        """Freeze every process of a running container (cgroup freezer)."""
        rec = self.get(ref)
        if rec.status == "paused":
            raise Conflict(f"Container {rec.id} is already paused")
        if rec.status != "running" or rec.isolation == "vm":
            raise Conflict(f"Container {rec.id} is not running" if rec.status != "running"
                           else "pausing a VM: use `vessel vm suspend`")
        self._runtime(rec, "pause", rec.id)
        return self.db.update(rec.id, status="paused")

    def unpause(self, ref: str) -> ContainerRecord:
        rec = self.get(ref)
        if rec.status != "paused":
            raise Conflict(f"Container {rec.id} is not paused")
        self._runtime(rec, "resume", rec.id)
        return self.db.update(rec.id, status="running")

    def wait_exit(self, cid: str, timeout: float | None) -> int | None:
        """Wait for the container's exit file; its exit code, or None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while True:
            rec = self.refresh(self.db.get_by_id(cid))
            if not rec.is_running():
                return rec.exit_code
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> ContainerRecord:
        rec = self.get(ref)
        if rec.is_running() and not force:
            raise Conflict(f"cannot remove container {rec.name}: container is {rec.status}: stop the container "
                           "before removing or force remove", status=rec.status)
        if rec.isolation == "vm":
            from vessel.engine import vmbackend
            from vessel.errors import NotFound as _NotFound

            try:
                vmbackend.handle(self, rec).delete(force=True)
            except _NotFound:
                pass
            self._teardown_files(rec)
            self.db.delete(rec.id)
            return rec
        if rec.is_running():
            self._runtime(rec, "kill", "--all", rec.id, "KILL", check=False)
            if rec.status == "paused":
                self._runtime(rec, "resume", rec.id, check=False)
            self.wait_exit(rec.id, 10)
            rec = self.get(rec.id)
        self._release_runtime(rec)
        self._teardown_files(rec)
        self.db.delete(rec.id)
        if volumes:
            for v in rec.options.get("volumes", []):
                if v.get("kind") == "anonymous" and v.get("source"):
                    try:
                        self.volumes.remove(v["source"])
                    except VesselError:
                        pass
        return rec

    @contextlib.contextmanager
    def attach_lock(self, cid: str, exclusive: bool):
        """Shared: an attached client is reading the exit code; exclusive: cleanup waits for it."""
        try:
            fd = os.open(self.cdir(cid) / "attach.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ exit command
    def cleanup(self, cid: str) -> None:
        """Run by conmon when the container exits: record it, then --rm or restart per the policy."""
        from vessel.engine.restart import should_restart, backoff

        try:
            rec = self.db.get_by_id(cid)
        except NotFound:
            return
        code = monitor.read_exit(self.exit_dir, cid)
        if code is None and rec.status in ("created", "running"):
            return  # conmon wrote the exit file before running us: gone means a newer start took over (restart)
        if rec.is_running() or rec.status == "created":
            rec = self._mark_exited(rec, 255 if code is None else code)
        opts = options_from_json(rec.options)
        if opts.remove:
            # an attached `vessel run --rm` holds this lock until it has read the exit code (and removes
            # the container itself); if that client died, the lock is free and we remove it here
            with self.attach_lock(cid, exclusive=True):
                try:
                    self.remove(cid, force=True, volumes=True)
                except NotFound:
                    pass
            return
        if should_restart(opts.restart, rec.exit_code or 0, rec.restart_count, rec.extra.get("stopped_by_user", False)):
            rec = self.db.update(cid, status="restarting", restart_count=rec.restart_count + 1)
            time.sleep(backoff(rec.restart_count - 1))
            try:
                with self.container_lock(cid):
                    if self.db.get_by_id(cid).status == "restarting":  # not stopped, started or removed meanwhile
                        self.finish_start(self.start_monitor(self.db.get_by_id(cid)))
            except VesselError as err:
                self.db.update(cid, status="exited", extra={**rec.extra, "restart_error": str(err)})


def _runtime_in_process(cmd: list[str]) -> subprocess.CompletedProcess:
    """vessel-runtime's verbs called as functions (no parser, no interpreter): ``cmd`` as for the binary."""
    from vessel.runtime import ops

    root = Path(cmd[2])
    verb, rest = cmd[3], cmd[4:]
    flags = {a for a in rest if a.startswith("-")}
    pos = [a for a in rest if not a.startswith("-")]
    warnings: list[str] = []
    try:
        if verb == "start":
            ops.start(root, pos[0], warnings.append)
        elif verb == "kill":
            ops.kill(root, pos[0], ops.parse_signal(pos[1] if len(pos) > 1 else "TERM"),
                     bool(flags & {"--all", "-a"}))
        elif verb == "delete":
            ops.delete(root, pos[0], bool(flags & {"--force", "-f"}), warnings.append)
        elif verb == "pause":
            ops.pause(root, pos[0])
        elif verb == "resume":
            ops.resume(root, pos[0])
        else:
            raise InvalidArgument(f"vessel-runtime verb {verb!r} is not callable in-process")
    except (VesselError, OSError) as err:
        text = str(err) if isinstance(err, VesselError) else (err.strerror or str(err))
        return subprocess.CompletedProcess(cmd, 1, "", "\n".join([*warnings, f"vessel-runtime: error: {text}"]))
    return subprocess.CompletedProcess(cmd, 0, "", "\n".join(warnings))


def _vessel_command() -> str:
    """The `vessel` executable beside this interpreter (the venv's), else the one on $PATH."""
    here = Path(sys.executable).with_name("vessel")
    return str(here) if here.exists() else (shutil.which("vessel") or "vessel")


def _in_background(fn):
    """Run ``fn`` in a thread; the returned callable joins it and re-raises what it raised."""
    import threading

    box: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as err:  # noqa: BLE001 - handed to the joining thread
            box.append(err)

    thread = threading.Thread(target=target, name="vessel-prepare", daemon=True)
    thread.start()

    def join() -> None:
        thread.join()
        if box:
            raise box[0]
    return join


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
