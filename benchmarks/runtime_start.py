#!/usr/bin/env python3
"""create+start+wait+delete of /bin/true in one busybox bundle: vessel-runtime vs runc vs crun.

crun refuses this hybrid cgroup host, so it runs in a private mount namespace
with /sys/fs/cgroup/unified unmounted, as the issue prescribes.  Prints medians
side by side and, last, `ratio_vs_crun=<x>`.

    python benchmarks/runtime_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))

from conftest import build_busybox_rootfs, make_config  # noqa: E402

VESSEL = str(REPO / ".venv" / "bin" / "vessel-runtime")


def cycle_script(runtime: str, root: str, bundle: str, cid: str) -> str:
    return (f"{runtime} --root {root} create --bundle {bundle} {cid} && "
            f"{runtime} --root {root} start {cid} && "
            f"while [ \"$({runtime} --root {root} state {cid} | grep -c '\"stopped\"')\" = 0 ]; do :; done; "
            f"{runtime} --root {root} delete {cid}")


def time_runtime(name: str, cmd_prefix: list[str], runtime: str, bundle: Path, runs: int) -> list[float]:
    root = tempfile.mkdtemp(prefix=f"bench-{name}-")
    times = []
    try:
        for i in range(runs):
            cid = f"bench{i}"
            script = cycle_script(runtime, root, str(bundle), cid)
            t0 = time.perf_counter()
            res = subprocess.run([*cmd_prefix, "sh", "-c", script], capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if res.returncode != 0:
                raise SystemExit(f"{name} failed: {res.stderr.strip()[-500:]}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    try:
        build_busybox_rootfs(work / "rootfs")
        cfg = make_config(["/bin/true"])
        cfg["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
        (work / "config.json").write_text(json.dumps(cfg))
        results = {}
        results["vessel-runtime"] = time_runtime("vessel", [], VESSEL, work, args.runs)
        if shutil.which("runc"):
            results["runc"] = time_runtime("runc", [], "runc", work, args.runs)
        if shutil.which("crun"):
            crun_prefix = ["unshare", "-m", "sh", "-c", 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', "crun-ns"]
            results["crun"] = time_runtime("crun", crun_prefix, "crun", work, args.runs)
        print(f"{'runtime':<16}{'median ms':>12}{'p10 ms':>10}{'p90 ms':>10}")
        for name, ts in results.items():
            q = statistics.quantiles(ts, n=10)
            print(f"{name:<16}{statistics.median(ts) * 1e3:>12.1f}{q[0] * 1e3:>10.1f}{q[-1] * 1e3:>10.1f}")
        v = statistics.median(results["vessel-runtime"])
        if "runc" in results:
            print(f"ratio_vs_runc={v / statistics.median(results['runc']):.2f}")
        if "crun" in results:
            print(f"ratio_vs_crun={v / statistics.median(results['crun']):.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
