#!/usr/bin/env python3
"""`vessel run --rm busybox true` vs `podman run --rm --network none` (runc: crun refuses this hybrid host) vs crun on a bare bundle.

Medians side by side in one run; podman uses the two --ulimit flags this host
needs (it lacks CAP_SYS_RESOURCE); crun runs in a private mount namespace with
/sys/fs/cgroup/unified unmounted (it refuses hybrid hosts).  Also prints the
host memory (PSS) of the monitor of one idle container (conmon), the issue's
<= 2 MiB target.

    python benchmarks/run_start.py [--runs N] [--network none|bridge]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VESSEL = str(REPO / ".venv" / "bin" / "vessel")
sys.path.insert(0, str(REPO / "tests" / "integration"))
from conftest import build_busybox_rootfs, make_config  # noqa: E402

PODMAN_ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=32768:32768"]


def timed(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True)
        out.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {res.stderr.decode()[-400:]}")
    return out


def pss_kib(pid: int) -> int:
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            total += int(line.split()[1])
    return total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--network", default="none")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-run-"))
    root = work / "vessel"
    results: dict[str, list[float]] = {}
    try:
        subprocess.run([VESSEL, "--root", str(root), "image", "bootstrap", "busybox"], check=True, capture_output=True)
        subprocess.run([VESSEL, "--root", str(root), "run", "--rm", "busybox", "true"], check=True)  # warm caches
        results["vessel run --rm"] = timed([VESSEL, "--root", str(root), "run", "--rm", "--network", args.network,
                                            "busybox", "true"], args.runs)
        bundle = work / "bundle"
        build_busybox_rootfs(bundle / "rootfs")
        (bundle / "config.json").write_text(json.dumps(make_config(["/bin/true"])))
        if shutil.which("crun"):
            script = f'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root {work}/crun run --bundle {bundle} "bench$$"'
            results["crun (bare bundle)"] = timed(["unshare", "-m", "sh", "-c", script], args.runs)
        if shutil.which("podman"):
            tar = work / "rootfs.tar"
            with tarfile.open(tar, "w") as tf:
                tf.add(bundle / "rootfs", arcname=".")
            subprocess.run(["podman", "import", str(tar), "localhost/bench-busybox:latest"], check=True, capture_output=True)
            results["podman run --rm"] = timed(["podman", "--runtime", "runc", "run", "--rm", "--network", "none", *PODMAN_ULIMITS,
                                                "localhost/bench-busybox", "true"], max(5, args.runs // 2))
            subprocess.run(["podman", "rmi", "-f", "localhost/bench-busybox"], capture_output=True)
        print(f"{'what':<22}{'median ms':>12}{'min ms':>10}")
        for name, ts in results.items():
            print(f"{name:<22}{statistics.median(ts) * 1e3:>12.1f}{min(ts) * 1e3:>10.1f}")
        v = statistics.median(results["vessel run --rm"])
        cid = subprocess.run([VESSEL, "--root", str(root), "run", "-d", "--network", "none", "busybox", "sleep", "60"],
                             check=True, capture_output=True, text=True).stdout.strip()
        conmon_pid = int((root / "containers" / cid / "conmon.pid").read_text())
        time.sleep(0.5)
        print(f"conmon PSS per idle container: {pss_kib(conmon_pid)} KiB")
        subprocess.run([VESSEL, "--root", str(root), "rm", "-f", cid], capture_output=True)
        if "crun (bare bundle)" in results:
            print(f"ratio_vs_crun={v / statistics.median(results['crun (bare bundle)']):.2f}")
        if "podman run --rm" in results:
            print(f"speedup_vs_podman={statistics.median(results['podman run --rm']) / v:.2f}")
    finally:
        subprocess.run([VESSEL, "--root", str(root), "system", "reset", "--force"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
