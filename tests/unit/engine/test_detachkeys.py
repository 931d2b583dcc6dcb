"""Detach keys: docker's spec format and the stdin filter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vessel.engine.detachkeys import Detector, parse
from vessel.errors import InvalidArgument

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("spec, expected", [
    ("", b"\x10\x11"), (None, b"\x10\x11"), ("ctrl-p,ctrl-q", b"\x10\x11"), ("ctrl-a", b"\x01"),
    ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", bytes([0, 27, 28, 29, 30, 31])), ("a,b,ctrl-z", b"ab\x1a"),
    ("CTRL-X", b"\x18"),
])
def test_parse(spec, expected):
    assert parse(spec) == expected


@pytest.mark.parametrize("spec", ["ctrl-", "ctrl-1", "ab", "ctrl-pq", ",", "é"])
def test_parse_refuses_bad_specs(spec):
    with pytest.raises(InvalidArgument, match="Invalid detach keys"):
        parse(spec)


def test_sequence_detaches_and_is_not_forwarded():
    d = Detector(b"\x10\x11")
    assert d.feed(b"ls\n\x10\x11more") == (b"ls\n", True)


def test_sequence_split_across_chunks():
    d = Detector(b"\x10\x11")
    assert d.feed(b"abc\x10") == (b"abc", False)
    assert d.feed(b"\x11") == (b"", True)


def test_partial_match_then_other_input_is_forwarded():
    d = Detector(b"\x10\x11")
    assert d.feed(b"x\x10") == (b"x", False)
    assert d.feed(b"y") == (b"\x10y", False)
    assert d.feed(b"\x10\x10\x11") == (b"\x10", True)


@given(st.lists(st.binary(max_size=8), max_size=12))
def test_without_the_sequence_everything_passes_in_order(chunks):
    keys = b"\x10\x11"
    data = b"".join(chunks)
    d = Detector(keys)
    out = b""
    detached = False
    for chunk in chunks:
        part, detached = d.feed(chunk)
        out += part
        if detached:
            break
    if keys in data:
        assert detached and out == data[:data.index(keys)]
    else:
        assert not detached and out + d.held == data
