"""nftables: render a `RuleSet` as one JSON document and apply it atomically.

Our rules live in one table of our own, ``inet <table>`` (``inet vessel`` by
default); nothing else on the host is touched.  The document replaces the
whole table in one transaction (``add table; delete table; add table;
chains...; rules...``), so the kernel never sees half a rule set.  Before
applying, the current table is listed and compared with the desired one:
applying the same plan twice changes nothing (no new handles, no flush).

`render`, `objects` and `document` are pure.  `LibNftables` talks to
libnftables through Debian's python3-nftables; `NftCommand` falls back to
``nft -j -f -``.

Every committed nftables transaction (ours or anyone's, in any table) bumps
the network namespace's ruleset *generation*.  A table found equal to the plan
(or written by us) at generation G is therefore still equal while the
generation is G: `verified_record` notes that, and a later check that finds
the same generation, namespace, boot and plan skips loading libnftables and
listing the ruleset (~3 ms of every ``vessel run``) for one small netlink
request (`read_generation`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import socket
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from vessel.errors import SystemFailure, Unsupported
from vessel.network.plan import Dnat, Forward, Masquerade, RuleSet
from vessel.network.rtnl import AF_UNSPEC, NLM_F_ACK, NLM_F_REQUEST, Request, Rtnl, unpack_attrs

FAMILY = "inet"
PORTS_CHAIN = "ports"
# name, type, hook, priority (raw = -300, dstnat = -100, srcnat = 100, filter = 0)
BASE_CHAINS = (
    ("guard", "filter", "prerouting", -300),
    ("prerouting", "nat", "prerouting", -100),
    ("output", "nat", "output", -100),
    ("postrouting", "nat", "postrouting", 100),
    ("forward", "filter", "forward", 0),
)


def _match(left: Any, right: Any, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict:
    return {"meta": {"key": key}}


def _payload(protocol: str, field: str) -> dict:
    return {"payload": {"protocol": protocol, "field": field}}


def _prefix(cidr: str) -> Any:
    net = ipaddress.ip_network(cidr)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _ct_dnat() -> dict:
    return _match({"ct": {"key": "status"}}, "dnat", op="in")


def dnat_expr(d: Dnat) -> list[dict]:
    expr = [_match(_payload("ip", "daddr"), d.host_ip)] if d.host_ip else [_match(_meta("nfproto"), "ipv4")]
    expr.append(_match(_payload(d.protocol, "dport"), d.host_port))
    expr.append({"dnat": {"family": "ip", "addr": d.dest_ip, "port": d.dest_port}})
    return expr


def masquerade_expr(m: Masquerade) -> list[dict]:
    expr = [_match(_meta("oifname"), m.oif, op="!=" if m.oif_negated else "=="),
            _match(_payload("ip", "saddr"), _prefix(m.saddr))]
    if m.only_dnat:
        expr.append(_ct_dnat())
    expr.append({"masquerade": None})
    return expr


def forward_expr(f: Forward) -> list[dict]:
    expr: list[dict] = []
    if f.established:
        expr.append(_match({"ct": {"key": "state"}}, ["established", "related"], op="in"))
    if f.iif:
        expr.append(_match(_meta("iifname"), f.iif))
    if f.oif:
        expr.append(_match(_meta("oifname"), f.oif))
    if f.only_dnat:
        expr.append(_ct_dnat())
    expr.append({f.verdict: None})
    return expr


def guard_expr(bridge: str) -> list[dict]:
    return [_match(_meta("iifname"), bridge), _match(_payload("ip", "daddr"), _prefix("127.0.0.0/8")), {"drop": None}]


def _jump_local() -> list[dict]:
    return [_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local"), {"jump": {"target": PORTS_CHAIN}}]


def objects(rules: RuleSet, table: str) -> list[dict]:
    """The table as ``nft -j list table`` shows it (without handles), in listing order."""
    out: list[dict] = [{"table": {"family": FAMILY, "name": table}}]
    for name, type_, hook, prio in BASE_CHAINS:
        out.append({"chain": {"family": FAMILY, "table": table, "name": name, "type": type_,
                              "hook": hook, "prio": prio, "policy": "accept"}})
    out.append({"chain": {"family": FAMILY, "table": table, "name": PORTS_CHAIN}})
    by_chain: list[tuple[str, list[list[dict]]]] = [
        ("guard", [guard_expr(b) for b in rules.guard]),
        ("prerouting", [_jump_local()]),
        ("output", [_jump_local()]),
        ("postrouting", [masquerade_expr(m) for m in rules.masquerade]),
        ("forward", [forward_expr(f) for f in rules.forward]),
        (PORTS_CHAIN, [dnat_expr(d) for d in rules.dnat]),
    ]
    for chain, exprs in by_chain:
        out.extend({"rule": {"family": FAMILY, "table": table, "chain": chain, "expr": e}} for e in exprs)
    return out


def document(rules: RuleSet, table: str) -> dict:
    """One transaction replacing the table (or deleting it when there are no rules)."""
    tbl = {"table": {"family": FAMILY, "name": table}}
    cmds: list[dict] = [{"add": tbl}, {"delete": tbl}]
    if not rules.empty:
        cmds += [{"add": obj} for obj in objects(rules, table)]
    return {"nftables": cmds}


def normalize(listing: list[dict] | None) -> list[dict] | None:
    """A listing without metainfo and handles, comparable with `objects`."""
    if listing is None:
        return None
    out = []
    for obj in listing:
        if "metainfo" in obj:
            continue
        ((kind, body),) = obj.items()
        out.append({kind: {k: v for k, v in body.items() if k != "handle"}})
    return out


class Backend(Protocol):
    def run(self, doc: dict) -> None: ...
    def list_table(self, table: str) -> list[dict] | None: ...


class LibNftables:
    """libnftables through Debian's python3-nftables."""

    def __init__(self) -> None:
        import nftables  # system site-packages (python3-nftables)

        self._nft = nftables.Nftables()
        self._nft.set_json_output(True)
        self._nft.set_handle_output(False)

    def run(self, doc: dict) -> None:
        rc, _out, err = self._nft.json_cmd(doc)
        if rc != 0:
            raise SystemFailure(f"nftables rejected the rule set: {err.strip()}",
                                hint="run `nft -j list ruleset` and check the kernel has nf_tables with nat")

    def list_table(self, table: str) -> list[dict] | None:
        rc, out, err = self._nft.cmd(f"list table {FAMILY} {table}")
        if rc != 0:
            if "No such file" in err:
                return None
            raise SystemFailure(f"listing nftables table {FAMILY} {table} failed: {err.strip()}")
        return json.loads(out)["nftables"]


class NftCommand:
    """Fallback: the ``nft`` program with JSON on stdin."""

    def __init__(self, nft: str = "nft") -> None:
        self._nft = nft

    def _call(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self._nft, *args], input=stdin, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise Unsupported(f"{self._nft} not found", hint="apt-get install nftables python3-nftables") from None

    def run(self, doc: dict) -> None:
        res = self._call(["-j", "-f", "-"], json.dumps(doc))
        if res.returncode != 0:
            raise SystemFailure(f"nft -j -f - rejected the rule set: {res.stderr.strip()}")

    def list_table(self, table: str) -> list[dict] | None:
        res = self._call(["-j", "list", "table", FAMILY, table])
        if res.returncode != 0:
            if "No such file" in res.stderr:
                return None
            raise SystemFailure(f"nft list table {FAMILY} {table} failed: {res.stderr.strip()}")
        return json.loads(res.stdout)["nftables"]


def default_backend() -> Backend:
    try:
        return LibNftables()
    except (ImportError, OSError):
        return NftCommand()


def apply(backend: Backend, table: str, rules: RuleSet, check: bool = True) -> bool:
    """Make the kernel's table equal to ``rules``; False when it already was.

    ``check=False`` skips listing the table first, for callers that know the
    rules changed (attach/detach compare the old and new plans in memory).
    """
    if check:
        current = normalize(backend.list_table(table))
        desired = None if rules.empty else objects(rules, table)
        if current == desired:
            return False
    backend.run(document(rules, table))
    return True


# The ruleset generation ------------------------------------------------------------

NETLINK_NETFILTER = 12
NFT_MSG_GETGEN = (10 << 8) | 16          # NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN
NFTA_GEN_ID = 1
SO_NETNS_COOKIE = 71                     # Linux >= 5.14: an id of the namespace never reused until reboot
_NFGENMSG = struct.Struct("=BBH")        # family, version (NFNETLINK_V0), res_id (big-endian, 0)


def generation_request() -> Request:
    return Request(NFT_MSG_GETGEN, NLM_F_REQUEST | NLM_F_ACK, _NFGENMSG.pack(AF_UNSPEC, 0, 0))


def parse_generation(payload: bytes) -> int:
    """NFTA_GEN_ID (big-endian u32) of an NFT_MSG_NEWGEN answer."""
    return struct.unpack(">I", unpack_attrs(payload, _NFGENMSG.size)[NFTA_GEN_ID])[0]


def netfilter_socket() -> Rtnl | None:
    """A NETLINK_NETFILTER socket for `read_generation`; None if this kernel has none.

    Keep it open for the whole operation: closing such a socket waits for the
    clean-up of the last nftables commit (an RCU grace period, 5-20 ms here).
    """
    try:
        return Rtnl(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_NETFILTER))
    except OSError:
        return None


def read_generation(nl: Rtnl) -> tuple[int, str] | None:
    """(generation, namespace id) of the socket's network namespace; None if nf_tables does not answer."""
    try:
        answers = nl.call(generation_request())
        return parse_generation(answers[0].payload), _netns_id(nl.sock)
    except (OSError, KeyError, IndexError, struct.error):
        return None                                          # the slow path (list and compare) still works


def _netns_id(sock: socket.socket) -> str:
    try:
        (cookie,) = struct.unpack("=Q", sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))
        return f"cookie:{cookie}"
    except OSError:                                          # Linux < 5.14: the namespace's inode
        st = os.stat("/proc/self/ns/net")
        return f"inode:{st.st_dev}:{st.st_ino}"


def fingerprint(rules: RuleSet, table: str) -> str:
    """A digest of the table the plan asks for."""
    return hashlib.sha256(json.dumps(objects(rules, table), sort_keys=True).encode()).hexdigest()


def verified_record(boot_id: str, netns: str, generation: int, table: str, rules: RuleSet) -> dict:
    """What is known after the table was found equal to ``rules`` (or written) at ``generation``."""
    return {"boot": boot_id, "netns": netns, "generation": generation, "table": table,
            "rules": fingerprint(rules, table)}


def load_record(path: Path) -> dict | None:
    """The last record; None when missing or unreadable (then the table is listed and the record rewritten)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def apply_with_generation(get_backend: Callable[[], Backend], table: str, rules: RuleSet, check: bool, *,
                          record: Path, boot_id: str, generation: Callable[[], tuple[int, str] | None]) -> bool:
    """`apply`, skipped when the ruleset generation shows the table is as last verified (``record``)."""
    before = generation()
    if check and before is not None:
        if load_record(record) == verified_record(boot_id, before[1], before[0], table, rules):
            return False
    changed = apply(get_backend(), table, rules, check)
    after = generation()
    if before is not None and after == (before[0] + int(changed), before[1]):   # no one else committed meanwhile
        try:
            tmp = record.with_name(f"{record.name}.tmp{os.getpid()}")
            tmp.write_text(json.dumps(verified_record(boot_id, after[1], after[0], table, rules)) + "\n")
            os.replace(tmp, record)
        except OSError:
            pass    # no record: the next check lists the table (generations only grow: an old one never matches)
    else:
        record.unlink(missing_ok=True)
    return changed
