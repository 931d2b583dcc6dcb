from __future__ import annotations

import pytest

from vessel.errors import Conflict, InvalidArgument, NotFound, SystemFailure
from vessel.network.model import PortMapping
from vessel.network.ports import parse_publish

pytestmark = pytest.mark.unit


def test_ensure_default_creates_predefined_networks_once(mgr, kernel):
    net = mgr.ensure_default()
    assert (net.name, net.bridge, net.subnet, net.gateway) == ("bridge", "vessel0", "10.88.0.0/16", "10.88.0.1")
    assert sorted(n.name for n in mgr.list()) == ["bridge", "host", "none"]
    assert kernel.links["vessel0"].startswith(f"vessel:{mgr.tag}:bridge:")
    assert kernel.sysctls["net/ipv4/ip_forward"] == "1"
    assert kernel.sysctls["net/ipv4/conf/vessel0/route_localnet"] == "1"
    assert mgr.ensure_default() == net
    assert kernel.rule_applies == 1                       # the second call changed nothing


def test_default_subnet_fallback(make_manager, kernel, caplog):
    kernel.routes.append(("10.88.0.0/16", "eth1"))
    net = make_manager(kernel).ensure_default()
    assert net.subnet == "10.90.0.0/16"
    assert "10.88.0.0/16 is already routed" in caplog.text


def test_create_picks_free_subnets_and_refuses_duplicates(mgr, kernel):
    mgr.ensure_default()
    a = mgr.create("appnet", labels={"team": "x"})
    b = mgr.create("other")
    assert (a.subnet, a.gateway, a.dns, a.labels) == ("10.89.0.0/24", "10.89.0.1", True, {"team": "x"})
    assert b.subnet == "10.89.1.0/24"
    assert a.bridge == "vb-" + a.id[:12] and a.bridge in kernel.links
    with pytest.raises(Conflict, match="already exists"):
        mgr.create("appnet")
    with pytest.raises(Conflict, match="already exists"):
        mgr.create("host")
    with pytest.raises(Conflict, match="overlaps"):
        mgr.create("clash", subnet="10.89.0.128/25")
    with pytest.raises(Conflict, match="overlaps 192.0.2.0/24"):
        mgr.create("hostclash", subnet="192.0.2.0/28")
    with pytest.raises(InvalidArgument, match="invalid network name"):
        mgr.create("-bad")
    c = mgr.create("custom", subnet="10.77.0.0/24", gateway="10.77.0.254", internal=True)
    assert (c.gateway, c.internal) == ("10.77.0.254", True)


def test_attach_leases_address_mac_ports_and_builds_the_link(mgr, kernel):
    mgr.ensure_default()
    ep = mgr.attach("c1", "bridge", 1234, name="web", ports=parse_publish("8080:80") + parse_publish("53/udp"))
    assert (ep.ip, ep.prefixlen, ep.mac, ep.ifname) == ("10.88.0.2", 16, "02:42:0a:58:00:02", "eth0")
    assert ep.netns == "/proc/1234/ns/net"
    assert ep.ports[0] == PortMapping(80, "tcp", "", 8080)
    assert ep.ports[1].host_port != 0 and ep.ports[1].protocol == "udp"
    (call,) = [c for c in kernel.calls if c[0] == "add_endpoint"]
    link = call[1]
    assert (link.bridge, link.address, link.gateway, link.host_veth) == ("vessel0", "10.88.0.2", "10.88.0.1", ep.host_veth)
    assert [d.host_port for d in kernel.rules.dnat] == sorted([8080, ep.ports[1].host_port])
    assert mgr.ports("c1") == list(ep.ports)
    ep2 = mgr.attach("c2", "bridge", "/run/netns/x")
    assert ep2.ip == "10.88.0.3"


def test_attach_without_ports_leaves_rules_alone(mgr, kernel):
    mgr.ensure_default()
    before = kernel.rule_applies
    mgr.attach("c1", "bridge", 1)
    mgr.detach("c1", "bridge")
    assert kernel.rule_applies == before


def test_second_network_gets_eth1_and_no_default_route(mgr, kernel):
    mgr.ensure_default()
    mgr.create("appnet")
    mgr.attach("c1", "bridge", 1)
    ep = mgr.attach("c1", "appnet", 1, name="db")
    assert ep.ifname == "eth1"
    link = [c for c in kernel.calls if c[0] == "add_endpoint"][-1][1]
    assert link.gateway == ""
    assert ("start_resolver", "appnet", ("10.255.255.53",)) in kernel.calls


def test_attach_conflicts_and_errors(mgr, kernel):
    mgr.ensure_default()
    mgr.attach("c1", "bridge", 1, ports=parse_publish("8080:80"))
    with pytest.raises(Conflict, match="already attached"):
        mgr.attach("c1", "bridge", 1)
    with pytest.raises(Conflict, match="already published by c1"):
        mgr.attach("c2", "bridge", 2, ports=parse_publish("8080:80"))
    with pytest.raises(NotFound, match="network nope not found"):
        mgr.attach("c2", "nope", 2)
    mgr.create("secret", internal=True)
    with pytest.raises(InvalidArgument, match="internal"):
        mgr.attach("c2", "secret", 2, ports=parse_publish("9090:80"))
    with pytest.raises(InvalidArgument, match="bridge network"):
        mgr.attach("c2", "host", 2, ports=parse_publish("9090:80"))
    assert [e.container_id for e in mgr.store.read().endpoints] == ["c1"]   # failures leased nothing


def test_failed_link_or_rules_roll_back(mgr, kernel):
    mgr.ensure_default()
    kernel.fail.add("add_endpoint")
    with pytest.raises(SystemFailure):
        mgr.attach("c1", "bridge", 1)
    assert mgr.store.read().endpoints == ()
    kernel.fail = {"apply_rules"}
    with pytest.raises(SystemFailure):
        mgr.attach("c1", "bridge", 1, ports=parse_publish("8080:80"))
    assert mgr.store.read().endpoints == ()
    veth = [c for c in kernel.calls if c[0] == "add_endpoint"][-1][1].host_veth
    assert ("delete_link", veth) in kernel.calls and veth not in kernel.links


def test_failed_attach_stops_a_resolver_it_started(mgr, kernel):
    mgr.ensure_default()
    mgr.create("appnet")
    kernel.fail.add("add_endpoint")
    with pytest.raises(SystemFailure):
        mgr.attach("c1", "appnet", 1)
    assert kernel.alive == {} and mgr.store.read().resolvers == {}


def test_none_and_host_modes(mgr, kernel):
    mgr.ensure_default()
    ep = mgr.attach("c1", "none", "/run/netns/x")
    assert ep.ip == "" and ("loopback_up", "/run/netns/x") in kernel.calls
    assert not any(c[0] == "add_endpoint" for c in kernel.calls)
    assert mgr.attach("c2", "host", 5).ip == ""
    assert "192.0.2.2 thehost" in mgr.hosts_file("c2")
    assert mgr.resolv_conf("c2").startswith("nameserver 10.255.255.53")
    hosts = mgr.hosts_file("c1", hostname="box")
    assert "localhost" in hosts and "box" not in hosts


def test_remove_refuses_while_in_use_naming_users(mgr, kernel):
    mgr.ensure_default()
    net = mgr.create("appnet")
    mgr.attach("c1", "appnet", 1, name="db")
    mgr.attach("c2", "appnet", 2, name="web")
    with pytest.raises(Conflict, match="in use by container\\(s\\): db, web"):
        mgr.remove("appnet")
    with pytest.raises(Conflict, match="pre-defined"):
        mgr.remove("bridge")
    mgr.release_all("c1")
    mgr.detach("c2", "appnet")
    pid = mgr.store.read().resolvers[net.id]
    mgr.remove("appnet")
    assert ("stop_resolver", pid) in kernel.calls and net.bridge not in kernel.links
    assert mgr.store.read().find_network("appnet") is None
    with pytest.raises(NotFound):
        mgr.remove("appnet")


def test_release_all_cleans_every_network(mgr, kernel):
    mgr.ensure_default()
    mgr.create("appnet")
    a = mgr.attach("c1", "bridge", 1, ports=parse_publish("8080:80"))
    b = mgr.attach("c1", "appnet", 1)
    released = mgr.release_all("c1")
    assert {e.network for e in released} == {"bridge", "appnet"}
    assert a.host_veth not in kernel.links and b.host_veth not in kernel.links
    assert kernel.rules.dnat == () and mgr.endpoints("c1") == []
    assert mgr.release_all("c1") == []


def test_detach_unknown_is_not_found(mgr):
    mgr.ensure_default()
    with pytest.raises(NotFound, match="not attached"):
        mgr.detach("c9", "bridge")


def test_reconcile_removes_orphans_and_restarts_resolvers(mgr, kernel):
    mgr.ensure_default()
    net = mgr.create("appnet")
    dead = mgr.attach("dead", "bridge", 1, ports=parse_publish("8080:80"))
    live = mgr.attach("live", "appnet", 2, name="db")
    kernel.links["vhstale"] = f"vessel:{mgr.tag}:veth:xyz:gone"          # a crashed run's leftover
    kernel.links["notours"] = "vessel:othertag:veth:x:y"                 # another root's link
    kernel.alive.clear()                                                  # the resolver died
    report = mgr.reconcile(["live"])
    assert report.removed_endpoints == ("dead/bridge",)
    assert report.removed_links == ("vhstale",)
    assert report.resolvers_started == ("appnet",)
    assert dead.host_veth not in kernel.links and live.host_veth in kernel.links and "notours" in kernel.links
    assert kernel.rules.dnat == ()
    assert [e.container_id for e in mgr.store.read().endpoints] == ["live"]
    assert mgr.store.read().resolvers[net.id] in kernel.alive
    again = mgr.reconcile(["live"])
    assert again.removed_links == () and again.resolvers_started == () and again.rules_changed is False


def test_reconcile_stops_resolvers_of_unused_networks(mgr, kernel):
    mgr.ensure_default()
    mgr.create("appnet")
    mgr.attach("c1", "appnet", 1)
    report = mgr.reconcile([])
    assert len(report.resolvers_stopped) == 1 and kernel.alive == {}


def test_prune_removes_only_unused_user_networks(mgr):
    mgr.ensure_default()
    mgr.create("used")
    mgr.create("idle1")
    mgr.create("idle2")
    mgr.attach("c1", "used", 1)
    assert mgr.prune() == ["idle1", "idle2"]
    assert sorted(n.name for n in mgr.list()) == ["bridge", "host", "none", "used"]


def test_purge_leaves_nothing(mgr, kernel):
    mgr.ensure_default()
    mgr.create("appnet")
    mgr.attach("c1", "appnet", 1)
    mgr.attach("c2", "bridge", 2, ports=parse_publish("8080:80"))
    mgr.purge()
    assert kernel.links == {} and kernel.rules.empty and kernel.alive == {}
    assert mgr.list() == []


def test_container_files_on_a_user_network(mgr):
    mgr.ensure_default()
    net = mgr.create("appnet")
    mgr.attach("c1", "appnet", 1, name="db")
    assert mgr.resolv_conf("c1") == f"nameserver {net.gateway}\nsearch example.test\noptions ndots:1\n"
    assert mgr.resolv_conf("c1", dns=["9.9.9.9"]).startswith("nameserver 9.9.9.9\n")
    hosts = mgr.hosts_file("c1", hostname="db", extra_hosts=["gw:host-gateway"])
    assert "10.89.0.2\tdb\n" in hosts and f"{net.gateway}\tgw\n" in hosts
    mgr.attach("c2", "bridge", 2)
    assert mgr.resolv_conf("c2").startswith("nameserver 10.255.255.53\n")


def test_inspect_has_dockers_shape(mgr):
    mgr.ensure_default()
    mgr.create("appnet", subnet="10.66.0.0/24")
    mgr.attach("c1", "appnet", 1, name="db", aliases=["database"])
    doc = mgr.inspect("appnet")
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.66.0.0/24", "Gateway": "10.66.0.1"}]
    c = doc["Containers"]["c1"]
    assert (c["Name"], c["IPv4Address"], c["Aliases"]) == ("db", "10.66.0.2/24", ["database"])
    assert doc["Driver"] == "bridge" and doc["Scope"] == "local"
    assert mgr.containers("db") == ["c1"]


def test_close_closes_the_kernel(mgr, kernel):
    with mgr:
        pass
    assert kernel.closed


def test_attach_to_a_predefined_network_creates_them_on_demand(mgr, kernel):
    assert mgr.attach("c2", "none", 2).network == "none"
    ep = mgr.attach("c1", "bridge", 1)
    assert ep.ip == "10.88.0.2" and "vessel0" in kernel.links


def test_custom_bridge_names_are_validated(mgr, kernel):
    mgr.ensure_default()
    assert mgr.create("named", bridge="br-app").bridge == "br-app"
    with pytest.raises(InvalidArgument, match="invalid bridge name"):
        mgr.create("toolong", bridge="x" * 16)
    with pytest.raises(Conflict, match="already used"):
        mgr.create("again", bridge="br-app")
