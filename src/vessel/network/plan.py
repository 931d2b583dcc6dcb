"""From the state to the desired kernel state (pure).

``plan_host(state, tag)`` says which bridges must exist with which address,
which sysctls must hold, which resolvers must run, and which packet rules the
``inet`` table must contain.  ``plan_endpoint`` says how one container's veth
pair looks.  Nothing here touches the kernel: ``links.py`` and ``nft.py``
apply these values, ``nft.render`` turns a `RuleSet` into nftables JSON.

The packet rules, per bridge network B with subnet S (not internal)::

    nat prerouting/output:  fib daddr type local -> ports chain:
                            [ip daddr HOSTIP] PROTO dport HOSTPORT dnat to CONTAINER:PORT
    nat postrouting:        oif B, saddr 127.0.0.0/8        masquerade   (127.0.0.1:port -> container)
                            oif B, saddr S, ct status dnat  masquerade   (hairpin via a published port)
                            oif != B, saddr S               masquerade   (outbound)
    filter forward:         ct state established,related accept
                            iif B oif B accept                  (every network, first)
                            iif I drop; oif I drop              (every internal network I)
                            oif B ct status dnat accept         (published ports)
                            oif B drop                          (nothing else into a network)
                            iif B accept                        (outbound)

    raw prerouting (guard):  iif B, daddr 127.0.0.0/8       drop

``route_localnet=1`` on B (needed so that 127.0.0.1:PORT can be DNATed to a
container) would otherwise let a container reach the host's loopback
services by sending packets to 127.0.0.1 through its gateway (the kube-proxy
CVE-2020-8558 problem): the guard drops those before routing.

An internal network keeps only its own traffic: no outbound, no published
ports, no way to another network (not even through a published port).
Different bridges never reach each other except through a published port.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from vessel.network.model import Endpoint, Network, State

_F = dict(frozen=True, slots=True)
IFNAMSIZ = 15


@dataclass(**_F)
class BridgePlan:
    name: str
    gateway: str
    prefixlen: int
    alias: str


@dataclass(**_F)
class LinkPlan:
    """One veth pair: ``host_veth`` on ``bridge``, the peer ``ifname`` inside the container."""

    host_veth: str
    bridge: str
    ifname: str
    mac: str
    address: str
    prefixlen: int
    gateway: str        # "" = no default route through this link
    alias: str


@dataclass(**_F)
class Dnat:
    protocol: str
    host_port: int
    dest_ip: str
    dest_port: int
    host_ip: str = ""   # "" = every local address


@dataclass(**_F)
class Masquerade:
    saddr: str          # CIDR
    oif: str
    oif_negated: bool = False
    only_dnat: bool = False


@dataclass(**_F)
class Forward:
    verdict: str        # accept | drop
    iif: str = ""
    oif: str = ""
    only_dnat: bool = False
    established: bool = False


@dataclass(**_F)
class RuleSet:
    dnat: tuple[Dnat, ...] = ()
    masquerade: tuple[Masquerade, ...] = ()
    forward: tuple[Forward, ...] = ()
    guard: tuple[str, ...] = ()     # bridges where packets *to* 127.0.0.0/8 are dropped

    @property
    def empty(self) -> bool:
        return not (self.dnat or self.masquerade or self.forward or self.guard)


@dataclass(**_F)
class HostPlan:
    bridges: tuple[BridgePlan, ...]
    rules: RuleSet
    sysctls: tuple[tuple[str, str], ...]     # (path under /proc/sys, value)
    resolvers: tuple[str, ...]               # ids of networks whose resolver must run


# Names and tags ---------------------------------------------------------------

def instance_tag(root: Path) -> str:
    """A short id of this vessel root; link aliases carry it so reconcile finds our links only."""
    return hashlib.sha256(str(root).encode()).hexdigest()[:10]


def bridge_alias(tag: str, net: Network) -> str:
    return f"vessel:{tag}:bridge:{net.id[:12]}"


def veth_alias(tag: str, ep: Endpoint) -> str:
    return f"vessel:{tag}:veth:{ep.network_id[:12]}:{ep.container_id[:32]}"


def alias_prefix(tag: str) -> str:
    return f"vessel:{tag}:"


def bridge_name(prefix: str, network_id: str) -> str:
    return (prefix + network_id)[:IFNAMSIZ]


def veth_name(container_id: str, network_id: str) -> str:
    digest = hashlib.sha1(f"{container_id}/{network_id}".encode()).hexdigest()
    return "vh" + digest[:12]


def next_ifname(existing: tuple[Endpoint, ...]) -> str:
    """eth0 for the first network of a container, then eth1, eth2..."""
    used = {ep.ifname for ep in existing}
    n = 0
    while f"eth{n}" in used:
        n += 1
    return f"eth{n}"


# Plans --------------------------------------------------------------------------

def plan_endpoint(net: Network, ep: Endpoint, tag: str, default_route: bool) -> LinkPlan:
    return LinkPlan(host_veth=ep.host_veth, bridge=net.bridge, ifname=ep.ifname, mac=ep.mac,
                    address=ep.ip, prefixlen=ep.prefixlen,
                    gateway=net.gateway if default_route and not net.internal else "",
                    alias=veth_alias(tag, ep))


def _bridges(state: State) -> list[Network]:
    return sorted((n for n in state.networks if n.is_bridge and n.bridge), key=lambda n: n.bridge)


def _masquerade(nets: list[Network]) -> list[Masquerade]:
    out = []
    for net in nets:
        if not net.internal:
            out += [Masquerade("127.0.0.0/8", net.bridge),
                    Masquerade(net.subnet, net.bridge, only_dnat=True),
                    Masquerade(net.subnet, net.bridge, oif_negated=True)]
    return out


def _forward(nets: list[Network]) -> list[Forward]:
    """Ordered so that no accept of one network shadows a drop of another."""
    open_nets = [n.bridge for n in nets if not n.internal]
    closed = [n.bridge for n in nets if n.internal]
    out = [Forward("accept", established=True)]
    out += [Forward("accept", iif=n.bridge, oif=n.bridge) for n in nets]
    for b in closed:
        out += [Forward("drop", iif=b), Forward("drop", oif=b)]
    out += [Forward("accept", oif=b, only_dnat=True) for b in open_nets]
    out += [Forward("drop", oif=b) for b in open_nets]
    out += [Forward("accept", iif=b) for b in open_nets]
    return out


def plan_rules(state: State) -> RuleSet:
    bridges = _bridges(state)
    if not bridges:
        return RuleSet()
    by_id = {n.id: n for n in bridges}
    dnat = []
    for ep in state.endpoints:
        net = by_id.get(ep.network_id)
        if net is None or net.internal or not ep.ip:
            continue
        dnat.extend(Dnat(m.protocol, m.host_port, ep.ip, m.container_port, m.host_ip) for m in ep.ports)
    dnat.sort(key=lambda d: (d.protocol, d.host_port, d.host_ip == "", d.host_ip))
    guard = tuple(n.bridge for n in bridges if not n.internal)
    return RuleSet(tuple(dnat), tuple(_masquerade(bridges)), tuple(_forward(bridges)), guard)


def plan_sysctls(state: State) -> tuple[tuple[str, str], ...]:
    open_nets = [n for n in _bridges(state) if not n.internal]
    if not open_nets:
        return ()
    out = [("net/ipv4/ip_forward", "1")]
    out.extend((f"net/ipv4/conf/{n.bridge}/route_localnet", "1") for n in open_nets)
    return tuple(out)


def plan_host(state: State, tag: str) -> HostPlan:
    bridges = tuple(BridgePlan(n.bridge, n.gateway, n.prefixlen, bridge_alias(tag, n)) for n in _bridges(state))
    in_use = {ep.network_id for ep in state.endpoints}
    resolvers = tuple(n.id for n in state.networks if n.dns and n.id in in_use)
    return HostPlan(bridges, plan_rules(state), plan_sysctls(state), resolvers)
