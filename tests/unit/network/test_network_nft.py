from __future__ import annotations

import json

import pytest

from vessel.network import nft
from vessel.network.plan import Dnat, Forward, Masquerade, RuleSet

pytestmark = pytest.mark.unit

RULES = RuleSet(
    dnat=(Dnat("tcp", 8080, "10.88.0.2", 80), Dnat("udp", 5353, "10.88.0.3", 53, "127.0.0.1")),
    masquerade=(Masquerade("127.0.0.0/8", "vessel0"), Masquerade("10.88.0.0/16", "vessel0", only_dnat=True),
                Masquerade("10.88.0.0/16", "vessel0", oif_negated=True)),
    forward=(Forward("accept", established=True), Forward("accept", iif="vessel0", oif="vessel0"),
             Forward("drop", oif="vessel0")),
    guard=("vessel0",),
)


def rules_of(doc_objects, chain):
    return [o["rule"]["expr"] for o in doc_objects if "rule" in o and o["rule"]["chain"] == chain]


def test_objects_describe_our_table_only():
    objs = nft.objects(RULES, "vessel")
    assert objs[0] == {"table": {"family": "inet", "name": "vessel"}}
    chains = [o["chain"] for o in objs if "chain" in o]
    assert [(c["name"], c.get("hook"), c.get("prio")) for c in chains] == [
        ("guard", "prerouting", -300), ("prerouting", "prerouting", -100), ("output", "output", -100), ("postrouting", "postrouting", 100),
        ("forward", "forward", 0), ("ports", None, None)]
    assert all(o[next(iter(o))].get("table", "vessel") == "vessel" for o in objs[1:])


def test_published_ports_jump_from_prerouting_and_output_for_local_addresses():
    objs = nft.objects(RULES, "vessel")
    for chain in ("prerouting", "output"):
        (expr,) = rules_of(objs, chain)
        assert expr[0]["match"]["left"] == {"fib": {"result": "type", "flags": ["daddr"]}}
        assert expr[0]["match"]["right"] == "local"
        assert expr[1] == {"jump": {"target": "ports"}}
    wildcard, bound = rules_of(objs, "ports")
    assert wildcard[0]["match"] == {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}
    assert wildcard[-1] == {"dnat": {"family": "ip", "addr": "10.88.0.2", "port": 80}}
    assert bound[0]["match"]["right"] == "127.0.0.1"
    assert bound[1]["match"]["left"] == {"payload": {"protocol": "udp", "field": "dport"}}


def test_guard_drops_packets_to_loopback_coming_from_a_bridge():
    (expr,) = rules_of(nft.objects(RULES, "vessel"), "guard")
    assert expr == [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "vessel0"}},
                    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                               "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}},
                    {"drop": None}]


def test_masquerade_rules():
    loop, hairpin, out = rules_of(nft.objects(RULES, "vessel"), "postrouting")
    assert loop[1]["match"]["right"] == {"prefix": {"addr": "127.0.0.0", "len": 8}}
    assert hairpin[2] == {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}
    assert out[0]["match"]["op"] == "!="
    assert all(r[-1] == {"masquerade": None} for r in (loop, hairpin, out))


def test_document_replaces_the_table_in_one_transaction():
    doc = nft.document(RULES, "vessel")
    cmds = doc["nftables"]
    tbl = {"table": {"family": "inet", "name": "vessel"}}
    assert cmds[:3] == [{"add": tbl}, {"delete": tbl}, {"add": tbl}]
    assert all(list(c) == ["add"] for c in cmds[3:])
    json.dumps(doc)                                    # serializable as is
    assert nft.document(RuleSet(), "vessel")["nftables"] == [{"add": tbl}, {"delete": tbl}]


class FakeBackend:
    def __init__(self, listing=None):
        self.listing = listing
        self.runs = []

    def list_table(self, table):
        return self.listing

    def run(self, doc):
        self.runs.append(doc)


def with_handles(objs):
    out = [{"metainfo": {"version": "1.0.6"}}]
    for i, o in enumerate(objs):
        ((kind, body),) = o.items()
        out.append({kind: {**body, "handle": i + 1}})
    return out


def test_apply_is_idempotent():
    backend = FakeBackend(with_handles(nft.objects(RULES, "vessel")))
    assert nft.apply(backend, "vessel", RULES) is False
    assert backend.runs == []
    backend.listing = None
    assert nft.apply(backend, "vessel", RULES) is True
    assert backend.runs == [nft.document(RULES, "vessel")]


def test_apply_empty_rules_deletes_an_existing_table_and_skips_a_missing_one():
    backend = FakeBackend(None)
    assert nft.apply(backend, "vessel", RuleSet()) is False
    backend.listing = with_handles(nft.objects(RULES, "vessel"))
    assert nft.apply(backend, "vessel", RuleSet()) is True
    assert backend.runs[-1]["nftables"][-1] == {"delete": {"table": {"family": "inet", "name": "vessel"}}}


def test_apply_without_check_always_writes():
    backend = FakeBackend(with_handles(nft.objects(RULES, "vessel")))
    assert nft.apply(backend, "vessel", RULES, check=False) is True
    assert len(backend.runs) == 1


def test_single_address_renders_without_prefix():
    assert nft._prefix("10.0.0.1/32") == "10.0.0.1"
