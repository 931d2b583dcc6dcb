"""`docker cp`: HEAD/GET/PUT /containers/{id}/archive, with X-Docker-Container-Path-Stat.

Paths are resolved inside the container's view of its filesystem: for a
running container `/proc/<pid>/root` (its volumes, bind mounts and /etc
files included); for a stopped one the overlay plus its mounts (volumes and
binds by prefix, /etc/hostname|hosts|resolv.conf from the container dir).
Symlinks resolve inside that root and never escape it.  A running container
is paused while its files are read or written, so it cannot swap a directory
for a symlink half-way (CVE-2018-15664); the stat is answered unpaused.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import tarfile
import time
from pathlib import Path

from vessel.api.messages import Request, Response, Writer, no_content
from vessel.errors import Conflict, InvalidArgument, NotFound, SystemFailure, VesselError

STAT_HEADER = "X-Docker-Container-Path-Stat"

# Go's os.FileMode type bits (what docker's PathStat.Mode holds)
GO_DIR, GO_SYMLINK, GO_DEVICE, GO_PIPE, GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
GO_SETUID, GO_SETGID, GO_CHARDEV, GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


def go_file_mode(mode: int) -> int:
    """A unix st_mode as Go's os.FileMode (pure)."""
    out = mode & 0o777
    kind = stat.S_IFMT(mode)
    out |= {stat.S_IFDIR: GO_DIR, stat.S_IFLNK: GO_SYMLINK, stat.S_IFIFO: GO_PIPE, stat.S_IFSOCK: GO_SOCKET,
            stat.S_IFBLK: GO_DEVICE, stat.S_IFCHR: GO_DEVICE | GO_CHARDEV}.get(kind, 0)
    if mode & stat.S_ISUID:
        out |= GO_SETUID
    if mode & stat.S_ISGID:
        out |= GO_SETGID
    if mode & stat.S_ISVTX:
        out |= GO_STICKY
    return out


def path_stat(name: str, st: os.stat_result, link_target: str = "") -> dict:
    mtime = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(st.st_mtime)) + f".{st.st_mtime_ns % 10**9:09d}Z"
    return {"name": name, "size": st.st_size, "mode": go_file_mode(st.st_mode), "mtime": mtime,
            "linkTarget": link_target}


def stat_header(info: dict) -> tuple[str, str]:
    return STAT_HEADER, base64.b64encode(json.dumps(info, separators=(",", ":")).encode()).decode()


def _live_root(rec) -> str | None:
    if rec.is_running() and rec.pid > 0 and os.path.isdir(f"/proc/{rec.pid}/root/"):
        return f"/proc/{rec.pid}/root"
    return None


def _mounts(engine, rec) -> list[tuple[str, str]]:
    """(target, host source) of a stopped container's mounts, longest target first."""
    c = engine.cdir(rec.id)
    out = [("/etc/hostname", str(c / "hostname")), ("/etc/hosts", str(c / "hosts")),
           ("/etc/resolv.conf", str(c / "resolv.conf"))]
    for v in rec.options.get("volumes") or []:
        if v.get("kind") == "bind":
            out.append((v["target"], v["source"]))
        elif v.get("kind") in ("volume", "anonymous") and v.get("source"):
            out.append((v["target"], str(engine.volumes.path(v["source"]))))
    return sorted(out, key=lambda m: -len(m[0]))


def resolve(engine, rec, path: str, follow_last: bool = False) -> str:
    """The host path of `path` inside the container (the last component itself unless `follow_last`)."""
    from vessel.runtime.paths import secure_join

    if not path.startswith("/"):
        path = "/" + path
    parent, _, last = path.rstrip("/").rpartition("/")
    if path.rstrip("/") == "" or last in (".", ".."):
        parent, last, follow_last = path, "", True
    root = _live_root(rec)
    if root is not None:
        base = secure_join(root, parent or "/")
        return os.path.join(base, last) if last and not follow_last else secure_join(root, path)
    merged = str(engine.mount_rootfs(rec))
    inner = secure_join(merged, parent or "/")
    rel = "/" + os.path.relpath(inner, merged).lstrip(".")
    full_rel = (rel.rstrip("/") + "/" + last) if last else rel
    for target, source in _mounts(engine, rec):
        if full_rel == target or full_rel.startswith(target.rstrip("/") + "/"):
            rest = full_rel[len(target):]
            return secure_join(source, rest) if rest.strip("/") else source
    return os.path.join(inner, last) if last and not follow_last else secure_join(merged, path)


def _stat(engine, rec, path: str) -> tuple[str, dict]:
    host = resolve(engine, rec, path)
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container {rec.name}", path=path) from None
    except OSError as err:
        raise SystemFailure.from_os_error(f"stat {path} in container {rec.name}", err) from None
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = os.readlink(host)
    name = os.path.basename(path.rstrip("/")) or "/"
    return host, path_stat(name, st, link)


@contextlib.contextmanager
def paused(engine, rec):
    """Freeze a running container while its files are read or written (runtime pause/resume)."""
    if rec.status != "running":
        yield
        return
    engine._runtime(rec, "pause", rec.id, check=False)
    try:
        yield
    finally:
        engine._runtime(rec, "resume", rec.id, check=False)


def _arg_path(req: Request) -> str:
    path = req.arg("path")
    if not path:
        raise InvalidArgument("path is required: give ?path=/file/in/the/container", field="path")
    if "\x00" in path:
        raise InvalidArgument("path contains a NUL byte", field="path")
    return path


def stat_path(req: Request) -> Response:
    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    _host, info = _stat(engine, rec, _arg_path(req))
    return Response(200, b"", None, [stat_header(info)])


def get_archive(req: Request) -> Writer:
    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    path = _arg_path(req)
    host, info = _stat(engine, rec, path)
    arcname = os.path.basename(path.rstrip("/")) if path.rstrip("/") else "."
    if path.endswith("/.") or path.rstrip("/") == "":
        arcname = "."

    def write(out) -> None:
        with paused(engine, rec):
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                tar.add(host, arcname=arcname, recursive=True)
        req.ctx.events.publish("container", "archive-path", rec.id, {"name": rec.name, "image": rec.image,
                                                                     "path": path})
    return Writer(write, content_type="application/x-tar", headers=[stat_header(info)])


def put_archive(req: Request) -> Response:
    from vessel.engine.engine import options_from_json
    from vessel.image.extract import OverlayWhiteouts, extract_layer

    engine = req.ctx.engine
    rec = engine.get(req.params["id"])
    path = _arg_path(req)
    if options_from_json(rec.options).read_only:
        raise Conflict(f"container rootfs of {rec.name} is marked read-only", hint="copy into a volume instead")
    target = resolve(engine, rec, path, follow_last=True)
    if not os.path.exists(target):
        raise NotFound(f"Could not find the file {path} in container {rec.name}", path=path)
    if not os.path.isdir(target):
        raise InvalidArgument(f"extraction point is not a directory: {path}", path=path)
    with paused(engine, rec):
        try:
            extract_layer(req.body, Path(target), layer="docker cp archive", is_root=os.geteuid() == 0,
                          whiteouts=OverlayWhiteouts())
        except VesselError:
            raise
        except OSError as err:
            raise SystemFailure.from_os_error(f"extract into {path} of container {rec.name}", err) from None
    req.ctx.events.publish("container", "extract-to-dir", rec.id, {"name": rec.name, "image": rec.image,
                                                                   "path": path})
    return no_content(200)
