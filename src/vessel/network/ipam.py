"""IP address management (pure): subnets, gateways, leases, MAC addresses.

IPv4 only.  A lease is simply an endpoint's address in the state: the pool of
a network is its subnet minus the network address, the broadcast address, the
gateway and the addresses already leased.  Allocation takes the lowest free
address; MAC addresses are derived from the IP (``02:42:`` + the four bytes,
as docker does) so that a reused address keeps its MAC and neighbours' ARP
caches stay right.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from vessel.errors import Conflict, InvalidArgument, ResourceExhausted, Unsupported

MAX_PREFIX = 30          # a /30 leaves one container next to the gateway
DEFAULT_SUBNET = "10.88.0.0/16"
USER_POOL = "10.89.0.0/16"
USER_PREFIX = 24


def parse_subnet(cidr: str) -> IPv4Network:
    """A subnet given by the user; host bits must be zero, prefix at most /30."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as err:
        raise InvalidArgument(f"invalid subnet {cidr!r}: {err}", value=cidr,
                              hint="write it as ADDRESS/PREFIX with the host bits zero, e.g. 10.89.3.0/24") from None
    if net.version != 4:
        raise Unsupported(f"IPv6 subnet {cidr} is not supported", value=cidr, hint="vessel networks are IPv4 only")
    if net.prefixlen > MAX_PREFIX:
        raise InvalidArgument(f"subnet {cidr} is too small (prefix /{net.prefixlen})", value=cidr,
                              hint=f"use a prefix of /{MAX_PREFIX} or shorter")
    return net  # type: ignore[return-value]


def parse_address(text: str, what: str = "address") -> IPv4Address:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what} {text!r}", value=text, hint="write an IPv4 address such as 10.89.0.5") from None
    if addr.version != 4:
        raise Unsupported(f"IPv6 {what} {text} is not supported", value=text, hint="vessel networks are IPv4 only")
    return addr  # type: ignore[return-value]


def _usable(subnet: IPv4Network, addr: IPv4Address) -> bool:
    return addr in subnet and addr not in (subnet.network_address, subnet.broadcast_address)


def choose_gateway(subnet: IPv4Network, gateway: str | None = None) -> IPv4Address:
    """The gateway: the one asked for (checked) or the first host of the subnet."""
    if gateway is None:
        return subnet.network_address + 1
    addr = parse_address(gateway, "gateway")
    if not _usable(subnet, addr):
        raise InvalidArgument(f"gateway {gateway} is not a usable address of subnet {subnet}",
                              value=gateway, subnet=str(subnet),
                              hint="pick an address inside the subnet, not its network or broadcast address")
    return addr


def allocate(subnet: IPv4Network, gateway: IPv4Address, used: Iterable[str],
             requested: str | None = None) -> IPv4Address:
    """Lease an address of ``subnet``: ``requested`` if free, else the lowest free one."""
    taken = {IPv4Address(u) for u in used if u}
    taken.add(gateway)
    if requested is not None:
        addr = parse_address(requested, "IP address")
        if not _usable(subnet, addr):
            raise InvalidArgument(f"IP address {requested} is outside the usable range of subnet {subnet}",
                                  value=requested, subnet=str(subnet))
        if addr in taken:
            what = "the gateway" if addr == gateway else "already leased"
            raise Conflict(f"IP address {requested} is {what} on subnet {subnet}", value=requested,
                           hint="leave --ip out to get a free address")
        return addr
    for addr in subnet.hosts():
        if addr not in taken:
            return addr
    raise ResourceExhausted(f"no free IP address left in subnet {subnet} ({len(taken) - 1} leased)",
                            subnet=str(subnet), hint="remove unused containers or create a network with a larger subnet")


def mac_for(addr: IPv4Address | str) -> str:
    """Locally administered unicast MAC derived from the IPv4 address."""
    raw = IPv4Address(str(addr)).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in raw)


def parse_mac(text: str) -> str:
    parts = text.lower().replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts):
        raise InvalidArgument(f"invalid MAC address {text!r}", value=text, hint="write it as 02:42:0a:58:00:05")
    if int(parts[0], 16) & 1:
        raise InvalidArgument(f"MAC address {text} is a multicast address", value=text,
                              hint="the lowest bit of the first byte must be 0")
    return ":".join(parts)


def overlapping(subnet: IPv4Network, others: Iterable[IPv4Network]) -> list[IPv4Network]:
    return [o for o in others if subnet.overlaps(o)]


def pick_subnet(candidates: Iterable[IPv4Network], avoid: Iterable[IPv4Network],
                avoid_addrs: Iterable[IPv4Address] = ()) -> IPv4Network:
    """The first candidate overlapping no ``avoid`` network and holding no ``avoid_addrs``."""
    avoid = list(avoid)
    addrs = list(avoid_addrs)
    for cand in candidates:
        if not overlapping(cand, avoid) and not any(a in cand for a in addrs):
            return cand
    raise ResourceExhausted("no free subnet left in vessel's address pools",
                            hint="give one explicitly with --subnet, or remove unused networks")


def default_candidates(preferred: str = DEFAULT_SUBNET) -> list[IPv4Network]:
    """The default bridge's subnet, then 10.90.0.0/16 ... 10.127.0.0/16 if that one is routed."""
    first = parse_subnet(preferred)
    rest = [IPv4Network(f"10.{i}.0.0/16") for i in range(90, 128)]
    return [first] + [n for n in rest if n != first]


def user_candidates(pool: str = USER_POOL, prefix: int = USER_PREFIX) -> Iterable[IPv4Network]:
    """Subnets for user networks created without --subnet: the /24s of 10.89.0.0/16."""
    return parse_subnet(pool).subnets(new_prefix=prefix)
