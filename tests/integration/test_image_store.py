"""The image store against the real kernel and real tools: overlayfs, root extraction, skopeo, umoci,
podman load/save, concurrent writers, a killed load, and debootstrap (slow)."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from vessel.errors import InvalidArgument
from vessel.image import Store, overlay_mount
from vessel.image.ingest import create_image
from vessel.runtime.linux import libc

pytestmark = pytest.mark.integration

VESSEL = str(Path(sys.executable).with_name("vessel"))


def entry(name: str, data: bytes | None = None, *, kind: bytes = tarfile.REGTYPE, mode: int = 0o644,
          uid: int = 0, gid: int = 0, linkname: str = "", dev: tuple[int, int] = (0, 0), pax: dict | None = None):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.linkname = kind, mode, uid, gid, linkname
    info.devmajor, info.devminor = dev
    info.size = len(data) if data is not None else 0
    info.mtime = 1_000_000
    if pax:
        info.pax_headers = pax
    return info, data


def tar_bytes(*entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@contextmanager
def mounted(store: Store, image, base: Path):
    """The image's overlay with a fresh upper dir, mounted on base/merged; unmounted after."""
    for d in ("upper", "work", "merged"):
        (base / d).mkdir(parents=True, exist_ok=True)
    m = overlay_mount(store.rootfs_layers(image), base / "upper", base / "work", base / "merged")
    libc.mount(*m.mount_args())
    try:
        yield base / "merged"
    finally:
        libc.umount2(str(base / "merged"), libc.MNT_DETACH)


def tree(root: Path) -> dict[str, bytes | None]:
    out = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return out


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "root")


def test_two_layer_overlay_with_whiteout_and_opaque_dir_then_commit(store, tmp_path):
    base = create_image(store, None, [io.BytesIO(tar_bytes(
        entry("etc/a", b"A"), entry("etc/b", b"B"), entry("var/cache/x", b"X"), entry("var/cache/y", b"Y"),
        entry("keep/file", b"K")))], reference="it/base:1")
    image = create_image(store, base, [io.BytesIO(tar_bytes(
        entry("etc/.wh.a"), entry("var/cache/.wh..wh..opq"), entry("var/cache/z", b"Z"),
        entry("new", b"N")))], reference="it/top:1")
    top = store.rootfs_layers(image)[0]
    st = os.lstat(top / "etc/a")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(top / "var/cache", "trusted.overlay.opaque") == b"y"

    with mounted(store, image, tmp_path / "c1") as merged:
        assert tree(merged) == {"etc": None, "etc/b": b"B", "keep": None, "keep/file": b"K", "new": b"N",
                                "var": None, "var/cache": None, "var/cache/z": b"Z"}
        (merged / "etc/b").unlink()
        subprocess.run(["rm", "-rf", str(merged / "keep")], check=True)
        (merged / "keep").mkdir()
        (merged / "keep/fresh").write_bytes(b"F")
        (merged / "added").write_bytes(b"+")
    committed = store.commit(tmp_path / "c1/upper", image, reference="it/committed:1", created_by="test")
    with store.blobs.open(committed.manifest.layers[-1].digest) as blob:
        with tarfile.open(fileobj=blob) as tf:
            names = set(tf.getnames())
    assert {"etc/.wh.b", "keep/.wh..wh..opq", "keep/fresh", "added"} <= names
    with mounted(store, committed, tmp_path / "c2") as merged:
        assert tree(merged) == {"added": b"+", "etc": None, "keep": None, "keep/fresh": b"F", "new": b"N",
                                "var": None, "var/cache": None, "var/cache/z": b"Z"}
    assert not os.path.ismount(tmp_path / "c1/merged") and not os.path.ismount(tmp_path / "c2/merged")


def test_root_extraction_keeps_owners_setuid_devices_and_refuses_forged_overlay_xattrs(store):
    image = create_image(store, None, [io.BytesIO(tar_bytes(
        entry("dev/null", kind=tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
        entry("bin/su", b"x", mode=0o4755, uid=1000, gid=1001),
        entry("data", kind=tarfile.DIRTYPE, mode=0o755, pax={"SCHILY.xattr.trusted.overlay.opaque": "y",
                                                              "SCHILY.xattr.trusted.note": "kept"})))])
    (fs,) = store.rootfs_layers(image)
    st = os.lstat(fs / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    st = os.stat(fs / "bin/su")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (1000, 1001)
    assert "trusted.overlay.opaque" not in os.listxattr(fs / "data")
    assert os.getxattr(fs / "data", "trusted.note") == b"kept"


def test_hostile_layers_as_root_touch_nothing_outside(store, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    attacks = [
        tar_bytes(entry("evil", kind=tarfile.SYMTYPE, linkname=str(victim)), entry("evil/pwned", b"x")),
        tar_bytes(entry("up", kind=tarfile.SYMTYPE, linkname="../../../../../../" + str(victim)),
                  entry("up/pwned", b"x")),
        tar_bytes(entry("f", kind=tarfile.SYMTYPE, linkname=str(victim / "pwned")), entry("f", b"x")),
        tar_bytes(entry(str(victim / "pwned"), b"x")),
    ]
    for data in attacks:
        create_image(store, None, [io.BytesIO(data)])
    assert list(victim.iterdir()) == []
    before = sorted(os.listdir(store.blobs.dir))
    with pytest.raises(InvalidArgument, match="escapes the root"):
        create_image(store, None, [io.BytesIO(tar_bytes(entry("../../pwned", b"x")))])
    assert sorted(os.listdir(store.blobs.dir)) == before and os.listdir(store.tmp) == []


def test_skopeo_and_umoci_read_the_store(store, tmp_path):
    image = store.ensure_base("busybox")
    ref = f"oci:{store.dir}:docker.io/library/busybox:latest"
    info = json.loads(subprocess.run(["skopeo", "inspect", ref], capture_output=True, text=True, check=True).stdout)
    assert info["Digest"] == image.manifest_digest and info["Layers"] == [image.manifest.layers[0].digest]
    assert info["Env"] == image.config.config.env
    listed = subprocess.run(["umoci", "ls", "--layout", str(store.dir)], capture_output=True, text=True, check=True)
    assert "docker.io/library/busybox:latest" in listed.stdout.split()
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{store.dir}:docker.io/library/busybox:latest", str(bundle)],
                   capture_output=True, check=True)
    assert (bundle / "rootfs/bin/busybox").stat().st_size == Path("/bin/busybox").stat().st_size
    assert os.stat(bundle / "rootfs/tmp").st_mode & 0o7777 == 0o1777


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120, check=check)


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_podman_loads_our_archives_and_we_load_podmans(store, tmp_path, fmt):
    store.ensure_base("busybox")
    name = f"localhost/vessel-it-{uuid.uuid4().hex[:10]}:1"
    image = store.get(str(store.tag("busybox", name)))
    with open(tmp_path / "ours.tar", "wb") as out:
        store.save([name], out, fmt)
    try:
        podman("load", "-i", str(tmp_path / "ours.tar"))
        inspected = json.loads(podman("image", "inspect", name).stdout)[0]
        assert inspected["Id"] == image.id[7:]
        podman("save", "--format", fmt, "-o", str(tmp_path / "theirs.tar"), name)
    finally:
        podman("rmi", "-f", name, check=False)
    other = Store(tmp_path / "other")
    (loaded,) = other.load(tmp_path / "theirs.tar")
    assert loaded.image.id == image.id and [str(t) for t in loaded.tags] == [name]
    assert (other.rootfs_layers(loaded.image)[0] / "bin/busybox").exists()


CHILD = """
import io, sys, tarfile
from pathlib import Path
from vessel.image import Store
from vessel.image.ingest import create_image
store = Store(Path(sys.argv[1]))
n = int(sys.argv[2])
for i in range(5):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = f"{n}-{i}".encode() * 1000
        info = tarfile.TarInfo(f"f{i}"); info.size = len(data); tf.addfile(info, io.BytesIO(data))
    create_image(store, None, [io.BytesIO(buf.getvalue())], reference=f"w{n}:{i}")
    store.gc()
"""


def test_concurrent_writers_and_gc_keep_the_store_consistent(tmp_path):
    root = tmp_path / "root"
    Store(root)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(n)], stderr=subprocess.PIPE, text=True)
             for n in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = Store(root)
    names = sorted(t.familiar for i in store.images() for t in i.tags)
    assert names == sorted(f"w{n}:{i}" for n in range(4) for i in range(5))
    for image in store.images():
        (fs,) = store.rootfs_layers(image)
        assert len(list(fs.iterdir())) == 1
    assert store.gc().blobs == 0


def test_killed_load_leaves_no_image_and_gc_cleans_up(store, tmp_path):
    store.ensure_base("busybox")
    with open(tmp_path / "bb.tar", "wb") as out:
        store.save(["busybox"], out)
    data = (tmp_path / "bb.tar").read_bytes()
    root = tmp_path / "fresh"
    fresh = Store(root)
    proc = subprocess.Popen([VESSEL, "--root", str(root), "load"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.stdin.write(data[: len(data) // 2])
        proc.stdin.flush()
        wait_until(lambda: any(n.startswith("load-") and (fresh.tmp / n).stat().st_size > 0
                               for n in os.listdir(fresh.tmp)), what="the load to start spooling")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
    assert fresh.images() == [] and json.loads((fresh.dir / "index.json").read_text())["manifests"] == []
    assert fresh.gc().temp >= 1
    assert os.listdir(fresh.tmp) == [] and os.listdir(fresh.blobs.dir) == []


def test_busybox_image_runs_in_a_chroot(store, tmp_path):
    image = store.ensure_base("busybox")
    with mounted(store, image, tmp_path / "c") as merged:
        out = subprocess.run(["chroot", str(merged), "/bin/sh", "-c", "id -un; ls /bin | wc -l"],
                             capture_output=True, text=True, check=True, timeout=30).stdout.split()
    assert out[0] == "root" and int(out[1]) > 200


@pytest.mark.slow
def test_debian_bookworm_bootstrap(store, tmp_path):
    started = time.monotonic()
    image = store.ensure_base("debian:bookworm")
    elapsed = time.monotonic() - started
    assert [t.familiar for t in image.tags] == ["debian:bookworm"]
    assert image.config.config.cmd == ["bash"]
    with mounted(store, image, tmp_path / "c") as merged:
        out = subprocess.run(["chroot", str(merged), "/bin/bash", "-c", "cat /etc/debian_version; command -v apt"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert out[0].startswith("12.") and out[1] == "/usr/bin/apt"
    assert not list((store.rootfs_layers(image)[0] / "var/cache/apt/archives").glob("*.deb"))
    print(f"debian:bookworm bootstrap took {elapsed:.1f}s, size {store.image_size(image) / 1e6:.0f} MB")
