"""`vessel image ...` argument parsing and output, driven in-process against a temp root."""

from __future__ import annotations

import argparse
import json

import pytest

from vessel.cli import image as cli

pytestmark = pytest.mark.unit


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vessel")
    p.add_argument("--root")
    cli.register(p.add_subparsers(dest="command"))
    return p


@pytest.mark.parametrize("argv, func, fields", [
    (["image", "ls", "--format", "json", "-q"], cli.cmd_ls, {"format": "json", "quiet": True}),
    (["images", "busybox"], cli.cmd_ls, {"reference": "busybox"}),
    (["image", "rm", "-f", "a", "b"], cli.cmd_rm, {"force": True, "images": ["a", "b"]}),
    (["rmi", "a"], cli.cmd_rm, {"force": False, "images": ["a"]}),
    (["tag", "a", "b:1"], cli.cmd_tag, {"source": "a", "target": "b:1"}),
    (["save", "-o", "x.tar", "--format", "oci-archive", "a", "b"], cli.cmd_save,
     {"output": "x.tar", "format": "oci-archive", "images": ["a", "b"]}),
    (["image", "load", "-i", "x.tar"], cli.cmd_load, {"input": "x.tar"}),
    (["import", "-", "r:1", "-c", "CMD sh", "-c", "ENV A=1", "-m", "hi"], cli.cmd_import,
     {"file": "-", "reference": "r:1", "change": ["CMD sh", "ENV A=1"], "message": "hi"}),
    (["history", "--no-trunc", "busybox"], cli.cmd_history, {"image": "busybox", "no_trunc": True}),
    (["image", "prune", "-a", "-f"], cli.cmd_prune, {"all": True}),
    (["image", "bootstrap", "busybox", "debian:bookworm"], cli.cmd_bootstrap,
     {"names": ["busybox", "debian:bookworm"]}),
    (["image", "inspect", "a"], cli.cmd_inspect, {"images": ["a"]}),
    (["image", "gc"], cli.cmd_gc, {}),
])
def test_parse(argv, func, fields):
    args = parser().parse_args(["--root", "/x", *argv])
    assert args.func is func
    for key, value in fields.items():
        assert getattr(args, key) == value


def test_bad_save_format_is_refused(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["save", "--format", "zip", "a"])
    assert "invalid choice" in capsys.readouterr().err


def run(tmp_path, *argv) -> int:
    args = parser().parse_args(["--root", str(tmp_path), *argv])
    return args.func(args)


def test_commands_print_docker_shapes(tmp_path, capsys, tars):
    layer = tmp_path / "rootfs.tar"
    layer.write_bytes(tars.make(tars.F("hello", b"hi")))
    assert run(tmp_path, "import", str(layer), "app:1", "-c", "CMD [\"/hello\"]") == 0
    image_id = capsys.readouterr().out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert run(tmp_path, "images") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:3] == ["app", "1", image_id[7:19]] and lines[1].endswith("2B")
    assert run(tmp_path, "image", "inspect", "app:1") == 0
    assert json.loads(capsys.readouterr().out)[0]["Config"]["Cmd"] == ["/hello"]
    assert run(tmp_path, "image", "ls", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)[0]["RepoTags"] == ["app:1"]
    assert run(tmp_path, "history", "app:1") == 0
    assert "Imported from" in capsys.readouterr().out
    assert run(tmp_path, "rmi", "app:1") == 0
    assert capsys.readouterr().out.splitlines() == ["Untagged: app:1", f"Deleted: {image_id}"]
