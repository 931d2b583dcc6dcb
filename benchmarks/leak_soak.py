#!/usr/bin/env python3
"""Leak soak: N `vessel run --rm busybox true` cycles; prints the deltas of the mount table,
cgroup directories, nft rules, links and the size of the vessel root (all should be 0).

    python benchmarks/leak_soak.py [--cycles 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VESSEL = str(REPO / ".venv" / "bin" / "vessel")


def snapshot(root: Path) -> dict[str, int]:
    cgroups = sum(len(dirs) for base in Path("/sys/fs/cgroup").iterdir() if (base / "vessel").is_dir()
                  for _d, dirs, _f in os.walk(base / "vessel"))
    size = sum(os.lstat(os.path.join(d, f)).st_size for d, _dirs, files in os.walk(root) for f in files
               if not f.startswith("engine.db"))
    return {
        "mounts": Path("/proc/self/mountinfo").read_text().count("\n"),
        "cgroup dirs": cgroups,
        "links": len(os.listdir("/sys/class/net")),
        "nft lines": subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout.count("\n"),
        "root bytes (without db)": size,
        "containers": len(list((root / "containers").iterdir())) if (root / "containers").exists() else 0,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--network", default="bridge")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="soak-")) / "root"
    run = [VESSEL, "--root", str(root), "run", "--rm", "--network", args.network, "busybox", "true"]
    subprocess.run(run, check=True)
    before = snapshot(root)
    t0 = time.perf_counter()
    for i in range(args.cycles):
        subprocess.run(run, check=True)
    elapsed = time.perf_counter() - t0
    after = snapshot(root)
    print(f"{args.cycles} cycles in {elapsed:.1f} s ({elapsed / args.cycles * 1e3:.0f} ms each)")
    print(f"{'what':<26}{'before':>12}{'after':>12}{'delta':>8}")
    for key in before:
        print(f"{key:<26}{before[key]:>12}{after[key]:>12}{after[key] - before[key]:>8}")
    subprocess.run([VESSEL, "--root", str(root), "system", "reset", "--force"], capture_output=True)
    return 0 if all(after[k] == before[k] for k in before) else 1


if __name__ == "__main__":
    sys.exit(main())
