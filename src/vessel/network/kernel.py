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
from vessel.network import links, nft
from vessel.network.model import Network
from vessel.network.plan import BridgePlan, LinkPlan, RuleSet
from vessel.network.rtnl import Rtnl


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
    """``nft_record``: where to note the ruleset generation at which our table was last verified, so
    that checking unchanged rules costs one netlink request (see `nft.apply_with_generation`)."""

    def __init__(self, proc_sys: Path = Path("/proc/sys"), nft_backend: nft.Backend | None = None,
                 nft_record: Path | None = None) -> None:
        self.proc_sys = proc_sys
        self._links = links.Links()
        self._nft = nft_backend
        self.nft_record = nft_record
        self._nfnl: Rtnl | None = None

    def close(self) -> None:
        self._links.close()
        if self._nfnl is not None:
            self._nfnl.close()
            self._nfnl = None

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

    def _backend(self) -> nft.Backend:
        if self._nft is None:
            self._nft = nft.default_backend()
        return self._nft

    def _boot_id(self) -> str | None:
        try:
            return (self.proc_sys / "kernel/random/boot_id").read_text().strip()
        except OSError:
            return None

    def apply_rules(self, table: str, rules: RuleSet, check: bool = True) -> bool:
        record = self.nft_record
        boot_id = self._boot_id() if record is not None else None
        if boot_id is not None and self._nfnl is None:
            self._nfnl = nft.netfilter_socket()
        nl = self._nfnl
        if record is None or boot_id is None or nl is None:
            return nft.apply(self._backend(), table, rules, check)
        return nft.apply_with_generation(self._backend, table, rules, check, record=record, boot_id=boot_id,
                                         generation=lambda: nft.read_generation(nl))

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

    # dns (the resolver process's module) is imported only by the calls that need it: a `vessel run`
    # on the default network never does, and every import counts there (docs/network.md).
    def start_resolver(self, state_path: Path, network: Network, upstreams: Sequence[str], log: Path) -> int:
        from vessel.network import dns

        return dns.spawn(state_path, network.id, network.gateway, upstreams, log)

    def stop_resolver(self, pid: int, network_id: str) -> None:
        from vessel.network import dns

        dns.stop(pid, network_id)

    def resolver_alive(self, pid: int, network_id: str) -> bool:
        from vessel.network import dns

        return dns.alive(pid, network_id)
