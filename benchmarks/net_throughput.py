"""Network benchmark: published-port throughput vs direct, and network set-up time vs netavark.

    sudo .venv/bin/python benchmarks/net_throughput.py [--seconds 5] [--starts 40] [--json]

Everything runs inside a fresh network namespace standing in for the host
(re-exec under ``ip netns exec``), so the host's bridges, nftables and
iptables are never touched and all traffic stays inside namespaces made here.

1. Throughput: ``busybox httpd`` in a "container" namespace; ``wrk`` (Debian's
   wrk) measures requests/s through the published port (127.0.0.1:8080, DNAT)
   and straight to the container's IP.  Target: published >= 0.9x direct.
2. Set-up time: what connecting a fresh container namespace to the default
   bridge costs (veth, addresses, routes, rules), for vessel's
   ``NetworkManager.attach`` and for podman's ``netavark setup`` (if present),
   with and without a published port, and the matching teardown.  "Without a
   network" costs nothing here by definition, so these numbers are what a
   bridge network adds to a container start.  Target: <= 10 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NETAVARK = "/usr/lib/podman/netavark"
INNER_FLAG = "--inner"


def sh(*args: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, **kw)


def wrk(url: str, seconds: int) -> float:
    res = sh("wrk", "-t2", "-c32", f"-d{seconds}s", url)
    found = re.search(r"Requests/sec:\s+([\d.]+)", res.stdout)
    if not found:
        raise RuntimeError(f"wrk printed no rate for {url}: {res.stdout} {res.stderr}")
    return float(found.group(1))


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 2), "p90_ms": round(ordered[int(len(ordered) * 0.9)], 2),
            "n": len(ordered)}


def bench_throughput(mgr, seconds: int, tmp: Path) -> dict:  # noqa: ANN001
    from vessel.network import parse_publish

    www = tmp / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from the container\n" * 20)
    sh("ip", "netns", "add", "vbweb")
    httpd = None
    try:
        ep = mgr.attach("web", "bridge", "/run/netns/vbweb", name="web", ports=parse_publish("8080:80"))
        httpd = subprocess.Popen(["ip", "netns", "exec", "vbweb", "busybox", "httpd", "-f", "-p", "80", "-h", str(www)])
        deadline = time.monotonic() + 5
        while sh("curl", "-sf", "-o", "/dev/null", f"http://{ep.ip}/", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("httpd in the container namespace did not answer")
            time.sleep(0.05)
        direct = wrk(f"http://{ep.ip}/", seconds)
        published = wrk("http://127.0.0.1:8080/", seconds)
        return {"direct_rps": direct, "published_rps": published, "ratio": round(published / direct, 3)}
    finally:
        if httpd is not None:
            httpd.kill()
            httpd.wait()
        mgr.release_all("web")
        sh("ip", "netns", "del", "vbweb", check=False)


def bench_vessel_setup(mgr, starts: int, ports: bool) -> dict:  # noqa: ANN001
    from vessel.network import parse_publish

    up, down = [], []
    for i in range(starts):
        ns = f"vbs{i}"
        sh("ip", "netns", "add", ns)
        try:
            t0 = time.perf_counter()
            mgr.attach(f"s{i}", "bridge", f"/run/netns/{ns}", ports=parse_publish("9000:80") if ports else ())
            t1 = time.perf_counter()
            mgr.release_all(f"s{i}")
            up.append((t1 - t0) * 1e3)
            down.append((time.perf_counter() - t1) * 1e3)
        finally:
            sh("ip", "netns", "del", ns, check=False)
    return {"setup": summary(up), "teardown": summary(down)}


def _netavark_options(i: int, ports: bool) -> str:
    net = {"name": "podman", "id": "a" * 64, "driver": "bridge", "network_interface": "nvbench0",
           "subnets": [{"subnet": "10.77.0.0/16", "gateway": "10.77.0.1"}], "ipv6_enabled": False,
           "internal": False, "dns_enabled": False, "ipam_options": {"driver": "host-local"}}
    opts = {"container_id": f"{i:064x}", "container_name": f"s{i}",
            "networks": {"podman": {"interface_name": "eth0", "static_ips": [f"10.77.{1 + i // 250}.{2 + i % 250}"]}},
            "network_info": {"podman": net},
            "port_mappings": [{"host_ip": "", "container_port": 80, "host_port": 9001, "range": 1,
                               "protocol": "tcp"}] if ports else None}
    return json.dumps(opts)


def bench_netavark(starts: int, ports: bool, tmp: Path) -> dict | None:
    if not os.access(NETAVARK, os.X_OK):
        return None
    config = tmp / "netavark"
    config.mkdir(exist_ok=True)
    up, down = [], []
    for i in range(starts):
        ns = f"vbn{i}"
        sh("ip", "netns", "add", ns)
        opts = _netavark_options(i, ports)
        try:
            t0 = time.perf_counter()
            res = sh(NETAVARK, "--config", str(config), "setup", f"/run/netns/{ns}", input=opts, check=False)
            t1 = time.perf_counter()
            if res.returncode != 0:
                return {"error": res.stderr.strip()[-300:]}
            sh(NETAVARK, "--config", str(config), "teardown", f"/run/netns/{ns}", input=opts, check=False)
            up.append((t1 - t0) * 1e3)
            down.append((time.perf_counter() - t1) * 1e3)
        finally:
            sh("ip", "netns", "del", ns, check=False)
    return {"setup": summary(up), "teardown": summary(down)}


def inner(args: argparse.Namespace) -> dict:
    from vessel.network.manager import Config, NetworkManager

    sh("ip", "link", "set", "lo", "up")
    tmp = Path(tempfile.mkdtemp(prefix="vessel-netbench-"))
    cfg = Config(table="vbench", default_bridge="vbench0", upstreams=())
    results: dict = {"kernel": os.uname().release}
    try:
        with NetworkManager(tmp / "root", config=cfg) as mgr:
            try:
                mgr.ensure_default()
                if shutil.which("wrk"):
                    results["throughput"] = bench_throughput(mgr, args.seconds, tmp)
                else:
                    results["throughput"] = {"error": "wrk not installed (apt-get install wrk)"}
                results["vessel_setup_no_ports"] = bench_vessel_setup(mgr, args.starts, ports=False)
                results["vessel_setup_one_port"] = bench_vessel_setup(mgr, args.starts, ports=True)
            finally:
                mgr.purge()
        results["netavark_setup_no_ports"] = bench_netavark(args.starts, False, tmp)
        results["netavark_setup_one_port"] = bench_netavark(args.starts, True, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def report(res: dict) -> str:
    lines = [f"kernel {res['kernel']}"]
    tp = res.get("throughput", {})
    if "ratio" in tp:
        lines.append(f"HTTP through published port: {tp['published_rps']:.0f} req/s; direct to container IP: "
                     f"{tp['direct_rps']:.0f} req/s; ratio {tp['ratio']:.2f} (target >= 0.9)")
    else:
        lines.append(f"throughput: {tp.get('error')}")
    lines.append(f"{'network set-up per container':34} {'setup median':>12} {'p90':>8} {'teardown':>10}")
    for key in ("vessel_setup_no_ports", "vessel_setup_one_port", "netavark_setup_no_ports", "netavark_setup_one_port"):
        row = res.get(key)
        if not row:
            lines.append(f"{key:34} (not available)")
        elif "error" in row:
            lines.append(f"{key:34} error: {row['error']}")
        else:
            lines.append(f"{key:34} {row['setup']['median_ms']:>10.1f}ms {row['setup']['p90_ms']:>6.1f}ms "
                         f"{row['teardown']['median_ms']:>8.1f}ms")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per target")
    parser.add_argument("--starts", type=int, default=40, help="containers connected per set-up measurement")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(INNER_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces, nftables)", file=sys.stderr)
        return 2
    if args.inner:
        print(json.dumps(inner(args)))
        return 0
    host_ns = f"vbhost{os.getpid()}"
    sh("ip", "netns", "add", host_ns)
    try:
        res = sh("ip", "netns", "exec", host_ns, sys.executable, __file__, INNER_FLAG,
                 "--seconds", str(args.seconds), "--starts", str(args.starts), check=False)
    finally:
        sh("ip", "netns", "del", host_ns, check=False)
    if res.returncode != 0:
        print(res.stdout + res.stderr, file=sys.stderr)
        return 1
    results = json.loads(res.stdout.strip().splitlines()[-1])
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
