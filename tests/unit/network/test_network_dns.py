from __future__ import annotations

import json

import pytest

from vessel.network import dnswire
from vessel.network.dns import NameTable, Resolver, names_for, upstream_address
from vessel.network.model import Endpoint, Network, State
from vessel.oci._codec import encode

pytestmark = pytest.mark.unit

APP = Network("b" * 64, "appnet", "bridge", "vb-b", "10.89.0.0/24", "10.89.0.1", dns=True)
OTHER = Network("c" * 64, "other", "bridge", "vb-c", "10.89.1.0/24", "10.89.1.1", dns=True)


def state(*eps):
    return State(networks=(APP, OTHER), endpoints=tuple(eps))


def test_query_roundtrip_and_answer():
    raw = dnswire.build_query(0x1234, "DB.", dnswire.TYPE_A)
    q = dnswire.parse_query(raw)
    assert (q.id, q.name, q.qtype, q.qclass) == (0x1234, "db", dnswire.TYPE_A, dnswire.CLASS_IN)
    reply = dnswire.answer(q, ["10.89.0.2", "10.89.0.3"])
    assert dnswire.header_id(reply) == 0x1234
    assert dnswire.answers_of(reply) == (dnswire.NOERROR, ["10.89.0.2", "10.89.0.3"])
    assert dnswire.answers_of(dnswire.answer(q, [])) == (dnswire.NOERROR, [])
    assert dnswire.answers_of(dnswire.error(q, dnswire.NXDOMAIN)) == (dnswire.NXDOMAIN, [])


def test_malformed_queries():
    from vessel.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        dnswire.parse_query(b"\x00\x01")
    with pytest.raises(InvalidArgument, match="truncated|past the end"):
        dnswire.parse_query(dnswire.build_query(1, "db")[:-3])
    reply = dnswire.formerr(b"\xab\xcd" + b"\x00" * 4)
    assert dnswire.header_id(reply) == 0xABCD and dnswire.answers_of(reply)[0] == dnswire.FORMERR
    assert dnswire.formerr(b"\x01") is None


def test_names_cover_name_aliases_short_id_and_network_suffix():
    eps = (Endpoint("f" * 64, APP.id, "appnet", name="db", aliases=("Database",), ip="10.89.0.2"),
           Endpoint("e" * 64, APP.id, "appnet", name="web", aliases=("database",), ip="10.89.0.3"),
           Endpoint("d" * 64, OTHER.id, "other", name="elsewhere", ip="10.89.1.2"))
    names = names_for(state(*eps), APP.id)
    assert names["db"] == ["10.89.0.2"]
    assert names["db.appnet"] == ["10.89.0.2"]
    assert names["f" * 12] == ["10.89.0.2"]
    assert names["database"] == ["10.89.0.2", "10.89.0.3"]      # a shared alias answers both
    assert "elsewhere" not in names
    assert names_for(state(*eps), "gone") is None


class Names:
    """A NameTable stand-in: fixed names, one subnet."""

    def __init__(self, names, subnet_ok=True):
        self.names = names
        self.subnet_ok = subnet_ok

    def lookup(self, name):
        return self.names.get(name)

    def serves(self, peer_ip):
        return self.subnet_ok and peer_ip.startswith("10.89.0.")

    def refresh(self, force=False):
        return True


def test_resolver_answers_known_names_and_leaves_the_rest_to_upstream():
    r = Resolver(Names({"db": ["10.89.0.2"]}), [("127.0.0.1", 5353)])
    reply = r.local(dnswire.build_query(1, "db"), "10.89.0.9")
    assert dnswire.answers_of(reply) == (dnswire.NOERROR, ["10.89.0.2"])
    # AAAA of a known name: NODATA, not a forward
    assert dnswire.answers_of(r.local(dnswire.build_query(2, "db", dnswire.TYPE_AAAA), "10.89.0.9")) == (0, [])
    assert r.local(dnswire.build_query(3, "example.org"), "10.89.0.9") is None


def test_resolver_refuses_clients_outside_the_network_and_servfails_without_upstreams():
    r = Resolver(Names({"db": ["10.89.0.2"]}), [])
    assert dnswire.answers_of(r.local(dnswire.build_query(1, "db"), "10.88.0.5"))[0] == dnswire.REFUSED
    assert dnswire.answers_of(r.local(dnswire.build_query(2, "example.org"), "10.89.0.9"))[0] == dnswire.SERVFAIL


def test_name_table_follows_the_state_file(tmp_path):
    path = tmp_path / "state.json"

    def write(st):
        tmp = tmp_path / "tmp.json"
        tmp.write_text(json.dumps(encode(st)))
        tmp.replace(path)

    write(state())
    table = NameTable(path, APP.id)
    assert table.lookup("db") is None
    assert table.serves("10.89.0.7") and not table.serves("10.89.1.7")
    write(state(Endpoint("f" * 64, APP.id, "appnet", name="db", ip="10.89.0.2")))
    assert table.lookup("db") == ["10.89.0.2"]
    write(State(networks=(OTHER,)))
    assert table.refresh() is False
    path.unlink()
    assert table.refresh() is False


def test_upstream_address_parsing():
    assert upstream_address("10.255.255.53") == ("10.255.255.53", 53)
    assert upstream_address("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert upstream_address("fd00::1") == ("fd00::1", 53)
