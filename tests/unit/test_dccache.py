"""The dataclass code cache: hits give the same classes, a bad cache file costs only time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = str(Path(__file__).resolve().parents[2] / "src")

PROBE = r"""
import json, sys
sys.path.insert(0, SRC)
from dataclasses import FrozenInstanceError, dataclass, field, replace
from vessel import _dccache

@dataclass(frozen=True)
class Point:
    x: int
    y: int = 2
    tags: tuple = field(default_factory=tuple)

p = Point(1)
out = {"repr": repr(p), "eq": p == Point(1, 2), "ne": p != Point(1, 3), "hash": hash(p) == hash(Point(1)),
       "replace": repr(replace(p, y=5)), "new": len(_dccache._NEW), "indexed": len(_dccache._INDEX)}
try:
    p.x = 3
    out["frozen"] = False
except FrozenInstanceError:
    out["frozen"] = True
if sys.argv[1] == "write":
    out["written"] = _dccache.write()
print(json.dumps(out))
"""


def probe(tmp_path: Path, mode: str, cache: Path) -> dict:
    env = {**os.environ, "VESSEL_DCCACHE": str(cache)}
    res = subprocess.run([sys.executable, "-c", f"SRC = {SRC!r}\n" + PROBE, mode], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def test_second_process_compiles_nothing_and_classes_behave_the_same(tmp_path: Path) -> None:
    cache = tmp_path / "dc.bin"
    cold = probe(tmp_path, "write", cache)
    assert cold["new"] > 0 and cold["written"] >= cold["new"] and cache.exists()
    warm = probe(tmp_path, "read", cache)
    assert warm["new"] == 0            # every method of Point came from the cache
    assert warm["indexed"] == cold["written"]
    for k in ("repr", "eq", "ne", "hash", "replace", "frozen"):
        assert warm[k] == cold[k], k
    assert warm["repr"] == "Point(x=1, y=2, tags=())" and warm["frozen"] is True


@pytest.mark.parametrize("content", [b"", b"garbage", b"VDCC0001" + (10**6).to_bytes(8, "little") + b"x"])
def test_a_bad_cache_file_only_costs_time(tmp_path: Path, content: bytes) -> None:
    cache = tmp_path / "dc.bin"
    cache.write_bytes(content)
    out = probe(tmp_path, "read", cache)
    assert out["indexed"] == 0 and out["new"] > 0 and out["eq"] is True and out["frozen"] is True


def test_off_disables_the_cache(tmp_path: Path) -> None:
    out = probe(tmp_path, "read", Path("off"))
    assert out["indexed"] == 0 and out["repr"] == "Point(x=1, y=2, tags=())"
