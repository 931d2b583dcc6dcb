"""The per-container monitor: Debian's conmon, which outlives the `vessel` command.

conmon holds the container's stdio (or pty), writes the k8s-file log, serves
the attach socket, records the exit code in `<root>/exits/<id>` and runs the
exit command (`vessel container cleanup ID`: --rm and restart policies).
It costs well under 2 MiB per idle container.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from vessel.errors import SystemFailure, Unsupported

STDOUT, STDERR = 2, 3  # conmon's attach-socket pipe ids


def conmon_path() -> str:
    path = shutil.which("conmon") or "/usr/bin/conmon"
    if not os.path.exists(path):
        raise Unsupported("conmon is not installed", hint="apt-get install conmon")
    return path


def runtime_path(name: str | None) -> str:
    if name in (None, "", "vessel", "vessel-runtime"):
        here = Path(sys.executable).with_name("vessel-runtime")
        return str(here) if here.exists() else (shutil.which("vessel-runtime") or "vessel-runtime")
    found = shutil.which(name)
    if not found:
        raise Unsupported(f"OCI runtime {name!r} not found", hint="give a runtime on $PATH or an absolute path")
    return found


@dataclass(frozen=True)
class MonitorPaths:
    bundle: Path
    log: Path
    exit_dir: Path
    socket_dir: Path
    runtime_root: Path
    conmon_pid: Path
    pid_file: Path


def launch(container_id: str, name: str, paths: MonitorPaths, runtime: str, *, tty: bool, stdin: bool,
           stdin_once: bool, exit_command: list[str] | None) -> int:
    """Start conmon; it runs `runtime create`; returns the container's init pid."""
    args = [conmon_path(), "--api-version", "1", "-c", container_id, "-u", container_id[:12],
            "-r", runtime, "-b", str(paths.bundle), "-p", str(paths.pid_file), "-n", name,
            "--exit-dir", str(paths.exit_dir), "-l", f"k8s-file:{paths.log}", "--log-level", "error",
            "--runtime-arg", f"--root={paths.runtime_root}", "--socket-dir-path", str(paths.socket_dir),
            "--conmon-pidfile", str(paths.conmon_pid), "--no-sync-log"]
    if tty:
        args.append("-t")
    if stdin:
        args.append("-i")
        if not stdin_once:
            args.append("--leave-stdin-open")
    if exit_command:
        args += ["--exit-command", exit_command[0]]
        for a in exit_command[1:]:
            args += ["--exit-command-arg", a]
    r, w = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("_OCI_")}
    env["_OCI_SYNCPIPE"] = str(w)
    try:
        proc = subprocess.Popen(args, env=env, pass_fds=(w,), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    finally:
        os.close(w)
    # conmon keeps the sync pipe open for the container's life: read its first message only
    with os.fdopen(r, "rb") as pipe:
        raw = pipe.readline()
    _out, err = proc.communicate()
    pid = -1
    message = ""
    try:
        msg = json.loads(raw) if raw.strip() else {}
        pid = msg.get("data", -1)
        message = msg.get("message", "")
    except ValueError:
        message = raw.decode(errors="replace")
    if pid is None or pid <= 0:
        detail = (message or err.decode(errors="replace").strip() or "conmon exited without a pid").strip()
        failure = SystemFailure(f"container create failed: {detail}")
        if "executable file not found" in detail or "No such file or directory" in detail:
            failure.cli_exit_code = 127
        elif "permission denied" in detail.lower() or "not an executable" in detail:
            failure.cli_exit_code = 126
        raise failure
    return pid


def read_exit(exit_dir: Path, container_id: str) -> int | None:
    try:
        text = (exit_dir / container_id).read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def attach_socket(socket_dir: Path, container_id: str) -> socket.socket:
    """Connect to conmon's attach socket (through /proc/self/fd to dodge sun_path's 108 bytes)."""
    dirfd = os.open(socket_dir / container_id[:12], os.O_PATH | os.O_DIRECTORY)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/attach")
    except OSError as err:
        sock.close()
        raise SystemFailure.from_os_error(f"attach to container {container_id[:12]}", err) from None
    finally:
        os.close(dirfd)
    return sock


def resize(socket_dir: Path, container_id: str, height: int, width: int) -> None:
    """Tell conmon the terminal size (its ctl fifo: `1 height width`)."""
    ctl = socket_dir / container_id[:12] / "ctl"
    try:
        fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, f"1 {height} {width}\n".encode())
    finally:
        os.close(fd)


def process_alive(pid: int) -> bool:
    from vessel.runtime.state import process_start_time

    return pid > 0 and process_start_time(pid) is not None
