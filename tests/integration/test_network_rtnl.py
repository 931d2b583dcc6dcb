"""rtnl, links and the nftables generation against the real kernel, inside network namespaces made here.

Nothing touches the host's links: every socket is opened inside one of the
test's namespaces (`links.netlink_socket_in`), and `ip -n NS -j ...` checks
what the kernel holds.  Deleting the namespaces removes everything made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vessel.errors import Conflict, SystemFailure
from vessel.network import links
from vessel.network.plan import BridgePlan, LinkPlan
from vessel.network.rtnl import Address, NetlinkError, Route, Rtnl

pytestmark = pytest.mark.integration

BRIDGE_MAC, PEER_MAC = "02:42:0a:63:00:01", "02:42:0a:63:00:02"


def sh(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def ip_json(ns: str, *args: str) -> list[dict]:
    return json.loads(sh("ip", "-n", ns, "-j", *args) or "[]")


@pytest.fixture
def namespaces():
    """(names, fds): a "host" namespace and a "container" namespace, deleted afterwards."""
    names = [f"vsl-rtnl-test-{os.getpid()}", f"vsl-rtnl-test-{os.getpid()}-c"]
    fds: list[int] = []
    try:
        for name in names:
            sh("ip", "netns", "add", name)
            fds.append(os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC))
        yield names, fds
    finally:
        for fd in fds:
            os.close(fd)
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_rtnl_builds_a_bridge_and_a_veth_pair_across_namespaces(namespaces):
    (host_ns, ctr_ns), (host_fd, ctr_fd) = namespaces
    with Rtnl(links.netlink_socket_in(host_fd)) as host, Rtnl(links.netlink_socket_in(ctr_fd)) as ctr:
        host.add_bridge("vsbr0", BRIDGE_MAC)
        bridge = host.link_index("vsbr0")
        host.set_link(bridge, alias="vessel:test:bridge", up=True)
        host.add_address(bridge, "10.99.0.1", 24)
        host.add_veth("vhtest0", "eth0", ctr_fd, PEER_MAC, master=bridge, up=True)
        veth = host.link_index("vhtest0")
        host.set_link(veth, alias="vessel:test:veth")
        host.set_hairpin(veth)
        eth0 = ctr.link_index("eth0")
        ctr.set_link(1, up=True)
        ctr.add_address(eth0, "10.99.0.2", 24)
        ctr.set_link(eth0, up=True)
        ctr.add_route("10.99.0.1", eth0)

        # what rtnl reads back
        by_name = {ln.name: ln for ln in host.links()}
        assert (by_name["vsbr0"].kind, by_name["vsbr0"].alias, by_name["vsbr0"].mac) == ("bridge", "vessel:test:bridge", BRIDGE_MAC)
        assert by_name["vsbr0"].up and by_name["vhtest0"].up
        assert (by_name["vhtest0"].kind, by_name["vhtest0"].master) == ("veth", bridge)
        assert host.addresses(bridge) == [Address(bridge, "10.99.0.1", 24)]
        assert ctr.link(eth0).mac == PEER_MAC
        assert set(ctr.routes()) == {Route("0.0.0.0", 0, eth0, "10.99.0.1", 254), Route("10.99.0.0", 24, eth0, "", 254)}
        assert Route("10.99.0.0", 24, bridge, "", 254) in host.routes()

    # what `ip` sees
    (br,) = ip_json(host_ns, "-d", "link", "show", "vsbr0")
    assert (br["address"], br["ifalias"], br["linkinfo"]["info_kind"]) == (BRIDGE_MAC, "vessel:test:bridge", "bridge")
    assert "UP" in br["flags"]
    (vh,) = ip_json(host_ns, "-d", "link", "show", "vhtest0")
    assert (vh["master"], vh["ifalias"], vh["linkinfo"]["info_kind"]) == ("vsbr0", "vessel:test:veth", "veth")
    assert vh["linkinfo"]["info_slave_data"]["hairpin"] is True
    (addr,) = [a for a in ip_json(host_ns, "addr", "show", "vsbr0")[0]["addr_info"] if a["family"] == "inet"]
    assert (addr["local"], addr["prefixlen"]) == ("10.99.0.1", 24)
    (eth,) = ip_json(ctr_ns, "link", "show", "eth0")
    assert eth["address"] == PEER_MAC and "UP" in eth["flags"]
    (default,) = [r for r in ip_json(ctr_ns, "route") if r["dst"] == "default"]
    assert (default["gateway"], default["dev"], default["protocol"]) == ("10.99.0.1", "eth0", "static")
    assert [a["local"] for a in ip_json(ctr_ns, "addr", "show", "eth0")[0]["addr_info"] if a["family"] == "inet"] == ["10.99.0.2"]


def test_rtnl_errors_carry_the_errno(namespaces):
    (host_ns, _), (host_fd, ctr_fd) = namespaces
    with Rtnl(links.netlink_socket_in(host_fd)) as host, Rtnl(links.netlink_socket_in(ctr_fd)) as ctr:
        host.add_bridge("vsbr0", BRIDGE_MAC)
        with pytest.raises(NetlinkError) as caught:
            host.add_bridge("vsbr0", BRIDGE_MAC)
        assert caught.value.code == 17                       # EEXIST
        with pytest.raises(NetlinkError) as caught:
            host.delete_link(9999)
        assert caught.value.code == 19                       # ENODEV
        assert host.link_index("nope") is None
        host.add_veth("vhtest0", "eth0", ctr_fd, PEER_MAC)
        host.delete_link(host.link_index("vhtest0"))        # one end takes the other along
        assert ctr.link_index("eth0") is None
        host.delete_link(host.link_index("vsbr0"))
    assert [ln["ifname"] for ln in ip_json(host_ns, "link")] == ["lo"]


def test_links_sets_up_an_endpoint_in_a_namespace(namespaces):
    """links.Links on an Rtnl living in the test's "host" namespace: what the manager does on the real host."""
    (host_ns, ctr_ns), (host_fd, ctr_fd) = namespaces
    lk = links.Links(lambda: Rtnl(links.netlink_socket_in(host_fd)))
    try:
        bridge = BridgePlan("vsbr0", "10.99.0.1", 24, "vessel:t1:bridge:n1")
        lk.ensure_bridge(bridge)
        lk.ensure_bridge(bridge)                             # idempotent
        plan = LinkPlan("vhtest0", "vsbr0", "eth0", PEER_MAC, "10.99.0.2", 24, "10.99.0.1", "vessel:t1:veth:n1:c1")
        lk.add_endpoint(plan, ctr_fd)
        with pytest.raises(Conflict):
            lk.add_endpoint(plan, ctr_fd)
        assert lk.tagged("vessel:t1:") == {"vsbr0": "vessel:t1:bridge:n1", "vhtest0": "vessel:t1:veth:n1:c1"}
        assert ("10.99.0.0/24", "vsbr0") in lk.routes()
        (br,) = ip_json(host_ns, "-d", "link", "show", "vsbr0")
        assert br["address"] == "02:42:0a:63:00:01"           # mac_for(gateway)
        assert [a["local"] for a in ip_json(host_ns, "addr", "show", "vsbr0")[0]["addr_info"]
                if a["family"] == "inet"] == ["10.99.0.1"]
        (lo,) = ip_json(ctr_ns, "link", "show", "lo")
        assert "UP" in lo["flags"]
        (default,) = [r for r in ip_json(ctr_ns, "route") if r["dst"] == "default"]
        assert (default["gateway"], default["dev"]) == ("10.99.0.1", "eth0")
        assert lk.delete("vhtest0") is True
        assert lk.delete("vhtest0") is False
        assert [ln["ifname"] for ln in ip_json(ctr_ns, "link")] == ["lo"]
    finally:
        lk.close()


def test_a_failed_endpoint_is_rolled_back(namespaces):
    (host_ns, ctr_ns), (host_fd, ctr_fd) = namespaces
    lk = links.Links(lambda: Rtnl(links.netlink_socket_in(host_fd)))
    try:
        lk.ensure_bridge(BridgePlan("vsbr0", "10.99.0.1", 24, "vessel:t1:bridge:n1"))
        unreachable = LinkPlan("vhtest1", "vsbr0", "eth0", PEER_MAC, "10.99.0.2", 24, "10.98.0.1", "vessel:t1:veth:x")
        with pytest.raises(SystemFailure) as caught:
            lk.add_endpoint(unreachable, ctr_fd)
        assert "configuring eth0 (10.99.0.2/24) in the container" in str(caught.value)
        assert caught.value.fields["errno"] == 101           # ENETUNREACH: the gateway is not on the link
        assert [ln["ifname"] for ln in ip_json(host_ns, "link")] == ["lo", "vsbr0"]
        assert [ln["ifname"] for ln in ip_json(ctr_ns, "link")] == ["lo"]
    finally:
        lk.close()


GENERATION_CHILD = r"""
import json, subprocess, sys
from pathlib import Path
from vessel.network import nft
from vessel.network.kernel import LinuxKernel
from vessel.network.plan import Forward, RuleSet

class Spy(nft.LibNftables):
    lists = 0
    def list_table(self, table):
        Spy.lists += 1
        return super().list_table(table)

nl = nft.netfilter_socket()
g0 = nft.read_generation(nl)
subprocess.run(["nft", "add", "table", "inet", "vsltest"], check=True)
g1 = nft.read_generation(nl)
rules = RuleSet(forward=(Forward("accept", iif="vsltest0"),), guard=("vsltest0",))
kernel = LinuxKernel(nft_backend=Spy(), nft_record=Path(sys.argv[1]))
out = {"g0": g0, "g1": g1, "applied": [kernel.apply_rules("vsltest", rules), kernel.apply_rules("vsltest", rules)]}
out["lists"] = Spy.lists
subprocess.run(["nft", "flush", "chain", "inet", "vsltest", "forward"], check=True)
out["applied"].append(kernel.apply_rules("vsltest", rules))
out["lists_after_flush"] = Spy.lists
kernel.close()
nl.close()
print(json.dumps(out))
"""


def test_the_ruleset_generation_spares_listing_an_unchanged_table(namespaces, tmp_path: Path):
    (host_ns, _), _ = namespaces
    res = subprocess.run(["ip", "netns", "exec", host_ns, sys.executable, "-c", GENERATION_CHILD,
                          str(tmp_path / "nft-verified.json")], capture_output=True, text=True, check=True)
    out = json.loads(res.stdout)
    (g0, ns0), (g1, ns1) = out["g0"], out["g1"]
    assert g1 == g0 + 1 and ns0 == ns1                       # one commit, one generation
    assert out["applied"] == [True, False, True]            # empty table rewritten; unchanged; flushed -> rewritten
    assert out["lists"] == 1                                 # the second check did not list anything
    assert out["lists_after_flush"] == 2
    listing = json.loads(sh("ip", "netns", "exec", host_ns, "nft", "-j", "list", "chain", "inet", "vsltest", "forward"))
    assert any("rule" in obj for obj in listing["nftables"])
