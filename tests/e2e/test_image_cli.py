"""The `vessel` image commands as a user types them: bootstrap, images, tag, save/load, import, history,
inspect, rmi, prune, and one-line errors with exit code 125 for bad input."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

VESSEL = str(Path(sys.executable).with_name("vessel"))


class Cli:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, input: bytes | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([VESSEL, "--root", str(self.root), *args], input=input, capture_output=True,
                              timeout=120)
        if ok and proc.returncode != 0:
            raise AssertionError(f"vessel {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
        return proc

    def out(self, *args: str, **kw) -> str:
        return self(*args, **kw).stdout.decode()


@pytest.fixture
def vessel(tmp_path) -> Cli:
    return Cli(tmp_path / "root")


def rootfs_tar(**files: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name.replace("__", "/"))
            info.size, info.mode = len(data), 0o755
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_bootstrap_list_tag_history_inspect(vessel):
    image_id = vessel.out("image", "bootstrap", "busybox").strip()
    assert image_id.startswith("sha256:")
    assert vessel.out("image", "bootstrap", "busybox").strip() == image_id  # already there
    lines = vessel.out("images").splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:3] == ["busybox", "latest", image_id[7:19]]
    vessel("tag", "busybox", "localhost:5000/tools/bb:v1")
    assert vessel.out("images", "-q").split() == [image_id[7:19]]
    assert "localhost:5000/tools/bb" in vessel.out("image", "ls")
    assert vessel.out("images", "localhost:5000/tools/bb").count("\n") == 2
    (info,) = json.loads(vessel.out("image", "inspect", "busybox"))
    assert info["Id"] == image_id and info["Config"]["Cmd"] == ["sh"]
    assert sorted(info["RepoTags"]) == ["busybox:latest", "localhost:5000/tools/bb:v1"]
    (row,) = json.loads(vessel.out("history", "--format", "json", image_id[7:15]))
    assert row["Id"] == image_id and "bootstrap busybox" in row["CreatedBy"]
    assert json.loads(vessel.out("image", "ls", "--format", "json"))[0]["Id"] == image_id


def test_save_rmi_load_round_trip_through_files_and_pipes(vessel, tmp_path):
    image_id = vessel.out("image", "bootstrap", "busybox").strip()
    vessel("save", "busybox", "-o", str(tmp_path / "bb.tar"))
    vessel("save", "--format", "oci-archive", "-o", str(tmp_path / "bb-oci.tar"), "busybox")
    assert vessel.out("rmi", "busybox").splitlines() == ["Untagged: busybox:latest", f"Deleted: {image_id}"]
    assert vessel.out("images", "-q") == ""
    assert vessel.out("load", "-i", str(tmp_path / "bb.tar")) == "Loaded image: busybox:latest\n"
    vessel("rmi", "busybox")
    assert vessel.out("load", "-i", str(tmp_path / "bb-oci.tar")) == "Loaded image: busybox:latest\n"
    piped = vessel("save", "busybox").stdout
    other = Cli(tmp_path / "other")
    assert other.out("load", input=piped) == "Loaded image: busybox:latest\n"
    assert other.out("images", "-q", "--no-trunc").strip() == image_id


def test_import_from_stdin_with_changes(vessel):
    data = rootfs_tar(bin__hello=b"#!/bin/sh\necho hi\n")
    image_id = vessel.out("import", "-", "myimg:1", "-c", 'CMD ["/bin/hello"]', "-c", "ENV MODE=test",
                          "-m", "from a pipe", input=data).strip()
    (info,) = json.loads(vessel.out("image", "inspect", "myimg:1"))
    assert info["Id"] == image_id
    assert info["Config"]["Cmd"] == ["/bin/hello"] and info["Config"]["Env"] == ["MODE=test"]
    assert "from a pipe" in vessel.out("history", "myimg:1")


def test_prune_and_gc(vessel):
    vessel("import", "-", "a:1", input=rootfs_tar(a=b"1"))
    vessel("import", "-", "a:1", input=rootfs_tar(a=b"2"))  # the first becomes dangling
    assert "<none>" in vessel.out("images")
    out = vessel.out("image", "prune", "-f")
    assert out.startswith("Deleted Images:\ndeleted: sha256:")
    assert re.search(r"Total reclaimed space: 1\d\.\dkB", out)  # a 10 kB layer tar, its config and manifest
    assert "<none>" not in vessel.out("images")
    assert vessel.out("image", "gc").startswith("removed 0 blobs")


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 125
    err = proc.stderr.decode()
    assert "Traceback" not in err and err.startswith("Error: ")
    return err.splitlines()[0]


def test_bad_input_gets_one_line_errors_and_exit_125(vessel, tmp_path):
    assert one_line_error(vessel("image", "inspect", "foo", ok=False)) == "Error: No such image: foo:latest"
    assert one_line_error(vessel("rmi", "foo:2", ok=False)) == "Error: No such image: foo:2"
    assert "invalid reference format" in one_line_error(vessel("import", "-", "Bad Name", input=b"", ok=False))
    (tmp_path / "junk.tar").write_bytes(b"not an archive" * 100)
    assert "not a valid image archive" in one_line_error(vessel("load", "-i", str(tmp_path / "junk.tar"),
                                                                ok=False))
    assert "no such file" in one_line_error(vessel("load", "-i", str(tmp_path / "missing.tar"), ok=False))
    assert "cannot build alpine:latest" in one_line_error(vessel("image", "bootstrap", "alpine", ok=False))


def test_hostile_tar_is_refused_and_leaves_nothing(vessel, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../../etc/x")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    proc = vessel("import", "-", "evil:1", input=buf.getvalue(), ok=False)
    assert "entry '../../etc/x' escapes the root" in one_line_error(proc)
    assert vessel.out("images", "-q") == ""
    image_dir = vessel.root / "image"
    assert os.listdir(image_dir / "blobs/sha256") == [] and os.listdir(image_dir / "tmp") == []
    assert os.listdir(image_dir / "snapshots") == []
