"""A container's /etc/hosts and /etc/resolv.conf (pure: text in, text out)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vessel.errors import InvalidArgument
from vessel.network.ipam import parse_address

HOST_GATEWAY = "host-gateway"      # --add-host name:host-gateway -> the container's gateway
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")
LOCALHOST_BLOCK = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


@dataclass(frozen=True, slots=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def render(self) -> str:
        lines = [f"nameserver {ns}" for ns in self.nameservers]
        if self.search:
            lines.append("search " + " ".join(self.search))
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n"


def upstream_address(text: str) -> tuple[str, int]:
    """A DNS upstream ``IP`` or ``IPv4:PORT`` as (host, port)."""
    host, sep, port = text.rpartition(":")
    if sep and "." in host:
        return host, int(port)
    return text, 53


def parse_resolv_conf(text: str) -> ResolvConf:
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            nameservers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options.extend(words[1:])
    return ResolvConf(tuple(nameservers), tuple(search), tuple(options))


def _is_loopback(addr: str) -> bool:
    return addr.startswith("127.") or addr == "::1"


def parse_extra_host(item: str, gateway: str = "") -> tuple[str, str]:
    """``name:ip`` (``--add-host``); ``host-gateway`` stands for the container's gateway."""
    name, sep, addr = item.partition(":")
    if not sep or not name or not addr:
        raise InvalidArgument(f"invalid extra host {item!r}", value=item, hint="write NAME:IP, e.g. db:10.89.0.7")
    if addr == HOST_GATEWAY:
        if not gateway:
            raise InvalidArgument(f"{item!r}: the container has no gateway to stand for host-gateway", value=item)
        return name, gateway
    return name, str(parse_address(addr, "extra host address"))


def hosts_file(own: Sequence[tuple[str, str]], extra: Iterable[tuple[str, str]] = ()) -> str:
    """localhost entries, then (ip, names) of the container itself, then ``--add-host`` entries."""
    lines = [LOCALHOST_BLOCK]
    lines += [f"{ip}\t{names}\n" for ip, names in own]
    lines += [f"{ip}\t{name}\n" for name, ip in extra]
    return "".join(lines)


def container_resolv_conf(host: ResolvConf, embedded: str = "", dns: Sequence[str] = (),
                          search: Sequence[str] = (), options: Sequence[str] = ()) -> str:
    """What a container on a bridge/none network sees.

    ``--dns`` servers win; else the network's embedded resolver (``embedded``,
    its gateway); else the host's servers minus loopback ones (unreachable from
    the container), falling back to public resolvers as docker does.
    """
    if dns:
        servers = tuple(dns)
    elif embedded:
        servers = (embedded,)
    else:
        servers = tuple(ns for ns in host.nameservers if not _is_loopback(ns)) or FALLBACK_DNS
    return ResolvConf(servers, tuple(search) or host.search, tuple(options) or host.options).render()
