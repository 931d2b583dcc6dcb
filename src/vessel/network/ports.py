"""Published ports (pure): parse ``-p``/``-P`` and assign host ports.

``parse_publish`` understands docker's forms::

    80            80/udp           8000-8002            (random host ports)
    8080:80       8000-8002:80-82  8000-8010:80         (host port picked from the range)
    127.0.0.1:8080:80              127.0.0.1::80        (bound to one host address)

``assign_host_ports`` turns "pick one" mappings into concrete host ports,
refusing clashes with ports other endpoints hold (by owner) and ports a host
program listens on (``is_free`` is injected: the real one tries to bind).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence

from vessel.errors import Conflict, InvalidArgument, ResourceExhausted, Unsupported
from vessel.network.ipam import parse_address
from vessel.network.model import PROTOCOLS, PortMapping

EPHEMERAL = (32768, 60999)      # Linux' default ip_local_port_range
_RANDOM_TRIES = 64

PortFree = Callable[[str, int, str], bool]       # (host_ip, port, protocol) -> free?


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidArgument(f"invalid port {text!r} in publish spec {spec!r}", value=spec,
                              hint="ports are numbers from 1 to 65535")
    return int(text)


def _range(text: str, spec: str) -> tuple[int, int]:
    if "-" in text:
        low_s, _, high_s = text.partition("-")
        low, high = _port(low_s, spec), _port(high_s, spec)
        if high < low:
            raise InvalidArgument(f"port range {text} in {spec!r} is reversed", value=spec)
        return low, high
    port = _port(text, spec)
    return port, port


def _split_protocol(spec: str) -> tuple[str, str]:
    body, sep, proto = spec.rpartition("/")
    if not sep:
        return spec, "tcp"
    proto = proto.lower()
    if proto not in PROTOCOLS:
        raise Unsupported(f"protocol {proto!r} in publish spec {spec!r} is not supported", value=spec,
                          hint="use tcp or udp")
    return body, proto


def parse_publish(spec: str) -> list[PortMapping]:
    """``[hostIP:][hostPort:]containerPort[/proto]`` with ranges -> mappings."""
    text = spec.strip()
    if not text:
        raise InvalidArgument("empty publish spec", value=spec, hint="e.g. -p 8080:80")
    if text.startswith("["):
        raise Unsupported(f"IPv6 host address in publish spec {spec!r} is not supported", value=spec,
                          hint="vessel publishes IPv4 ports only")
    body, proto = _split_protocol(text)
    parts = body.split(":")
    if len(parts) > 3:
        raise InvalidArgument(f"invalid publish spec {spec!r}", value=spec,
                              hint="write [hostIP:][hostPort:]containerPort[/tcp|/udp]")
    host_ip = ""
    if len(parts) == 3:
        host_ip = str(parse_address(parts[0], "host IP")) if parts[0] else ""
        if host_ip == "0.0.0.0":
            host_ip = ""
    host_text = parts[-2] if len(parts) >= 2 else ""
    c_low, c_high = _range(parts[-1], spec)
    if not host_text:
        return [PortMapping(p, proto, host_ip) for p in range(c_low, c_high + 1)]
    h_low, h_high = _range(host_text, spec)
    if c_low == c_high and h_low != h_high:
        return [PortMapping(c_low, proto, host_ip, h_low, h_high)]
    if h_high - h_low != c_high - c_low:
        raise InvalidArgument(f"host and container port ranges differ in length in {spec!r}", value=spec,
                              hint="give ranges of equal length, or one container port with a host range")
    return [PortMapping(c, proto, host_ip, h_low + i) for i, c in enumerate(range(c_low, c_high + 1))]


def publish_all(exposed: Iterable[str]) -> list[PortMapping]:
    """``-P``: every EXPOSEd port ("80/tcp", "53/udp", "8000-8001") to a random host port."""
    out: list[PortMapping] = []
    for item in exposed:
        out.extend(parse_publish(item.split(":")[-1]))
    return out


def _clash(a: PortMapping, b: PortMapping) -> bool:
    same_ip = not a.host_ip or not b.host_ip or a.host_ip == b.host_ip
    return a.protocol == b.protocol and a.host_port == b.host_port and same_ip


def _owner_of(mapping: PortMapping, taken: Sequence[tuple[PortMapping, str]]) -> str | None:
    for other, owner in taken:
        if _clash(mapping, other):
            return owner
    return None


def _candidates(low: int, high: int, rng: random.Random) -> Iterable[int]:
    for _ in range(min(_RANDOM_TRIES, high - low + 1)):
        yield rng.randint(low, high)
    start = rng.randint(low, high)
    yield from range(start, high + 1)
    yield from range(low, start)


def _pick(m: PortMapping, taken: list[tuple[PortMapping, str]], is_free: PortFree,
          rng: random.Random, ephemeral: tuple[int, int]) -> PortMapping:
    low, high = (m.host_port, m.host_port_end) if m.host_port_end else ephemeral
    for port in _candidates(low, high, rng):
        cand = PortMapping(m.container_port, m.protocol, m.host_ip, port)
        if _owner_of(cand, taken) is None and is_free(m.host_ip or "0.0.0.0", port, m.protocol):
            return cand
    raise ResourceExhausted(f"no free host port in {low}-{high}/{m.protocol} for container port {m.container_port}",
                            hint="free some ports or publish on an explicit host port")


def assign_host_ports(mappings: Iterable[PortMapping], taken: Iterable[tuple[PortMapping, str]],
                      is_free: PortFree, rng: random.Random | None = None,
                      ephemeral: tuple[int, int] = EPHEMERAL) -> tuple[PortMapping, ...]:
    """Concrete host ports for ``mappings``; ``taken`` pairs held ports with their owner's name."""
    rng = rng or random.Random()
    held = list(taken)
    out: list[PortMapping] = []
    for m in mappings:
        if m.assigned:
            owner = _owner_of(m, held)
            if owner is not None:
                raise Conflict(f"host port {m.host_port}/{m.protocol} is already published by {owner}",
                               port=m.host_port, hint="publish on another host port, or let vessel pick one")
            if not is_free(m.host_ip or "0.0.0.0", m.host_port, m.protocol):
                raise Conflict(f"host port {m.host_ip or '0.0.0.0'}:{m.host_port}/{m.protocol} is in use by a host program",
                               port=m.host_port, hint="stop that program or publish on another host port")
            chosen = m
        else:
            chosen = _pick(m, held, is_free, rng, ephemeral)
        held.append((chosen, "this container"))
        out.append(chosen)
    return tuple(out)
