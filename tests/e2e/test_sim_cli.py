"""`vessel sim` driven as a user drives it: the installed console script, in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def vessel_bin() -> str:
    local = REPO / ".venv" / "bin" / "vessel"       # /work/main/.venv/bin/vessel in the main checkout
    if local.exists():
        return str(local)
    found = shutil.which("vessel")
    assert found, "the vessel console script is not installed (run scripts/setup.sh)"
    return found


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([vessel_bin(), "sim", *args], capture_output=True, text=True, timeout=timeout)


def test_placement_json_compares_every_policy(tmp_path):
    plot = tmp_path / "placement.png"
    out = run("placement", "--machines", "200", "--requests", "2000", "--seed", "3", "--json",
              "--plot", str(plot))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    names = {"first-fit", "ffd", "best-fit", "bfd", "worst-fit", "next-fit", "dot-product", "l2-norm", "random"}
    assert set(doc["policies"]) == names
    for name, m in doc["policies"].items():
        assert m["placements_per_s"] > 0
        assert m["machines_used_peak"] >= m["lower_bound_peak"] > 0
        assert m["ratio_to_lower_bound"] == pytest.approx(m["machines_used_peak"] / m["lower_bound_peak"], abs=1e-3)
        assert m["rejected"] == 0, name
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_placement_table_subset_of_policies_with_rebalancer():
    out = run("placement", "--machines", "100", "--requests", "1500", "--policy", "bfd,worst-fit",
              "--seed", "1", "--rebalance", "900")
    assert out.returncode == 0, out.stderr
    assert "bfd" in out.stdout and "worst-fit" in out.stdout and "first-fit" not in out.stdout
    assert "ReBalancer:" in out.stdout and "machines freed by" in out.stdout


def test_placement_trace_replay(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("id,arrival,lifetime,cpu,memory\n"
                     "a,0,100,30000,1024\nb,1,100,30000,1024\nc,2,,20000,1024\nd,3,5,48000,1024\n")
    # a and b fill m0 and m1 to 30 of 48 cores; c (20) fits neither, opens m2; d (48) fits nowhere.
    out = run("placement", "--machines", "3", "--trace", str(trace), "--policy", "best-fit",
              "--batch", "1", "--machine-shape", "cpu=48000,memory=196608", "--json")
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)["policies"]["best-fit"]
    assert m["machines_used_peak"] == 3 and m["lower_bound_peak"] == 2 and m["rejected"] == 1


def test_placement_errors_are_one_line_not_tracebacks(tmp_path):
    out = run("placement", "--policy", "nope")
    assert out.returncode != 0 and out.stderr.startswith("Error: unknown placement policy 'nope'")
    assert "Traceback" not in out.stderr
    out = run("placement", "--trace", str(tmp_path / "none.csv"))
    assert out.returncode != 0 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_scaleout_reproduces_both_scenarios(tmp_path):
    plot = tmp_path / "scaleout.png"
    out = run("scaleout", "--requests", "3000", "--servers", "2,4,8", "--rate", "80,500", "--json",
              "--plot", str(plot))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    by = {s["name"]: s for s in doc["scenarios"]}
    assert set(by) == {"fast", "slow"}
    for rate in ("80", "500"):
        assert by["fast"]["verdict"][rate].startswith("scale-out hurts")
        assert by["slow"]["verdict"][rate].startswith("scale-out helps")
    direct = [r for r in by["fast"]["results"] if r["label"] == "direct"]
    assert all(r["mean_ms"] > 0 and r["p99_ms"] >= r["p50_ms"] for r in direct)
    assert plot.stat().st_size > 1000


def test_scaleout_table_with_formula_column():
    out = run("scaleout", "--scenario", "slow", "--requests", "3000", "--servers", "4", "--rate", "200",
              "--dispatch", "central")
    assert out.returncode == 0, out.stderr
    assert "M/M/c mean ms" in out.stdout and "LB+4" in out.stdout and "direct" in out.stdout
