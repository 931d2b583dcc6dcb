#!/usr/bin/env python3
"""`docker run --rm busybox true` through vessel's socket vs through `podman system service`, vs the
daemonless `vessel run --rm busybox true`, and `docker ps` latency; medians side by side in one run.

    sudo .venv/bin/python benchmarks/api.py [--runs 15] [--network bridge|none]

Set-up (all private, removed at the end): `vessel daemon` on a temporary socket and root; `podman
system service --time=0` on /tmp/podman.sock with its own storage, `--runtime runc` (crun refuses
this host's hybrid cgroup layout), and vessel's bootstrapped busybox layer `podman import`ed as
busybox:latest (nothing is pulled).  podman's containers need this host's two `--ulimit` flags;
the docker CLI passes them on its command line for podman only.  Each sample times the whole docker
(or vessel) command, process start to exit.  Targets (issue 8): vessel <= 0.25x podman; `docker ps`
<= 20 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VESSEL = str(Path(sys.executable).with_name("vessel"))
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
PODMAN_SOCK = "/tmp/podman.sock"
PODMAN_ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=32768:32768"]


def answers(sock: str) -> bool:
    from vessel.cli.daemon import answers as daemon_answers

    return daemon_answers(sock, timeout=2)


def wait_for(sock: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode}")
        if answers(sock):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not answer on {sock}")


def timed(argv: list[str], env: dict | None = None) -> float:
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=120)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
    return took


def busybox_layer(root: Path) -> Path:
    from vessel.image import Store

    store = Store(root)
    image = store.ensure_base("busybox")
    return store.blobs.path(image.manifest.layers[0].digest)


def sample(label: str, argv: list[str], env: dict | None, runs: int, out: dict[str, list[float]]) -> None:
    timed(argv, env)  # warm-up
    out[label] = [timed(argv, env) for _ in range(runs)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--network", choices=("bridge", "none"), default="bridge")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: both daemons run containers")
    net = [] if args.network == "bridge" else ["--network", "none"]
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="vessel-bench-api-") as tmp:
        base = Path(tmp)
        root, vsock = base / "vessel", str(base / "vessel.sock")
        layer = busybox_layer(root)
        podman = ["podman", "--root", str(base / "podman"), "--runroot", str(base / "podman-run"),
                  "--storage-driver", "overlay", "--runtime", "runc"]
        subprocess.run([*podman, "import", str(layer), "docker.io/library/busybox:latest"], check=True,
                       capture_output=True)
        if os.path.exists(PODMAN_SOCK):
            os.unlink(PODMAN_SOCK)
        vlog, plog = open(base / "vessel.log", "wb"), open(base / "podman.log", "wb")
        vessel_d = subprocess.Popen([VESSEL, "--root", str(root), "daemon", "--host", f"unix://{vsock}"],
                                    stdout=vlog, stderr=vlog)
        podman_d = subprocess.Popen([*podman, "system", "service", "--time=0", f"unix://{PODMAN_SOCK}"],
                                    stdout=plog, stderr=plog)
        try:
            wait_for(vsock, vessel_d, "vessel daemon")
            wait_for(PODMAN_SOCK, podman_d, "podman system service")
            venv = {**os.environ, "DOCKER_HOST": f"unix://{vsock}"}
            penv = {**os.environ, "DOCKER_HOST": f"unix://{PODMAN_SOCK}"}
            run = [DOCKER, "run", "--rm", *net]
            sample("docker run via vessel", [*run, "busybox", "true"], venv, args.runs, times)
            sample("docker run via podman", [*run, *PODMAN_ULIMITS, "busybox", "true"], penv, args.runs, times)
            sample("vessel run (daemonless)", [VESSEL, "--root", str(root), "run", "--rm", *net, "busybox", "true"],
                   None, args.runs, times)
            sample("docker ps via vessel", [DOCKER, "ps"], venv, args.runs, times)
            sample("docker ps via podman", [DOCKER, "ps"], penv, args.runs, times)
        finally:
            for proc in (vessel_d, podman_d):
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            vlog.close()
            plog.close()
            subprocess.run([*podman, "system", "reset", "-f"], capture_output=True, check=False)
            subprocess.run([VESSEL, "--root", str(root), "system", "reset", "--force"], capture_output=True,
                           check=False)
            if os.path.exists(PODMAN_SOCK):
                os.unlink(PODMAN_SOCK)
    report(times, args)
    return 0


def report(times: dict[str, list[float]], args) -> None:
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"{args.runs} runs each, network {args.network}, medians (min-max):")
    for label, values in times.items():
        print(f"  {label:26} {med[label]:7.1f} ms   ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})")
    ratio = med["docker run via vessel"] / med["docker run via podman"]
    print(f"docker run: vessel/podman = {ratio:.2f}x (target <= 0.25x: {'met' if ratio <= 0.25 else 'NOT met'}); "
          f"vessel daemon/daemonless = {med['docker run via vessel'] / med['vessel run (daemonless)']:.2f}x")
    print(f"docker ps via vessel: {med['docker ps via vessel']:.1f} ms "
          f"(target <= 20 ms: {'met' if med['docker ps via vessel'] <= 20 else 'NOT met'})")


if __name__ == "__main__":
    sys.exit(main())
