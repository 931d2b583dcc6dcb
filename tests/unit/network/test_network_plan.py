from __future__ import annotations

from pathlib import Path

import pytest

from vessel.network import plan
from vessel.network.model import Endpoint, Network, PortMapping, State
from vessel.network.plan import Dnat, Forward, Masquerade

pytestmark = pytest.mark.unit

DEFAULT = Network("a" * 64, "bridge", "bridge", "vessel0", "10.88.0.0/16", "10.88.0.1")
APP = Network("b" * 64, "appnet", "bridge", "vb-bbbbbbbbbbbb", "10.89.0.0/24", "10.89.0.1", dns=True)
SECRET = Network("c" * 64, "secret", "bridge", "vb-cccccccccccc", "10.89.1.0/24", "10.89.1.1", internal=True, dns=True)
HOST = Network("d" * 64, "host", "host")
NONE = Network("e" * 64, "none", "null")


def ep(cid, net, ip, ports=(), **kw):
    return Endpoint(cid, net.id, net.name, ip=ip, prefixlen=net.prefixlen, host_veth=plan.veth_name(cid, net.id),
                    ifname="eth0", ports=tuple(ports), **kw)


def verdict(rules: tuple[Forward, ...], iif: str, oif: str, dnat: bool = False, established: bool = False) -> str:
    """Walk the forward chain as the kernel would (policy accept)."""
    for r in rules:
        if r.established and not established:
            continue
        if r.iif and r.iif != iif or r.oif and r.oif != oif:
            continue
        if r.only_dnat and not dnat:
            continue
        return r.verdict
    return "accept"


def test_no_bridge_networks_means_no_rules_and_no_sysctls():
    st = State(networks=(HOST, NONE))
    host = plan.plan_host(st, "t")
    assert host.rules.empty and host.bridges == () and host.sysctls == ()


def test_default_bridge_with_a_published_port():
    st = State(networks=(DEFAULT, HOST, NONE),
               endpoints=(ep("c1", DEFAULT, "10.88.0.2", [PortMapping(80, "tcp", "", 8080)]),
                          ep("c2", DEFAULT, "10.88.0.3", [PortMapping(53, "udp", "127.0.0.1", 5353)])))
    host = plan.plan_host(st, "tag1")
    assert host.bridges == (plan.BridgePlan("vessel0", "10.88.0.1", 16, "vessel:tag1:bridge:aaaaaaaaaaaa"),)
    assert host.rules.dnat == (Dnat("tcp", 8080, "10.88.0.2", 80), Dnat("udp", 5353, "10.88.0.3", 53, "127.0.0.1"))
    assert host.rules.masquerade == (Masquerade("127.0.0.0/8", "vessel0"),
                                     Masquerade("10.88.0.0/16", "vessel0", only_dnat=True),
                                     Masquerade("10.88.0.0/16", "vessel0", oif_negated=True))
    assert host.rules.guard == ("vessel0",)
    assert ("net/ipv4/ip_forward", "1") in host.sysctls
    assert ("net/ipv4/conf/vessel0/route_localnet", "1") in host.sysctls
    assert host.resolvers == ()          # the default bridge has no embedded DNS


def test_forward_rules_isolate_networks_and_keep_internal_closed():
    st = State(networks=(DEFAULT, APP, SECRET))
    fwd = plan.plan_rules(st).forward
    d, a, s = DEFAULT.bridge, APP.bridge, SECRET.bridge
    # inside one network: allowed
    for b in (d, a, s):
        assert verdict(fwd, b, b) == "accept"
    # between networks: dropped both ways, internal included
    for x, y in [(d, a), (a, d), (a, s), (s, a), (d, s)]:
        assert verdict(fwd, x, y) == "drop", (x, y)
    # outbound (to the uplink): allowed except from the internal network
    assert verdict(fwd, d, "eth0") == "accept"
    assert verdict(fwd, a, "eth0") == "accept"
    assert verdict(fwd, s, "eth0") == "drop"
    # inbound from outside: only published ports (DNAT) reach a network, never an internal one
    assert verdict(fwd, "eth0", a) == "drop"
    assert verdict(fwd, "eth0", a, dnat=True) == "accept"
    assert verdict(fwd, d, a, dnat=True) == "accept"       # another network through a published port
    assert verdict(fwd, s, a, dnat=True) == "drop"         # not from an internal network
    assert verdict(fwd, "eth0", s, dnat=True) == "drop"
    # replies of allowed flows
    assert verdict(fwd, "eth0", a, established=True) == "accept"


def test_internal_network_gets_no_nat_no_ports_no_sysctls():
    st = State(networks=(SECRET,), endpoints=(ep("c1", SECRET, "10.89.1.2", [PortMapping(80, "tcp", "", 8080)]),))
    host = plan.plan_host(st, "t")
    assert host.rules.masquerade == () and host.rules.dnat == () and host.rules.guard == ()
    assert host.sysctls == ()
    assert host.resolvers == (SECRET.id,)


def test_resolvers_run_only_for_dns_networks_in_use():
    st = State(networks=(DEFAULT, APP, SECRET), endpoints=(ep("c1", APP, "10.89.0.2"), ep("c2", DEFAULT, "10.88.0.2")))
    assert plan.plan_host(st, "t").resolvers == (APP.id,)


def test_plan_endpoint_default_route_only_when_asked_and_not_internal():
    e = ep("c1", APP, "10.89.0.2", mac="02:42:0a:59:00:02")
    lp = plan.plan_endpoint(APP, e, "t", default_route=True)
    assert (lp.bridge, lp.address, lp.prefixlen, lp.gateway, lp.ifname) == (APP.bridge, "10.89.0.2", 24, "10.89.0.1", "eth0")
    assert lp.alias == f"vessel:t:veth:{APP.id[:12]}:c1"
    assert plan.plan_endpoint(APP, e, "t", default_route=False).gateway == ""
    assert plan.plan_endpoint(SECRET, e, "t", default_route=True).gateway == ""


def test_names_fit_ifnamsiz_and_are_stable():
    assert len(plan.veth_name("x" * 64, "y" * 64)) <= plan.IFNAMSIZ
    assert plan.veth_name("c1", APP.id) == plan.veth_name("c1", APP.id) != plan.veth_name("c2", APP.id)
    assert plan.bridge_name("vb-", APP.id) == "vb-bbbbbbbbbbbb"
    assert plan.instance_tag(Path("/a")) != plan.instance_tag(Path("/b"))


def test_next_ifname_fills_gaps():
    eps = (Endpoint("c", "n1", "n1", ifname="eth0"), Endpoint("c", "n3", "n3", ifname="eth2"))
    assert plan.next_ifname(()) == "eth0"
    assert plan.next_ifname(eps) == "eth1"


def test_dnat_rules_are_sorted_and_skip_endpoints_without_address():
    st = State(networks=(DEFAULT,), endpoints=(
        ep("c1", DEFAULT, "10.88.0.2", [PortMapping(80, "tcp", "", 9000)]),
        ep("c2", DEFAULT, "10.88.0.3", [PortMapping(80, "tcp", "", 8000)]),
        Endpoint("c3", DEFAULT.id, "bridge", ports=(PortMapping(80, "tcp", "", 7000),)),
    ))
    assert [d.host_port for d in plan.plan_rules(st).dnat] == [8000, 9000]
