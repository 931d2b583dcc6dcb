"""Export a VM folder as one tar, and import it into a (maybe other) vessel root.

The tar holds ``vm.json`` (format marker), config.json, state.json, the disk as
a standalone qcow2 (overlay and base flattened, so the other side needs no base
image), the logs, and ``ram.state`` when the VM is suspended.  An import gets a
fresh id/name and MAC; its IP comes from the network it joins (user-mode
networking gives every guest 10.0.2.15 behind its own NAT).
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from vessel.errors import InvalidArgument
from vessel.vm import disk
from vessel.vm.spec import ID_RE
from vessel.vm.status import Status, VmState, require

if TYPE_CHECKING:
    from vessel.vm.backend import VmBackend, VmHandle

FORMAT = "vessel-vm-export/1"
MEMBERS = ("config.json", "state.json", "disk.qcow2", "output.log", "console.log", "status", "ram.state")


def export_vm(handle: "VmHandle", dest: Path) -> Path:
    state = handle.state()
    require(handle.id, state.status, state.status.can_export(), "export", hint="suspend or stop it first")
    with tempfile.TemporaryDirectory(prefix="vessel-export-", dir=handle.backend.vm_root) as tmp:
        flat = Path(tmp) / "disk.qcow2"
        disk.flatten(handle.paths.disk, flat)
        marker = Path(tmp) / "vm.json"
        marker.write_text(json.dumps({"format": FORMAT, "id": handle.id, "exported": time.time()}) + "\n")
        part = dest.with_name(dest.name + ".part")
        with tarfile.open(part, "w") as tar:
            tar.add(marker, "vm.json")
            for name in MEMBERS:
                src = flat if name == "disk.qcow2" else handle.paths.dir / name
                if src.exists():
                    tar.add(src, name)
        part.replace(dest)
    return dest


def _safe_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    names = {m.name for m in members}
    if "vm.json" not in names or "config.json" not in names or "disk.qcow2" not in names:
        raise InvalidArgument(f"{archive} is not a vessel VM export (vm.json, config.json, disk.qcow2 needed)")
    for m in members:
        if m.name not in MEMBERS + ("vm.json",) or not m.isfile():
            raise InvalidArgument(f"{archive}: unexpected member {m.name!r}", path=str(archive))
    return members


def import_vm(backend: "VmBackend", archive: Path, name: str | None) -> "VmHandle":
    from vessel.vm.backend import VmHandle, new_id, random_mac
    from vessel.vm.spec import VmConfig

    if name is not None and not ID_RE.match(name):
        raise InvalidArgument(f"VM name {name!r} must match {ID_RE.pattern}")
    vm_id = new_id()
    paths = backend.paths(vm_id)
    backend.vm_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="vessel-import-", dir=backend.vm_root))
    try:
        with tarfile.open(archive, "r") as tar:
            for member in _safe_members(tar, archive):
                with tar.extractfile(member) as src, open(staging / member.name, "wb") as out:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, out)
        meta = json.loads((staging / "vm.json").read_text())
        if meta.get("format") != FORMAT:
            raise InvalidArgument(f"{archive}: unknown export format {meta.get('format')!r}")
        old = VmConfig.from_json((staging / "config.json").read_text(), f"{archive}:config.json")
        config = old.update(id=vm_id, name=name or vm_id, mac=random_mac(), base_image="", created=time.time())
        backend._check_name_free(config)
        (staging / "vm.json").unlink()
        old_state = VmState.from_json((staging / "state.json").read_text())
        status = Status.SUSPENDED if old_state.status is Status.SUSPENDED and (staging / "ram.state").exists() \
            else (Status.EXITED if old_state.status is Status.EXITED else Status.CREATED)
        staging.rename(paths.dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    handle = VmHandle(backend, paths)
    handle.write_config(config)
    handle.write_state(VmState(status, exit_code=old_state.exit_code if status is Status.EXITED else None))
    return handle
