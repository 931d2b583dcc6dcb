import os
import stat

import pytest

from vessel.vm import cpio
from vessel.vm.disk import MIB, image_size, mkfs_argv, tree_fingerprint
from vessel.vm.initramfs import base_entries, config_entries

pytestmark = pytest.mark.unit


def test_image_size_has_headroom_and_is_mib_aligned():
    assert image_size(0) == 256 * MIB
    size = image_size(1000 * MIB)
    assert size >= 1500 * MIB and size % MIB == 0


def test_mkfs_builds_from_directory_without_mounting(tmp_path):
    argv = mkfs_argv(tmp_path / "x.raw", tmp_path / "src")
    assert argv[0] == "mkfs.ext4" and argv[argv.index("-d") + 1] == str(tmp_path / "src")


def test_fingerprint_changes_with_content(tmp_path):
    (tmp_path / "a").write_text("1")
    first = tree_fingerprint(tmp_path)
    assert tree_fingerprint(tmp_path) == first
    (tmp_path / "a").write_text("22")
    assert tree_fingerprint(tmp_path) != first


def test_base_initramfs_has_init_console_and_modules():
    data = cpio.archive(base_entries(b"BB", "6.1.0-x", {"virtio": b"KO"}, init="#!/bin/sh\n"))
    members = {name: (mode, body) for name, mode, body in cpio.read_names(data)}
    assert members["init"][1] == b"#!/bin/sh\n" and members["init"][0] & 0o111
    assert stat.S_ISCHR(members["dev/console"][0])
    assert members["bin/sh"][1] == b"busybox" and stat.S_ISLNK(members["bin/sh"][0])
    assert members["lib/modules/virtio.ko"][1] == b"KO"
    assert cpio.read_names(cpio.archive(config_entries("X=1\n")))[0][:1] == ("vessel/config.sh",)
