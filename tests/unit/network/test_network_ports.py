from __future__ import annotations

import random

import pytest

from vessel.errors import Conflict, InvalidArgument, ResourceExhausted, Unsupported
from vessel.network.model import PortMapping
from vessel.network.ports import assign_host_ports, parse_publish, publish_all

pytestmark = pytest.mark.unit

P = PortMapping


@pytest.mark.parametrize("spec, expected", [
    ("80", [P(80)]),
    ("80/udp", [P(80, "udp")]),
    ("8080:80", [P(80, "tcp", "", 8080)]),
    ("8080:80/UDP", [P(80, "udp", "", 8080)]),
    ("127.0.0.1:8080:80", [P(80, "tcp", "127.0.0.1", 8080)]),
    ("127.0.0.1::80", [P(80, "tcp", "127.0.0.1", 0)]),
    ("0.0.0.0:8080:80", [P(80, "tcp", "", 8080)]),
    ("8000-8002:80-82", [P(80, "tcp", "", 8000), P(81, "tcp", "", 8001), P(82, "tcp", "", 8002)]),
    ("8000-8010:80", [P(80, "tcp", "", 8000, 8010)]),
    ("5000-5001", [P(5000), P(5001)]),
])
def test_parse_publish_forms(spec, expected):
    assert parse_publish(spec) == expected


@pytest.mark.parametrize("spec, error, text", [
    ("", InvalidArgument, "empty"),
    ("0:80", InvalidArgument, "invalid port"),
    ("8080:70000", InvalidArgument, "invalid port"),
    ("80/sctp", Unsupported, "sctp"),
    ("[::1]:8080:80", Unsupported, "IPv6"),
    ("1:2:3:4", InvalidArgument, "invalid publish"),
    ("8000-8002:80-81", InvalidArgument, "differ in length"),
    ("82-80", InvalidArgument, "reversed"),
    ("300.1.1.1:80:80", InvalidArgument, "host IP"),
])
def test_parse_publish_errors(spec, error, text):
    with pytest.raises(error, match=text):
        parse_publish(spec)


def test_publish_all_takes_exposed_ports():
    assert publish_all(["80/tcp", "53/udp"]) == [P(80), P(53, "udp")]


def always_free(ip, port, proto):
    return True


def test_explicit_ports_are_kept_and_clashes_name_the_owner():
    got = assign_host_ports([P(80, "tcp", "", 8080)], [], always_free)
    assert got == (P(80, "tcp", "", 8080),)
    with pytest.raises(Conflict, match="already published by web"):
        assign_host_ports([P(80, "tcp", "", 8080)], [(P(81, "tcp", "", 8080), "web")], always_free)
    # other protocol, or two distinct host IPs, do not clash
    assign_host_ports([P(80, "udp", "", 8080)], [(P(81, "tcp", "", 8080), "web")], always_free)
    assign_host_ports([P(80, "tcp", "127.0.0.1", 8080)], [(P(81, "tcp", "127.0.0.2", 8080), "web")], always_free)
    # the wildcard clashes with any address
    with pytest.raises(Conflict):
        assign_host_ports([P(80, "tcp", "127.0.0.1", 8080)], [(P(81, "tcp", "", 8080), "web")], always_free)


def test_port_used_by_a_host_program_is_refused():
    def busy(ip, port, proto):
        return port != 8080

    with pytest.raises(Conflict, match="in use by a host program"):
        assign_host_ports([P(80, "tcp", "", 8080)], [], busy)


def test_random_ports_are_free_distinct_and_in_range():
    taken = [(P(1, "tcp", "", 40000), "other")]
    got = assign_host_ports([P(80), P(81), P(82)], taken, always_free, random.Random(1), ephemeral=(40000, 40003))
    ports = [m.host_port for m in got]
    assert sorted(ports) == [40001, 40002, 40003]
    assert all(m.assigned for m in got)


def test_range_pick_and_exhaustion():
    got = assign_host_ports([P(80, "tcp", "", 8000, 8002)], [], lambda ip, port, proto: port == 8002,
                            random.Random(3))
    assert got == (P(80, "tcp", "", 8002),)
    with pytest.raises(ResourceExhausted, match="8000-8002"):
        assign_host_ports([P(80, "tcp", "", 8000, 8002)], [], lambda *a: False, random.Random(3))


def test_describe_is_dockers_port_line():
    assert P(80, "tcp", "", 8080).describe() == "80/tcp -> 0.0.0.0:8080"
    assert P(53, "udp", "127.0.0.1", 5353).describe() == "53/udp -> 127.0.0.1:5353"
