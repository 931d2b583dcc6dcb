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
3. Cold set-up: ``vessel run`` is daemonless, so every start is a fresh Python
   process that also pays for importing the network code.  A fresh
   ``/usr/bin/python3 -S`` (sys.path as the ``.venv/bin/vessel`` launcher sets
   it) imports what a ``--network none`` run imports anyway, then the network
   modules, then does what ``vessel run`` does for a bridge network
   (``ensure_default``, ``attach``, ``hosts_file``, ``resolv_conf``).  Reported:
   the network part measured inside the process (imports + set-up), and the
   wall-clock difference against the same process without the network part.
   Byte-code is cached (as for an installed vessel) in a temporary
   PYTHONPYCACHEPREFIX, after one warm-up run.  The "prefetch" row shows what
   would be left if the engine imported the network code and ran
   ``ensure_default`` in a thread while it waits for conmon and the runtime
   (here a stand-in: a python importing ``vessel.runtime.cli``).
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
REPO = Path(__file__).resolve().parent.parent
LAUNCHER = REPO / ".venv" / "bin" / "vessel"
COLD_PYTHON = "/usr/bin/python3"
# what a `vessel run --network none` process imports anyway (python -X importtime of such a run)
RUN_IMPORTS = ("vessel.cli.main", "vessel.engine.engine", "vessel.engine.bundle", "vessel.engine.specgen",
               "vessel.image.store", "vessel.oci.spec")
COLD_CHILD = r"""
import sys, time
exec(sys.argv[1])                                   # the launcher's sys.path lines
import json, subprocess, threading
job = json.loads(sys.argv[2])
for name in job["imports"]:
    __import__(name)
t1 = time.perf_counter()
box = {}


def prepare():                                      # what `vessel run` needs before attaching
    import logging                                  # as Engine.net does
    from pathlib import Path
    from vessel.network.manager import Config, NetworkManager
    from vessel.network.ports import parse_publish
    box["imported"] = time.perf_counter()
    box["mgr"] = NetworkManager(Path(job["root"]), config=Config(**job["config"]))
    box["mgr"].ensure_default()
    box["ports"] = parse_publish(job["publish"]) if job["publish"] else ()
    box["ready"] = time.perf_counter()


thread = threading.Thread(target=prepare) if job["attach"] and job["prefetch"] else None
if thread:
    thread.start()
if job["standin"]:                                  # stands for conmon + `vessel-runtime create`
    subprocess.run(job["standin"], check=True)
t2 = time.perf_counter()
out = {}
if job["attach"]:
    t_prepare = time.perf_counter()
    thread.join() if thread else prepare()
    mgr = box["mgr"]
    mgr.attach(job["cid"], "bridge", job["netns"], name=job["cid"], ports=box["ports"])
    mgr.hosts_file(job["cid"], hostname=job["cid"])
    mgr.resolv_conf(job["cid"])
    t3 = time.perf_counter()
    mgr.close()
    start = t1 if thread else t_prepare
    out = {"import_ms": (box["imported"] - start) * 1e3, "ensure_default_ms": (box["ready"] - box["imported"]) * 1e3,
           "attach_ms": (t3 - max(box["ready"], t2)) * 1e3, "network_ms": (t3 - t2) * 1e3}
out["modules"] = sorted(m for m in sys.modules if m.startswith(("pyroute2", "nftables", "vessel.network")))
print(json.dumps(out))
"""


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


def launcher_paths(launcher: Path = LAUNCHER) -> str:
    """The ``sys.path`` lines of the vessel launcher (scripts/write_launchers.py), as code."""
    try:
        lines = launcher.read_text().splitlines()
    except FileNotFoundError:
        return f"import sys; sys.path[0:0] = [{str(REPO / 'src')!r}]"
    return "\n".join(ln for ln in lines if ln.startswith(("import sys", "sys.path")))


def _cold_run(job: dict, env: dict, paths: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    res = sh(COLD_PYTHON, "-S", "-c", COLD_CHILD, paths, json.dumps(job), env=env, check=False)
    wall = (time.perf_counter() - t0) * 1e3
    if res.returncode != 0:
        raise RuntimeError(f"cold child failed: {res.stderr.strip()[-2000:]}")
    return wall, json.loads(res.stdout)


def bench_vessel_cold(mgr, cfg_fields: dict, starts: int, ports: bool, tmp: Path,  # noqa: ANN001
                      prefetch: bool = False) -> dict:
    """Fresh processes doing what `vessel run` does for a bridge network, against the same process without it.

    ``prefetch``: the network modules are imported and ``ensure_default`` runs in a thread while the
    process waits for a stand-in of the runtime (a python importing ``vessel.runtime.cli``); only what
    is left after the stand-in returns counts as network time.
    """
    paths = launcher_paths()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    standin = [COLD_PYTHON, "-S", "-c", paths + "\nimport vessel.runtime.cli"] if prefetch else None
    base_job = {"imports": list(RUN_IMPORTS), "attach": False, "prefetch": prefetch, "standin": standin}
    parts: dict[str, list[float]] = {"import_ms": [], "ensure_default_ms": [], "attach_ms": [], "network_ms": []}
    added, modules = [], []
    for i in range(-1, starts):                     # run -1 warms the byte-code cache
        ns = f"vbc{i + 1}"
        sh("ip", "netns", "add", ns)
        cid = f"c{i + 1}"
        job = dict(base_job, attach=True, root=str(mgr.root), config=cfg_fields, cid=cid, netns=f"/run/netns/{ns}",
                   publish="9100:80" if ports else "")
        try:
            base_wall, _ = _cold_run(base_job, env, paths)
            wall, out = _cold_run(job, env, paths)
        finally:
            mgr.release_all(cid)
            sh("ip", "netns", "del", ns, check=False)
        if i < 0:
            continue
        added.append(wall - base_wall)
        modules = out.pop("modules")
        for key, value in out.items():
            parts[key].append(value)
    result = {key: summary(values) for key, values in parts.items()}
    result["wall_added"] = summary(added)
    result["modules"] = modules
    return result


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
                fields = {"table": cfg.table, "default_bridge": cfg.default_bridge, "upstreams": []}
                results["vessel_cold_no_ports"] = bench_vessel_cold(mgr, fields, args.cold_starts, False, tmp)
                results["vessel_cold_one_port"] = bench_vessel_cold(mgr, fields, args.cold_starts, True, tmp)
                results["vessel_cold_prefetch_no_ports"] = bench_vessel_cold(mgr, fields, args.cold_starts, False, tmp,
                                                                             prefetch=True)
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
    lines += ["", "cold: a fresh `python3 -S` per container, as `vessel run` (medians; target <= 10 ms added)",
              f"{'':24} {'network part':>12} {'p90':>7} {'imports':>8} {'ensure_default':>15} {'attach':>7} "
              f"{'wall added':>11} {'p90':>7}"]
    for key in ("vessel_cold_no_ports", "vessel_cold_one_port", "vessel_cold_prefetch_no_ports"):
        row = res.get(key)
        if not row:
            continue
        lines.append(f"{key:24} {row['network_ms']['median_ms']:>10.1f}ms {row['network_ms']['p90_ms']:>5.1f}ms "
                     f"{row['import_ms']['median_ms']:>6.1f}ms {row['ensure_default_ms']['median_ms']:>13.1f}ms "
                     f"{row['attach_ms']['median_ms']:>5.1f}ms {row['wall_added']['median_ms']:>9.1f}ms "
                     f"{row['wall_added']['p90_ms']:>5.1f}ms")
    for key in ("netavark_setup_no_ports", "netavark_setup_one_port"):
        row = res.get(key)
        if row and "setup" in row:
            lines.append(f"{key:24} {row['setup']['median_ms']:>10.1f}ms {row['setup']['p90_ms']:>5.1f}ms "
                         "(a fresh netavark process each time: comparable with the cold figures)")
    modules = (res.get("vessel_cold_no_ports") or {}).get("modules")
    if modules is not None:
        heavy = [m for m in modules if not m.startswith("vessel.")]
        lines.append(f"network modules loaded by a cold attach: {len(modules)}; outside vessel: {heavy or 'none'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per target")
    parser.add_argument("--starts", type=int, default=40, help="containers connected per set-up measurement")
    parser.add_argument("--cold-starts", type=int, default=20, help="fresh processes per cold measurement")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(INNER_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.starts, args.cold_starts) < 1:
        parser.error("--starts and --cold-starts must be at least 1")
    if os.geteuid() != 0:
        print("needs root (network namespaces, nftables)", file=sys.stderr)
        return 2
    if args.inner:
        print(json.dumps(inner(args)))
        return 0
    host_ns = f"vbhost{os.getpid()}"
    sh("ip", "netns", "add", host_ns)
    try:
        res = sh("ip", "netns", "exec", host_ns, sys.executable, __file__, INNER_FLAG, "--seconds", str(args.seconds),
                 "--starts", str(args.starts), "--cold-starts", str(args.cold_starts), check=False)
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
