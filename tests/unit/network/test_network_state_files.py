from __future__ import annotations

import json

import pytest

from vessel.errors import InvalidArgument
from vessel.network import files
from vessel.network.model import Endpoint, Network, PortMapping, State
from vessel.network.state import StateStore, load

pytestmark = pytest.mark.unit

NET = Network("a" * 64, "appnet", "bridge", "vb-a", "10.89.0.0/24", "10.89.0.1", dns=True, labels={"k": "v"})
EP = Endpoint("c" * 64, NET.id, "appnet", name="db", aliases=("d",), ip="10.89.0.2", prefixlen=24,
              ports=(PortMapping(80, "tcp", "", 8080),))


def test_missing_state_is_empty(tmp_path):
    assert load(tmp_path / "nope.json") == State()


def test_transaction_writes_and_roundtrips(tmp_path):
    store = StateStore(tmp_path / "network")
    with store.transaction() as txn:
        txn.state = txn.state.with_network(NET).with_endpoint(EP).with_resolver(NET.id, 42)
    again = store.read()
    assert again.networks == (NET,) and again.endpoints == (EP,) and again.resolvers == {NET.id: 42}
    assert json.loads(store.path.read_text())["networks"][0]["name"] == "appnet"


def test_failed_transaction_writes_nothing(tmp_path):
    store = StateStore(tmp_path / "network")
    with pytest.raises(RuntimeError):
        with store.transaction() as txn:
            txn.state = txn.state.with_network(NET)
            raise RuntimeError("boom")
    assert not store.path.exists()


def test_unchanged_transaction_does_not_rewrite(tmp_path):
    store = StateStore(tmp_path / "network")
    with store.transaction() as txn:
        txn.state = txn.state.with_network(NET)
    before = store.path.stat().st_ino
    with store.transaction():
        pass
    assert store.path.stat().st_ino == before


def test_corrupt_state_is_reported_with_the_path(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(InvalidArgument, match="state.json"):
        load(path)


def test_state_updates_are_pure():
    st = State().with_network(NET).with_endpoint(EP)
    assert st.find_network("appnet") == NET and st.find_network("aaa") == NET and st.find_network("zz") is None
    assert st.without_endpoint(EP.container_id, NET.id).endpoints == ()
    assert st.endpoints == (EP,)
    assert st.without_network(NET.id).networks == ()
    assert EP.dns_names == ("db", "d", "c" * 12)


def test_resolv_conf_parsing_and_container_view():
    host = files.parse_resolv_conf("# c\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nsearch a.test b.test\n"
                                   "options ndots:2 edns0\n")
    assert host.nameservers == ("127.0.0.53", "10.255.255.53")
    # loopback servers are unreachable from a container: dropped
    assert files.container_resolv_conf(host) == ("nameserver 10.255.255.53\nsearch a.test b.test\n"
                                                 "options ndots:2 edns0\n")
    assert files.container_resolv_conf(host, embedded="10.89.0.1").startswith("nameserver 10.89.0.1\n")
    assert "nameserver 9.9.9.9\n" in files.container_resolv_conf(host, "10.89.0.1", dns=["9.9.9.9"])
    only_loop = files.parse_resolv_conf("nameserver 127.0.0.53\n")
    assert files.container_resolv_conf(only_loop) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_hosts_file_and_extra_hosts():
    text = files.hosts_file([("10.89.0.2", "db")], [files.parse_extra_host("gw:host-gateway", "10.89.0.1"),
                                                    files.parse_extra_host("x:10.1.2.3")])
    assert text.startswith("127.0.0.1\tlocalhost\n")
    assert "10.89.0.2\tdb\n" in text and "10.89.0.1\tgw\n" in text and text.endswith("10.1.2.3\tx\n")
    with pytest.raises(InvalidArgument):
        files.parse_extra_host("nocolon")
    with pytest.raises(InvalidArgument, match="no gateway"):
        files.parse_extra_host("gw:host-gateway", "")
