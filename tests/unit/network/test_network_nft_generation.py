"""nft: skipping the list-and-compare while the ruleset generation shows nothing changed."""

from __future__ import annotations

import json
import sys

import pytest

from vessel.network import nft
from vessel.network.plan import Forward, RuleSet

pytestmark = pytest.mark.unit

RULES = RuleSet(forward=(Forward("accept", established=True), Forward("accept", iif="vessel0")), guard=("vessel0",))
OTHER = RuleSet(forward=(Forward("accept", iif="vessel1"),), guard=("vessel1",))


class Backend:
    """nftables in memory: a commit bumps the namespace's generation, as the kernel does."""

    def __init__(self, gen: list[int]) -> None:
        self.gen = gen
        self.listing: list[dict] | None = None
        self.calls: list[str] = []

    def list_table(self, table: str) -> list[dict] | None:
        self.calls.append("list")
        return self.listing

    def run(self, doc: dict) -> None:
        self.calls.append("run")
        objs = [cmd["add"] for cmd in doc["nftables"][2:]]
        self.listing = objs or None
        self.gen[0] += 1


@pytest.fixture
def world(tmp_path):
    gen = [7]
    backend = Backend(gen)
    record = tmp_path / "nft-verified.json"

    def apply(rules: RuleSet, check: bool = True, netns: str = "cookie:1", boot: str = "boot-a") -> bool:
        return nft.apply_with_generation(lambda: backend, "vessel", rules, check, record=record, boot_id=boot,
                                         generation=lambda: (gen[0], netns))

    return apply, backend, gen, record


def test_a_verified_table_is_not_listed_again_while_the_generation_holds(world):
    apply, backend, gen, record = world
    assert apply(RULES) is True                         # missing: listed, written (generation 7 -> 8)
    assert backend.calls == ["list", "run"]
    assert json.loads(record.read_text())["generation"] == 8
    backend.calls.clear()
    assert apply(RULES) is False
    assert backend.calls == []                          # nothing loaded, nothing listed


def test_any_commit_elsewhere_forces_a_real_check(world):
    apply, backend, gen, record = world
    apply(RULES)
    gen[0] += 1                                         # someone changed some table
    backend.calls.clear()
    assert apply(RULES) is False                        # listed: still equal
    assert backend.calls == ["list"]
    backend.calls.clear()
    assert apply(RULES) is False
    assert backend.calls == []                          # and verified again at the new generation


def test_a_table_changed_behind_our_back_is_rewritten(world):
    apply, backend, gen, record = world
    apply(RULES)
    backend.listing = []                                # flushed by hand: a commit
    gen[0] += 1
    backend.calls.clear()
    assert apply(RULES) is True
    assert backend.calls == ["list", "run"]


def test_other_rules_another_namespace_or_a_reboot_are_not_verified(world):
    apply, backend, gen, record = world
    apply(RULES)
    for kwargs in ({"netns": "cookie:2"}, {"boot": "boot-b"}):
        backend.calls.clear()
        assert apply(RULES, **kwargs) is False
        assert backend.calls == ["list"]
    apply(RULES)
    backend.calls.clear()
    assert apply(OTHER) is True
    assert backend.calls == ["list", "run"]


def test_unchecked_writes_keep_the_record_up_to_date(world):
    apply, backend, gen, record = world
    assert apply(RULES, check=False) is True
    assert backend.calls == ["run"]
    backend.calls.clear()
    assert apply(RULES) is False
    assert backend.calls == []


def test_a_concurrent_commit_during_our_write_drops_the_record(world, tmp_path):
    apply, backend, gen, record = world
    apply(RULES)
    assert record.exists()
    real_run = backend.run

    def run_with_a_neighbour(doc: dict) -> None:
        real_run(doc)
        gen[0] += 1                                     # another process committed right after us

    backend.run = run_with_a_neighbour
    apply(OTHER)
    assert not record.exists()


def test_without_a_generation_it_is_plain_apply(tmp_path):
    backend = Backend([0])
    record = tmp_path / "r.json"
    results = [nft.apply_with_generation(lambda: backend, "vessel", RULES, True, record=record, boot_id="b",
                                         generation=lambda: None) for _ in range(2)]
    assert results == [True, False]
    assert backend.calls == ["list", "run", "list"]
    assert not record.exists()


def test_an_unreadable_record_means_a_real_check(world):
    apply, backend, gen, record = world
    apply(RULES)
    record.write_text("{not json")
    backend.calls.clear()
    assert apply(RULES) is False
    assert backend.calls == ["list"]


@pytest.mark.skipif(sys.byteorder != "little", reason="hand-built message is little-endian")
def test_generation_messages():
    assert nft.generation_request().encode(3) == bytes.fromhex(
        "14000000 100a 0500 03000000 00000000 00000000")   # NFT_MSG_GETGEN, nfgenmsg AF_UNSPEC v0
    answer = bytes.fromhex("00000002" "0800 0100 00003e0b" "0800 0200 00000001" "0b00 0300 707974686f6e00 00")
    assert nft.parse_generation(answer) == 0x3E0B
