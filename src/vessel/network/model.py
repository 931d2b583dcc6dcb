"""The data of the network layer: networks, endpoints, published ports (pure).

Everything here is a frozen dataclass that round-trips through JSON with
`vessel.oci._codec` (the state file stores them as they are).  Addresses are
kept as strings (dotted quads, CIDRs) so that the state file stays readable.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace as _replace

_F = dict(frozen=True, slots=True)

BRIDGE = "bridge"      # the default network's name, and the driver of user networks
HOST = "host"
NONE = "none"
PREDEFINED = (BRIDGE, HOST, NONE)
DRIVER_OF = {BRIDGE: "bridge", HOST: "host", NONE: "null"}
PROTOCOLS = ("tcp", "udp")


@dataclass(**_F)
class PortMapping:
    """One published port: host [host_ip:]host_port -> container_port/protocol.

    ``host_ip`` "" means every address of the host.  ``host_port`` 0 means
    "pick a free one when the container is attached"; with ``host_port_end``
    set, the pick is made in ``[host_port, host_port_end]`` instead of the
    ephemeral range.
    """

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0

    @property
    def assigned(self) -> bool:
        return self.host_port != 0 and self.host_port_end == 0

    def describe(self) -> str:
        """docker's `port` line: ``80/tcp -> 0.0.0.0:8080``."""
        host_ip = self.host_ip or "0.0.0.0"
        return f"{self.container_port}/{self.protocol} -> {host_ip}:{self.host_port}"


@dataclass(**_F)
class Network:
    """A network as stored: a bridge with a subnet, or one of host/none."""

    id: str
    name: str
    driver: str = "bridge"
    bridge: str = ""           # Linux bridge device (bridge driver only)
    subnet: str = ""           # CIDR, e.g. 10.88.0.0/16
    gateway: str = ""          # address of the bridge, first host of the subnet by default
    internal: bool = False     # no outbound traffic, no published ports
    dns: bool = False          # embedded resolver on gateway:53 (user-defined networks)
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    created: str = ""

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def is_bridge(self) -> bool:
        return self.driver == "bridge"

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def prefixlen(self) -> int:
        return ipaddress.IPv4Network(self.subnet).prefixlen if self.subnet else 0


@dataclass(**_F)
class Endpoint:
    """A container's attachment to one network (its lease, link and ports)."""

    container_id: str
    network_id: str
    network: str                       # network name at attach time
    name: str = ""                     # container name (resolvable on DNS networks)
    aliases: tuple[str, ...] = ()
    ip: str = ""
    prefixlen: int = 0
    gateway: str = ""
    mac: str = ""
    host_veth: str = ""                # host side of the veth pair
    ifname: str = ""                   # name inside the container (eth0, eth1...)
    ports: tuple[PortMapping, ...] = ()
    netns: str = ""                    # path of the network namespace at attach time

    @property
    def dns_names(self) -> tuple[str, ...]:
        """Names the embedded resolver answers for this endpoint (lower case)."""
        names = [self.name, *self.aliases, self.container_id[:12]]
        return tuple(dict.fromkeys(n.lower() for n in names if n))


@dataclass(**_F)
class State:
    """Everything the network layer remembers, as stored in ``state.json``."""

    version: int = 1
    networks: tuple[Network, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    resolvers: dict[str, int] = field(default_factory=dict, hash=False)   # network id -> pid

    # Queries (pure) -----------------------------------------------------
    def find_network(self, ref: str) -> Network | None:
        """By name, full id, or unique id prefix (docker's rules)."""
        for net in self.networks:
            if net.name == ref or net.id == ref:
                return net
        if len(ref) >= 3:
            hits = [net for net in self.networks if net.id.startswith(ref)]
            if len(hits) == 1:
                return hits[0]
        return None

    def endpoints_of(self, network_id: str) -> tuple[Endpoint, ...]:
        return tuple(ep for ep in self.endpoints if ep.network_id == network_id)

    def endpoints_for(self, container_id: str) -> tuple[Endpoint, ...]:
        return tuple(ep for ep in self.endpoints if ep.container_id == container_id)

    def endpoint(self, container_id: str, network_id: str) -> Endpoint | None:
        for ep in self.endpoints:
            if ep.container_id == container_id and ep.network_id == network_id:
                return ep
        return None

    # Updates (return a new State) --------------------------------------
    def with_network(self, net: Network) -> "State":
        others = tuple(n for n in self.networks if n.id != net.id)
        return _replace(self, networks=others + (net,))

    def without_network(self, network_id: str) -> "State":
        resolvers = {k: v for k, v in self.resolvers.items() if k != network_id}
        return _replace(self, networks=tuple(n for n in self.networks if n.id != network_id),
                        resolvers=resolvers)

    def with_endpoint(self, ep: Endpoint) -> "State":
        others = tuple(e for e in self.endpoints
                       if (e.container_id, e.network_id) != (ep.container_id, ep.network_id))
        return _replace(self, endpoints=others + (ep,))

    def without_endpoint(self, container_id: str, network_id: str) -> "State":
        kept = tuple(e for e in self.endpoints
                     if (e.container_id, e.network_id) != (container_id, network_id))
        return _replace(self, endpoints=kept)

    def with_resolver(self, network_id: str, pid: int | None) -> "State":
        resolvers = {k: v for k, v in self.resolvers.items() if k != network_id}
        if pid is not None:
            resolvers[network_id] = pid
        return _replace(self, resolvers=resolvers)
