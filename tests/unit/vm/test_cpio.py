import io
import stat

import pytest

from vessel.vm import cpio

pytestmark = pytest.mark.unit


def test_round_trip_keeps_names_modes_and_data():
    entries = [cpio.directory("bin"), cpio.file("bin/x", b"hello", 0o755), cpio.symlink("bin/sh", "x"),
               cpio.char_device("dev/console", 5, 1)]
    parsed = cpio.read_names(cpio.archive(entries))
    assert [(n, m) for n, m, _ in parsed] == [(e.path, e.mode) for e in entries]
    assert parsed[1][2] == b"hello"
    assert parsed[2][2] == b"x"
    assert stat.S_ISCHR(parsed[3][1])


def test_members_are_four_byte_aligned_and_archive_ends_with_trailer():
    data = cpio.archive([cpio.file("a", b"123"), cpio.file("bb", b"")])
    assert len(data) % 4 == 0
    assert b"TRAILER!!!" in data[-128:]
    assert data.count(cpio.MAGIC) == 3


def test_header_fields_are_hex_and_name_size_counts_the_nul():
    data = cpio.encode_entry(cpio.file("abc", b"xy"), ino=7)
    assert data[:6] == b"070701"
    assert int(data[6:14], 16) == 7           # ino
    assert int(data[54:62], 16) == 2          # filesize
    assert int(data[94:102], 16) == 4         # namesize: "abc" + NUL


def test_write_returns_byte_count():
    buf = io.BytesIO()
    n = cpio.write(buf, [cpio.file("a", b"1")])
    assert n == len(buf.getvalue())
