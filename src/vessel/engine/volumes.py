"""Named and anonymous volumes: directories under <root>/volumes/<name>/_data."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from vessel.engine.db import Database
from vessel.errors import Conflict, InvalidArgument, NotFound

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Volumes:
    def __init__(self, root: Path, db: Database) -> None:
        self.dir = root / "volumes"
        self.db = db

    def path(self, name: str) -> Path:
        return self.dir / name / "_data"

    def create(self, name: str | None = None, labels: dict | None = None, anonymous: bool = False) -> str:
        if name is None:
            name = os.urandom(32).hex()   # docker's anonymous volume names: 64 hex digits
            anonymous = True
        if not _NAME.match(name):
            raise InvalidArgument(f"invalid volume name {name!r}",
                                  hint="use letters, digits, '_', '.' and '-', starting with a letter or digit")
        self.path(name).mkdir(parents=True, exist_ok=True)
        self.db.add_volume(name, labels, anonymous)
        return name

    def ensure(self, name: str) -> tuple[Path, bool]:
        """The volume's directory, creating it if needed; True if it was created just now (seed it)."""
        existed = True
        try:
            self.db.get_volume(name)
        except NotFound:
            existed = False
            self.create(name)
        return self.path(name), not existed

    def users(self, name: str) -> list[str]:
        out = []
        for rec in self.db.all():
            for v in rec.options.get("volumes", []):
                if v.get("kind") in ("volume", "anonymous") and v.get("source") == name:
                    out.append(rec.name)
        return out

    def remove(self, name: str, force: bool = False) -> None:
        self.db.get_volume(name)
        users = self.users(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]",
                           hint="remove those containers first (vessel rm)")
        shutil.rmtree(self.dir / name, ignore_errors=True)
        self.db.remove_volume(name)

    def prune(self, all_volumes: bool = False) -> list[str]:
        removed = []
        for vol in self.db.volumes():
            if (vol["anonymous"] or all_volumes) and not self.users(vol["name"]):
                self.remove(vol["name"])
                removed.append(vol["name"])
        return removed

    def inspect(self, name: str) -> dict:
        vol = self.db.get_volume(name)
        import time

        return {"CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(vol["created"])),
                "Driver": "local", "Labels": vol["labels"] or None, "Mountpoint": str(self.path(name)),
                "Name": name, "Options": None, "Scope": "local"}


def dir_size(path) -> int:
    """Bytes of the files under path (apparent sizes; unreadable entries skipped)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def seed(volume_dir: Path, image_dir: Path) -> None:
    """Copy the image's content at the mount point into a new, empty volume (docker's behaviour)."""
    if not image_dir.is_dir() or any(volume_dir.iterdir()):
        return
    for entry in os.scandir(image_dir):
        src = Path(entry.path)
        dst = volume_dir / entry.name
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(src, dst, symlinks=True)
        elif entry.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    st = image_dir.stat()
    os.chmod(volume_dir, st.st_mode & 0o7777)
    os.chown(volume_dir, st.st_uid, st.st_gid)
