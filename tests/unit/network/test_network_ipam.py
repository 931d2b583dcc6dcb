from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from vessel.errors import Conflict, InvalidArgument, ResourceExhausted, Unsupported
from vessel.network import ipam

pytestmark = pytest.mark.unit


def test_parse_subnet_accepts_cidr_and_rejects_bad_ones():
    assert ipam.parse_subnet("10.89.3.0/24") == IPv4Network("10.89.3.0/24")
    with pytest.raises(InvalidArgument, match="host bits"):
        ipam.parse_subnet("10.89.3.1/24")
    with pytest.raises(InvalidArgument, match="too small"):
        ipam.parse_subnet("10.89.3.0/31")
    with pytest.raises(Unsupported, match="IPv6"):
        ipam.parse_subnet("fd00::/64")
    with pytest.raises(InvalidArgument):
        ipam.parse_subnet("not-a-subnet")


def test_gateway_defaults_to_first_host_and_is_checked():
    net = IPv4Network("10.89.0.0/24")
    assert ipam.choose_gateway(net) == IPv4Address("10.89.0.1")
    assert ipam.choose_gateway(net, "10.89.0.254") == IPv4Address("10.89.0.254")
    for bad in ("10.89.0.0", "10.89.0.255", "10.90.0.1"):
        with pytest.raises(InvalidArgument, match="not a usable address"):
            ipam.choose_gateway(net, bad)


def test_allocate_takes_the_lowest_free_address_skipping_gateway_and_leases():
    net = IPv4Network("10.89.0.0/24")
    gw = IPv4Address("10.89.0.1")
    assert ipam.allocate(net, gw, []) == IPv4Address("10.89.0.2")
    assert ipam.allocate(net, gw, ["10.89.0.2", "10.89.0.4"]) == IPv4Address("10.89.0.3")
    # a gateway in the middle is skipped too
    assert ipam.allocate(net, IPv4Address("10.89.0.2"), []) == IPv4Address("10.89.0.1")


def test_released_address_is_reused():
    net = IPv4Network("10.89.0.0/29")
    gw = IPv4Address("10.89.0.1")
    leased = ["10.89.0.2", "10.89.0.3", "10.89.0.4"]
    leased.remove("10.89.0.3")
    assert ipam.allocate(net, gw, leased) == IPv4Address("10.89.0.3")


def test_requested_address_checked():
    net = IPv4Network("10.89.0.0/24")
    gw = IPv4Address("10.89.0.1")
    assert ipam.allocate(net, gw, [], "10.89.0.77") == IPv4Address("10.89.0.77")
    with pytest.raises(Conflict, match="already leased"):
        ipam.allocate(net, gw, ["10.89.0.77"], "10.89.0.77")
    with pytest.raises(Conflict, match="the gateway"):
        ipam.allocate(net, gw, [], "10.89.0.1")
    with pytest.raises(InvalidArgument, match="outside"):
        ipam.allocate(net, gw, [], "10.90.0.5")
    with pytest.raises(InvalidArgument, match="outside"):
        ipam.allocate(net, gw, [], "10.89.0.255")


def test_exhaustion_is_a_resource_error_naming_the_subnet():
    net = IPv4Network("10.89.0.0/30")        # hosts .1 (gateway) and .2
    gw = IPv4Address("10.89.0.1")
    assert ipam.allocate(net, gw, []) == IPv4Address("10.89.0.2")
    with pytest.raises(ResourceExhausted, match="10.89.0.0/30") as err:
        ipam.allocate(net, gw, ["10.89.0.2"])
    assert err.value.hint


def test_mac_is_derived_from_ip_and_validated():
    assert ipam.mac_for("10.88.0.2") == "02:42:0a:58:00:02"
    assert ipam.parse_mac("02-42-0A-58-00-05") == "02:42:0a:58:00:05"
    with pytest.raises(InvalidArgument, match="multicast"):
        ipam.parse_mac("01:00:5e:00:00:01")
    with pytest.raises(InvalidArgument):
        ipam.parse_mac("02:42:0a:58:00")


def test_pick_subnet_skips_routed_ranges_and_resolver_addresses():
    cands = ipam.default_candidates("10.88.0.0/16")
    assert ipam.pick_subnet(cands, [IPv4Network("192.0.2.0/24")]) == IPv4Network("10.88.0.0/16")
    # 10.88/16 routed on the host: the next candidate is used
    assert ipam.pick_subnet(cands, [IPv4Network("10.88.5.0/24")]) == IPv4Network("10.90.0.0/16")
    # a covering route (10.0.0.0/8) rules out every 10.x candidate
    with pytest.raises(ResourceExhausted):
        ipam.pick_subnet(cands, [IPv4Network("10.0.0.0/8")])
    # a host resolver inside a candidate rules it out (its traffic would go to the bridge)
    assert ipam.pick_subnet(cands, [], [IPv4Address("10.88.1.1")]) == IPv4Network("10.90.0.0/16")


def test_user_candidates_are_slices_of_the_pool():
    cands = list(ipam.user_candidates("10.89.0.0/16", 24))
    assert cands[0] == IPv4Network("10.89.0.0/24") and len(cands) == 256
    taken = [IPv4Network("10.89.0.0/24"), IPv4Network("10.89.1.0/24")]
    assert ipam.pick_subnet(cands, taken) == IPv4Network("10.89.2.0/24")
