"""`vessel cp`: copy between a container (CONTAINER:PATH) and the host, as docker cp does."""

from __future__ import annotations

import io
import os
import shutil
import sys
import tarfile
from pathlib import Path

from vessel.errors import InvalidArgument, NotFound


def split(arg: str) -> tuple[str | None, str]:
    if ":" in arg and not arg.startswith(("/", ".")):
        name, _, path = arg.partition(":")
        return name, path or "/"
    return None, arg


def copy(engine, src: str, dest: str) -> int:
    from vessel.engine.ops import container_path, copy_in, copy_out

    s_ctr, s_path = split(src)
    d_ctr, d_path = split(dest)
    if bool(s_ctr) == bool(d_ctr):
        raise InvalidArgument("copying between containers, or between host paths, is not supported",
                              hint="one of SRC and DEST must be CONTAINER:PATH")
    if s_ctr:
        rec = engine.get(s_ctr)
        if d_path == "-":
            copy_out(engine, rec, s_path, sys.stdout.buffer)
            return 0
        inner = container_path(engine, rec, s_path)
        if not inner.exists() and not inner.is_symlink():
            raise NotFound(f"Could not find the file {s_path} in container {s_ctr}")
        target = Path(d_path)
        if target.is_dir():
            target = target / inner.name
        if inner.is_dir():
            shutil.copytree(inner, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(inner, target, follow_symlinks=False)
        return 0
    rec = engine.get(d_ctr)
    if s_path == "-":
        copy_in(engine, rec, d_path, sys.stdin.buffer)
        return 0
    source = Path(s_path)
    if not source.exists():
        raise NotFound(f"could not find the file {s_path} on the host")
    inner = container_path(engine, rec, d_path)
    if inner.is_dir():
        dest_dir, name = d_path, source.name
    else:
        dest_dir, name = os.path.dirname(d_path.rstrip("/")) or "/", os.path.basename(d_path.rstrip("/"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(source, arcname=name)
    buf.seek(0)
    copy_in(engine, rec, dest_dir, buf)
    return 0
