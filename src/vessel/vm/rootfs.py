"""A minimal busybox root filesystem, for tests and demos until the image store provides images."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vessel.vm.initramfs import find_busybox

APPLETS = ("sh", "echo", "cat", "ls", "id", "pwd", "env", "uname", "sleep", "true", "false", "test", "mkdir",
           "touch", "rm", "hostname", "ip", "wc", "date", "ps", "kill", "seq", "head", "tail", "grep", "sync")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" \
         "app:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n"


def busybox_rootfs(dest: Path, busybox: Path | None = None) -> Path:
    """Write a small root filesystem at ``dest``: /bin/busybox with applet links, /etc/passwd,
    /etc/group, and empty /tmp, /root, /home/app."""
    dest = Path(dest)
    for d in ("bin", "etc", "tmp", "root", "home/app", "dev", "proc", "sys"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox or find_busybox(), dest / "bin" / "busybox")
    for applet in APPLETS:
        link = dest / "bin" / applet
        if not link.is_symlink():
            os.symlink("busybox", link)
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    os.chmod(dest / "tmp", 0o1777)
    os.chown(dest / "home" / "app", 1000, 1000) if os.geteuid() == 0 else None
    return dest
