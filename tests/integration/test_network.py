"""The network layer against the real kernel: network namespaces stand in for containers.

Safety: every address used comes from 10.x.y.0/24 ranges checked against the
host's routes first; traffic goes only to loopback, to the test bridges'
addresses and to namespaces created here.  Bridges, veths, namespaces, the
nftables table and resolver processes are removed at teardown whatever
happens; ip_forward is restored.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vessel.network import dns, dnswire, plan
from vessel.network.manager import Config, NetworkManager
from vessel.network.ports import parse_publish

pytestmark = pytest.mark.integration

PY = sys.executable
SERVER = r"""
import socket, sys
proto, port, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if proto == "tcp":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16); print("ready", flush=True)
    while True:
        c, peer = s.accept(); c.sendall(("hello from %s to %s\n" % (label, peer[0])).encode()); c.close()
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port)); print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(100); s.sendto(b"udp hello to " + peer[0].encode(), peer)
"""
CLIENT = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    with socket.create_connection((host, port), timeout=float(sys.argv[3])) as c:
        print(c.recv(200).decode().strip())
except OSError as e:
    print("ERR", type(e).__name__)
"""
DNS_CLIENT = r"""
import socket, struct, sys
server, proto, query = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); s.sendto(query, (server, 53))
    print(s.recv(4096).hex())
else:
    c = socket.create_connection((server, 53), timeout=3); c.sendall(struct.pack("!H", len(query)) + query)
    n = struct.unpack("!H", c.recv(2))[0]; data = b""
    while len(data) < n: data += c.recv(n - len(data))
    print(data.hex())
"""


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check)


def host_routes() -> list[ipaddress.IPv4Network]:
    out = json.loads(sh("ip", "-j", "-4", "route", "show", "table", "all").stdout)
    nets = []
    for r in out:
        dst = r.get("dst", "")
        if dst and dst != "default" and ":" not in dst:
            nets.append(ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False))
    return nets


def free_subnets(n: int) -> list[str]:
    """n /24s of 10.200.0.0-10.250.255.0 that overlap no host route."""
    routed = host_routes()
    rng = random.Random()
    out: list[str] = []
    while len(out) < n:
        cand = ipaddress.ip_network(f"10.{rng.randint(200, 250)}.{rng.randint(0, 255)}.0/24")
        if not any(cand.overlaps(r) for r in routed) and str(cand) not in out:
            out.append(str(cand))
    return out


def wait_ready(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "server in the namespace did not start"
    assert proc.stdout.readline().strip() == "ready"


class Lab:
    """Namespaces, processes and host links made by one test; all removed by `cleanup`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.links: list[str] = []

    def netns(self) -> str:
        name = f"{self.prefix}n{len(self.namespaces)}"
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        return name

    def serve(self, ns: str, port: int, proto: str = "tcp") -> None:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", SERVER, proto, str(port), ns],
                                stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        wait_ready(proc)

    def cleanup(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        for link in self.links:
            sh("ip", "link", "del", link, check=False)
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)


def run_in(ns: str, code: str, *args: str) -> str:
    return sh("ip", "netns", "exec", ns, PY, "-c", code, *args).stdout.strip()


def tcp_from(ns: str, host: str, port: int, timeout: float = 2.0) -> str:
    return run_in(ns, CLIENT, host, str(port), str(timeout))


def tcp_from_host(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=2) as c:
            return c.recv(200).decode().strip()
    except OSError as err:
        return f"ERR {type(err).__name__}"


def dns_query(ns: str, server: str, name: str, proto: str = "udp") -> tuple[int, list[str]]:
    query = dnswire.build_query(random.randrange(65536), name)
    return dnswire.answers_of(bytes.fromhex(run_in(ns, DNS_CLIENT, server, proto, query.hex())))


class FakeUpstream:
    """A DNS server on 127.0.0.1 (host loopback) answering every A query with 198.51.100.7."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.queries: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            q = dnswire.parse_query(data)
            self.queries.append(q.name)
            self.sock.sendto(dnswire.answer(q, ["198.51.100.7"]), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def ip_forward():
    path = Path("/proc/sys/net/ipv4/ip_forward")
    before = path.read_text().strip()
    yield
    path.write_text(before)


@pytest.fixture
def upstream():
    up = FakeUpstream()
    yield up
    up.close()


@pytest.fixture
def env(ip_forward, upstream, tmp_path):
    """(manager, lab, subnets): a vessel network root of its own, with unique names and free ranges."""
    tag = "vt%04x" % random.randrange(16 ** 4)
    subnets = free_subnets(4)
    cfg = Config(table=tag, default_bridge=f"{tag}b0", default_subnet=subnets[0], user_pool=subnets[1],
                 user_prefix=28, bridge_prefix=f"{tag}u", upstreams=(upstream.address,))
    mgr = NetworkManager(tmp_path / "root", config=cfg)
    lab = Lab(tag)
    try:
        yield mgr, lab, subnets
    finally:
        try:
            mgr.purge()
        finally:
            mgr.close()
            lab.cleanup()
            leftovers = [ln for ln in sh("ip", "-o", "link").stdout.split("\n") if f" {tag}" in ln]
            for line in leftovers:
                sh("ip", "link", "del", line.split(":")[1].strip().split("@")[0], check=False)
            sh("nft", "delete", "table", "inet", tag, check=False)
            assert not leftovers, f"links left behind: {leftovers}"


def nft_table(table: str) -> list[dict]:
    res = sh("nft", "-j", "list", "table", "inet", table, check=False)
    return json.loads(res.stdout)["nftables"][1:] if res.returncode == 0 else []


def without_handles(listing: list[dict]) -> list[dict]:
    """The table is rewritten whenever published ports change: compare it without handles."""
    return [{k: {kk: vv for kk, vv in v.items() if kk != "handle"} for k, v in o.items()} for o in listing]


def link_names() -> set[str]:
    return {ln.split(":")[1].strip().split("@")[0] for ln in sh("ip", "-o", "link").stdout.splitlines()}


# ---------------------------------------------------------------------------------------

def test_two_containers_talk_on_the_default_bridge(env):
    mgr, lab, _ = env
    net = mgr.ensure_default()
    a_ns, b_ns = lab.netns(), lab.netns()
    a = mgr.attach("ca", "bridge", f"/run/netns/{a_ns}", name="a")
    b = mgr.attach("cb", "bridge", f"/run/netns/{b_ns}", name="b")
    assert ipaddress.ip_address(a.ip) in ipaddress.ip_network(net.subnet)
    ping = sh("ip", "netns", "exec", b_ns, "busybox", "ping", "-c", "1", "-W", "2", a.ip, check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    lab.serve(a_ns, 7000)
    assert tcp_from(b_ns, a.ip, 7000) == f"hello from {a_ns} to {b.ip}"      # no NAT inside a network
    routes = sh("ip", "netns", "exec", a_ns, "ip", "-4", "route").stdout
    assert f"default via {net.gateway} dev eth0" in routes


def test_published_port_answers_on_loopback_host_addresses_and_hairpin(env):
    mgr, lab, _ = env
    net = mgr.ensure_default()
    a_ns, b_ns = lab.netns(), lab.netns()
    a = mgr.attach("ca", "bridge", f"/run/netns/{a_ns}", name="web", ports=parse_publish("8080") + parse_publish("9999/udp"))
    mgr.attach("cb", "bridge", f"/run/netns/{b_ns}", name="b")
    lab.serve(a_ns, 8080)
    lab.serve(a_ns, 9999, "udp")
    port = a.ports[0].host_port
    assert 32768 <= port <= 60999
    assert tcp_from_host("127.0.0.1", port).startswith(f"hello from {a_ns}")
    assert tcp_from_host(net.gateway, port).startswith(f"hello from {a_ns}")        # a host address
    assert tcp_from(b_ns, net.gateway, port).startswith(f"hello from {a_ns}")        # hairpin: other container
    assert tcp_from(a_ns, net.gateway, port).startswith(f"hello from {a_ns}")        # hairpin: itself
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(2)
        u.sendto(b"hi", ("127.0.0.1", a.ports[1].host_port))
        assert u.recv(100).startswith(b"udp hello")
    mgr.detach("ca", "bridge")
    assert tcp_from_host("127.0.0.1", port) == "ERR ConnectionRefusedError"         # rule gone with the endpoint


def test_dns_by_name_and_alias_on_a_user_network(env, upstream):
    mgr, lab, _ = env
    mgr.ensure_default()
    net = mgr.create("appnet")
    db_ns, cl_ns, out_ns = lab.netns(), lab.netns(), lab.netns()
    db = mgr.attach("c" * 64, "appnet", f"/run/netns/{db_ns}", name="db", aliases=["database"])
    mgr.attach("d" * 64, "appnet", f"/run/netns/{cl_ns}", name="client")
    mgr.attach("e" * 64, "bridge", f"/run/netns/{out_ns}", name="outsider")
    assert mgr.resolv_conf("d" * 64).startswith(f"nameserver {net.gateway}\n")
    for name in ("db", "database", "DB.appnet", "c" * 12):
        assert dns_query(cl_ns, net.gateway, name) == (dnswire.NOERROR, [db.ip]), name
    assert dns_query(cl_ns, net.gateway, "database", "tcp") == (dnswire.NOERROR, [db.ip])
    # names not on the network go to the upstream resolver (a fake one on 127.0.0.1)
    assert dns_query(cl_ns, net.gateway, "mirror.example") == (dnswire.NOERROR, ["198.51.100.7"])
    assert "mirror.example" in upstream.queries
    # a container of another network gets no answers from this resolver
    assert dns_query(out_ns, net.gateway, "db")[0] == dnswire.REFUSED
    # names appear and disappear with the endpoints
    mgr.attach("f" * 64, "appnet", f"/run/netns/{lab.netns()}", name="late")
    assert dns_query(cl_ns, net.gateway, "late")[1] != []
    pid = mgr.store.read().resolvers[net.id]
    mgr.release_all("c" * 64)
    assert dns_query(cl_ns, net.gateway, "db") == (dnswire.NOERROR, ["198.51.100.7"])   # forwarded now
    for cid in ("d" * 64, "f" * 64):
        mgr.release_all(cid)
    mgr.remove("appnet")
    assert not dns.alive(pid, net.id)


def test_user_networks_are_isolated_and_internal_has_no_way_out(env):
    mgr, lab, subnets = env
    mgr.ensure_default()
    mgr.create("one")
    mgr.create("two")
    mgr.create("closed", internal=True)
    a_ns, c_ns, b_ns, i_ns = lab.netns(), lab.netns(), lab.netns(), lab.netns()
    a = mgr.attach("ca", "one", f"/run/netns/{a_ns}", name="a")
    mgr.attach("cc", "one", f"/run/netns/{c_ns}", name="c")
    mgr.attach("cb", "two", f"/run/netns/{b_ns}", name="b")
    mgr.attach("ci", "closed", f"/run/netns/{i_ns}", name="i")
    lab.serve(a_ns, 7000)
    assert tcp_from(c_ns, a.ip, 7000).startswith("hello")                       # same network: yes
    assert tcp_from(b_ns, a.ip, 7000, timeout=1) == "ERR TimeoutError"           # other network: dropped
    assert tcp_from(i_ns, a.ip, 7000, timeout=1).startswith("ERR")               # internal: no route out
    assert "default" not in sh("ip", "netns", "exec", i_ns, "ip", "-4", "route").stdout


def test_outbound_is_masqueraded_and_internal_stays_inside(env):
    """A namespace behind a veth on the host plays "the internet"."""
    mgr, lab, subnets = env
    mgr.ensure_default()
    mgr.create("closed", internal=True)
    wan_ns, a_ns, i_ns = lab.netns(), lab.netns(), lab.netns()
    wan_net = ipaddress.ip_network(subnets[2])
    host_ip, wan_ip = str(wan_net.network_address + 1), str(wan_net.network_address + 2)
    host_if = f"{lab.prefix}w"
    sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", wan_ns)
    lab.links.append(host_if)
    sh("ip", "addr", "add", f"{host_ip}/24", "dev", host_if)
    sh("ip", "link", "set", host_if, "up")
    sh("ip", "netns", "exec", wan_ns, "ip", "addr", "add", f"{wan_ip}/24", "dev", "eth0")
    sh("ip", "netns", "exec", wan_ns, "ip", "link", "set", "eth0", "up")
    sh("ip", "netns", "exec", wan_ns, "ip", "link", "set", "lo", "up")
    lab.serve(wan_ns, 7000)
    mgr.attach("ca", "bridge", f"/run/netns/{a_ns}")
    mgr.attach("ci", "closed", f"/run/netns/{i_ns}")
    assert tcp_from(a_ns, wan_ip, 7000) == f"hello from {wan_ns} to {host_ip}"   # source rewritten to the host
    assert tcp_from(i_ns, wan_ip, 7000, timeout=1).startswith("ERR")


def test_none_network_has_only_loopback(env):
    mgr, lab, _ = env
    mgr.ensure_default()
    ns = lab.netns()
    ep = mgr.attach("cn", "none", f"/run/netns/{ns}")
    links = sh("ip", "netns", "exec", ns, "ip", "-o", "link").stdout.splitlines()
    assert len(links) == 1 and ": lo:" in links[0] and "UP" in links[0]
    assert ep.ip == ""


def test_rules_apply_idempotently(env):
    mgr, lab, _ = env
    mgr.ensure_default()
    mgr.attach("ca", "bridge", f"/run/netns/{lab.netns()}", ports=parse_publish("127.0.0.1::80"))
    from vessel.network import plan

    rules = plan.plan_rules(mgr.store.read())
    before = nft_table(mgr.config.table)
    assert mgr.kernel.apply_rules(mgr.config.table, rules) is False                 # listing == plan
    assert nft_table(mgr.config.table) == before                                     # same handles: untouched
    assert mgr.reconcile(["ca"]).rules_changed is False


def test_reconcile_removes_what_a_crashed_run_left(env):
    mgr, lab, _ = env
    mgr.ensure_default()
    ns = lab.netns()
    ep = mgr.attach("gone", "bridge", f"/run/netns/{ns}", ports=parse_publish("8080"))
    orphan = f"{lab.prefix}x"
    sh("ip", "link", "add", orphan, "type", "bridge")
    sh("ip", "link", "set", orphan, "alias", f"vessel:{mgr.tag}:veth:dead:beef")
    lab.links.append(orphan)
    with NetworkManager(mgr.root, config=mgr.config) as fresh:                      # as a new process would
        report = fresh.reconcile([])
    assert report.removed_endpoints == ("gone/bridge",)
    assert orphan in report.removed_links
    names = link_names()
    assert ep.host_veth not in names and orphan not in names
    assert not [o for o in nft_table(mgr.config.table) if o.get("rule", {}).get("chain") == "ports"]
    assert mgr.store.read().endpoints == ()


def test_no_leaks_after_200_attach_detach_cycles(env):
    mgr, lab, _ = env
    mgr.ensure_default()
    ns = lab.netns()
    # only this root's links (tagged with its alias prefix): other vessel roots may be busy meanwhile
    tagged = lambda: set(mgr.kernel.tagged_links(plan.alias_prefix(mgr.tag)))  # noqa: E731
    links0, rules0 = tagged(), nft_table(mgr.config.table)
    attach_ms, detach_ms = [], []
    for i in range(200):
        t0 = time.perf_counter()
        ep = mgr.attach(f"c{i}", "bridge", f"/run/netns/{ns}", name=f"n{i}", ports=parse_publish("8080:80"))
        t1 = time.perf_counter()
        mgr.detach(ep.container_id, "bridge")
        attach_ms.append((t1 - t0) * 1e3)
        detach_ms.append((time.perf_counter() - t1) * 1e3)
    assert tagged() == links0
    assert without_handles(nft_table(mgr.config.table)) == without_handles(rules0)
    assert mgr.store.read().endpoints == ()
    assert sh("ip", "netns", "exec", ns, "ip", "-o", "link").stdout.count("\n") == 1   # only lo left inside
    print(f"\nattach with a published port: median {statistics.median(attach_ms):.1f} ms, "
          f"p95 {sorted(attach_ms)[189]:.1f} ms; detach median {statistics.median(detach_ms):.1f} ms")


def test_attach_by_pid(env):
    mgr, lab, _ = env
    mgr.ensure_default()
    ns = lab.netns()
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        while os.stat(f"/proc/{proc.pid}/ns/net").st_ino != os.stat(f"/run/netns/{ns}").st_ino:
            assert time.monotonic() < deadline, "sleep never entered the namespace"
            time.sleep(0.01)
        ep = mgr.attach("cp", "bridge", proc.pid)
        assert f"inet {ep.ip}/" in sh("ip", "netns", "exec", ns, "ip", "-4", "addr").stdout
    finally:
        proc.kill()
        proc.wait()


def test_containers_cannot_reach_host_loopback_services(env):
    """route_localnet=1 on the bridge must not open the host's 127.0.0.1 to containers (CVE-2020-8558)."""
    mgr, lab, _ = env
    net = mgr.ensure_default()
    ns = lab.netns()
    mgr.attach("ca", "bridge", f"/run/netns/{ns}")
    # a hostile container (it owns its netns): route 127.0.0.1 through the gateway
    sh("ip", "netns", "exec", ns, "sh", "-c",
       "sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.eth0.route_localnet=1 && ip link set lo down"
       f" && ip route flush table local dev lo && ip route add 127.0.0.1/32 via {net.gateway} dev eth0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as host_service:
        host_service.bind(("127.0.0.1", 0))
        host_service.settimeout(1.0)
        port = host_service.getsockname()[1]
        run_in(ns, "import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                   ".sendto(b'sneaky', ('127.0.0.1', int(sys.argv[1])))", str(port))
        with pytest.raises(socket.timeout):
            host_service.recvfrom(100)


def test_a_foreign_link_is_never_adopted_as_a_bridge(env):
    mgr, lab, _ = env
    mgr.ensure_default()
    foreign = f"{lab.prefix}f"
    sh("ip", "link", "add", foreign, "type", "bridge")
    lab.links.append(foreign)
    from vessel.errors import Conflict

    with pytest.raises(Conflict, match="not a bridge of this vessel root"):
        mgr.create("hijack", bridge=foreign)
    assert "inet " not in sh("ip", "-4", "addr", "show", "dev", foreign).stdout
    assert mgr.store.read().find_network("hijack") is None


def test_links_carry_the_tag_reconcile_relies_on(env):
    """A crash between the kernel change and the state write leaves a tagged veth that reconcile removes."""
    mgr, lab, _ = env
    net = mgr.ensure_default()
    ep = mgr.attach("ca", "bridge", f"/run/netns/{lab.netns()}")
    tagged = mgr.kernel.tagged_links(f"vessel:{mgr.tag}:")
    assert tagged[net.bridge].startswith(f"vessel:{mgr.tag}:bridge:")
    assert tagged[ep.host_veth].startswith(f"vessel:{mgr.tag}:veth:")
    with mgr.store.transaction() as txn:                        # forget the endpoint, keep the veth
        txn.state = txn.state.without_endpoint("ca", ep.network_id)
    report = mgr.reconcile(["ca"])
    assert report.removed_links == (ep.host_veth,)
    assert ep.host_veth not in link_names() and net.bridge in link_names()
