"""The one interface between the manager and the host kernel.

`Kernel` is what the manager needs done; `LinuxKernel` does it (netlink via
`links`, nftables via `nft`, sysctls, resolver processes via `dns`).  Unit
tests give the manager a recording implementation instead and assert which
calls it would make.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from vessel.errors import InvalidArgument
from vessel.network import dns, links, nft
from vessel.network.model import Network
from vessel.network.plan import BridgePlan, LinkPlan, RuleSet


class Kernel(Protocol):
    def host_routes(self) -> list[tuple[str, str]]: ...
    def ensure_bridge(self, plan: BridgePlan) -> None: ...
    def delete_link(self, name: str) -> bool: ...
    def tagged_links(self, prefix: str) -> dict[str, str]: ...
    def add_endpoint(self, plan: LinkPlan, netns: str) -> None: ...
    def loopback_up(self, netns: str) -> None: ...
    def apply_rules(self, table: str, rules: RuleSet, check: bool = True) -> bool: ...
    def set_sysctls(self, values: tuple[tuple[str, str], ...]) -> None: ...
    def port_free(self, host_ip: str, port: int, protocol: str) -> bool: ...
    def start_resolver(self, state_path: Path, network: Network, upstreams: Sequence[str], log: Path) -> int: ...
    def stop_resolver(self, pid: int, network_id: str) -> None: ...
    def resolver_alive(self, pid: int, network_id: str) -> bool: ...
    def close(self) -> None: ...


class LinuxKernel:
    def __init__(self, proc_sys: Path = Path("/proc/sys"), nft_backend: nft.Backend | None = None) -> None:
        self.proc_sys = proc_sys
        self._links = links.Links()
        self._nft = nft_backend

    def close(self) -> None:
        self._links.close()

    def host_routes(self) -> list[tuple[str, str]]:
        return self._links.routes()

    def ensure_bridge(self, plan: BridgePlan) -> None:
        self._links.ensure_bridge(plan)

    def delete_link(self, name: str) -> bool:
        return self._links.delete(name)

    def tagged_links(self, prefix: str) -> dict[str, str]:
        return self._links.tagged(prefix)

    def add_endpoint(self, plan: LinkPlan, netns: str) -> None:
        fd = links.open_netns(netns)
        try:
            self._links.add_endpoint(plan, fd)
        finally:
            os.close(fd)

    def loopback_up(self, netns: str) -> None:
        fd = links.open_netns(netns)
        try:
            self._links.loopback_up(fd)
        finally:
            os.close(fd)

    def apply_rules(self, table: str, rules: RuleSet, check: bool = True) -> bool:
        if self._nft is None:
            self._nft = nft.default_backend()
        return nft.apply(self._nft, table, rules, check)

    def set_sysctls(self, values: tuple[tuple[str, str], ...]) -> None:
        links.write_sysctls(values, self.proc_sys)

    def port_free(self, host_ip: str, port: int, protocol: str) -> bool:
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host_ip, port))
            except OSError as err:
                if err.errno == errno.EADDRNOTAVAIL:
                    raise InvalidArgument(f"host IP {host_ip} is not an address of this host", value=host_ip,
                                          hint="publish on 127.0.0.1, 0.0.0.0 or one of `ip addr`'s addresses") from None
                return False
        return True

    def start_resolver(self, state_path: Path, network: Network, upstreams: Sequence[str], log: Path) -> int:
        return dns.spawn(state_path, network.id, network.gateway, upstreams, log)

    def stop_resolver(self, pid: int, network_id: str) -> None:
        dns.stop(pid, network_id)

    def resolver_alive(self, pid: int, network_id: str) -> bool:
        return dns.alive(pid, network_id)
