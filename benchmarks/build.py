#!/usr/bin/env python3
"""Cold and fully cached builds of one 10-instruction, two-stage Dockerfile: `vessel build` vs `podman build`.

    sudo .venv/bin/python benchmarks/build.py [--runs 5] [--isolation oci|chroot]

Both start from the same base: vessel's bootstrapped busybox image, whose layer tar is
`podman import`ed as docker.io/library/busybox:latest into a private podman storage (nothing
is pulled, the host's podman images are not touched).  Each run times the whole command
(process start to exit):

* cold:   `build --no-cache` (every RUN and COPY executed, base image present);
* cached: the same build again: vessel answers from its build memo (inputs unchanged, nothing
          parsed or run), podman from its layer cache;
* layers: vessel with only a comment of the Dockerfile edited: the memo misses, every step is
          parsed, planned and found in the layer cache (podman: its cached time again).

podman needs this host's two `--ulimit` flags for RUN steps and runc (crun refuses the hybrid
cgroup layout); `--isolation chroot` is the lighter alternative.  Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCKERFILE = """\
FROM busybox AS build
WORKDIR /src
COPY app.sh config.txt ./
RUN sh app.sh > out.txt
RUN cat config.txt >> out.txt
FROM busybox
ENV APP=/app
COPY --from=build /src/out.txt /app/out.txt
RUN cat /app/out.txt
CMD ["cat", "/app/out.txt"]
"""
PODMAN_ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=32768:32768")


def timed(argv: list[str]) -> float:
    began = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    took = time.monotonic() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return took


def make_context(base: Path) -> Path:
    ctx = base / "context"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "app.sh").write_text("echo building\nfor i in 1 2 3; do echo line $i; done\n")
    (ctx / "config.txt").write_text("mode=bench\n")
    return ctx


def busybox_layer(root: Path) -> Path:
    from vessel.image import Store

    store = Store(root)
    image = store.ensure_base("busybox")
    return store.blobs.path(image.manifest.layers[0].digest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--isolation", choices=("oci", "chroot"), default="oci")
    args = parser.parse_args()
    vessel = str(Path(sys.executable).with_name("vessel"))
    with tempfile.TemporaryDirectory(prefix="vessel-bench-build-") as tmp:
        base = Path(tmp)
        ctx = make_context(base)
        root = base / "vessel"
        podman = ["podman", "--root", str(base / "podman"), "--runroot", str(base / "podman-run"),
                  "--storage-driver", "overlay"]
        if args.isolation == "oci":
            podman += ["--runtime", "runc"]
        subprocess.run([*podman, "import", str(busybox_layer(root)), "docker.io/library/busybox:latest"],
                       check=True, capture_output=True)
        def v_build(*extra: str) -> list[str]:
            return [vessel, "--root", str(root), "build", "-q", *extra, "-t", "bench:1", str(ctx)]

        def p_build(*extra: str) -> list[str]:  # --pull=never: the base is local, nothing may be fetched
            return [*podman, "build", "-q", "--pull=never", "--isolation", args.isolation, *PODMAN_ULIMITS, *extra,
                    "-t", "bench:1", str(ctx)]

        timed(v_build())  # warm-up: page cache, first run of each tool
        timed(p_build())
        times: dict[str, list[float]] = {k: [] for k in ("vessel cold", "vessel cached", "vessel layers",
                                                         "podman cold", "podman cached")}
        for run in range(args.runs):
            times["vessel cold"].append(timed(v_build("--no-cache")))
            times["vessel cached"].append(timed(v_build()))
            (ctx / "Dockerfile").write_text(DOCKERFILE + f"# edit {run}\n")
            times["vessel layers"].append(timed(v_build()))
            (ctx / "Dockerfile").write_text(DOCKERFILE)
            times["podman cold"].append(timed(p_build("--no-cache")))
            times["podman cached"].append(timed(p_build()))
        subprocess.run([*podman, "system", "reset", "-f"], capture_output=True, check=False)
        # RUN steps used this root's own default bridge: remove it and its nftables table
        subprocess.run([vessel, "--root", str(root), "system", "reset", "-f"], capture_output=True, check=False)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"10-instruction two-stage Dockerfile, {args.runs} runs, podman isolation={args.isolation}, medians:")
    print(f"{'':8} {'vessel':>9} {'podman':>9} {'ratio':>7}")
    for kind in ("cold", "cached", "layers"):
        v, p = med[f"vessel {kind}"], med[f"podman {'cached' if kind == 'layers' else kind}"]
        print(f"{kind:8} {v:8.3f}s {p:8.3f}s {v / p:6.2f}x")
    print(f"targets: cached < 0.3 s: {'met' if med['vessel cached'] < 0.3 else 'NOT met'}; "
          f"cached <= 0.3x podman: {'met' if med['vessel cached'] <= 0.3 * med['podman cached'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
