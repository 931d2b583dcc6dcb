"""Links, addresses and routes through netlink (`rtnl`): the thin shell of `plan`.

Inside a container's network namespace we never fork: a short-lived thread
``setns()``-es into the namespace, opens a netlink socket there and leaves;
the socket stays bound to that namespace and an `Rtnl` drives it from here
(switching a thread's network namespace is allowed in a threaded process).

The veth peer is created directly inside the target namespace with its final
name (``eth0``), so no temporary name ever appears on the host.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vessel.errors import Conflict, NotFound, SystemFailure
from vessel.network.ipam import mac_for
from vessel.network.plan import BridgePlan, LinkPlan
from vessel.network.rtnl import NETLINK_ROUTE, NetlinkError, Rtnl
from vessel.runtime.linux import libc


def _netlink_error(what: str, err: OSError, **fields: object) -> SystemFailure:
    """``err``: a `NetlinkError` (its text carries the kernel's extended-ack message) or a socket error."""
    hint = "vessel needs root (CAP_NET_ADMIN) to configure networking" if err.errno == errno.EPERM else None
    return SystemFailure(f"{what}: {err.strerror or err}", hint=hint, errno=err.errno, **fields)


def open_netns(netns: str | int) -> int:
    """An fd of a network namespace given as a pid or a path (``/proc/PID/ns/net``, ``/run/netns/X``)."""
    path = f"/proc/{netns}/ns/net" if isinstance(netns, int) or str(netns).isdigit() else str(netns)
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"network namespace {path} does not exist", path=path,
                       hint="is the container's process still running?") from None
    except OSError as err:
        raise SystemFailure.from_os_error(f"opening network namespace {path}", err, path=path) from None


def netlink_socket_in(ns_fd: int) -> socket.socket:
    """A NETLINK_ROUTE socket living in the namespace ``ns_fd`` (made by a throw-away thread)."""
    box: dict[str, object] = {}

    def make() -> None:
        try:
            libc.setns(ns_fd, libc.CLONE_NEWNET, "container network namespace")
            box["sock"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        except OSError as err:
            box["err"] = err

    thread = threading.Thread(target=make, name="vessel-setns")
    thread.start()
    thread.join()
    if "err" in box:
        raise SystemFailure.from_os_error("entering the container's network namespace", box["err"])  # type: ignore[arg-type]
    return box["sock"]  # type: ignore[return-value]


@contextmanager
def rtnl_in(ns_fd: int) -> Iterator[Rtnl]:
    """An `Rtnl` whose socket lives in the namespace ``ns_fd``."""
    nl = Rtnl(netlink_socket_in(ns_fd))
    try:
        yield nl
    finally:
        nl.close()


LOOPBACK_INDEX = 1      # lo is always ifindex 1 in a network namespace


def _configure_inside(nl: Rtnl, plan: LinkPlan) -> None:
    nl.set_link(LOOPBACK_INDEX, up=True)
    index = nl.link_index(plan.ifname)
    if index is None:
        raise NetlinkError(errno.ENODEV, f"{plan.ifname} vanished from the container's namespace")
    nl.add_address(index, plan.address, plan.prefixlen)
    nl.set_link(index, up=True)
    if plan.gateway:
        try:
            nl.add_route(plan.gateway, index)
        except NetlinkError as err:
            if err.code != errno.EEXIST:     # a default route is there already: keep it
                raise


class Links:
    """Host-side netlink operations; one `Rtnl` socket, opened on first use."""

    def __init__(self, rtnl_factory: Callable[[], Rtnl] = Rtnl) -> None:
        self._factory = rtnl_factory
        self._nl: Rtnl | None = None

    @property
    def nl(self) -> Rtnl:
        if self._nl is None:
            self._nl = self._factory()
        return self._nl

    def close(self) -> None:
        if self._nl is not None:
            self._nl.close()
            self._nl = None

    def index(self, name: str) -> int | None:
        return self.nl.link_index(name)

    def _check_ours(self, idx: int, plan: BridgePlan) -> None:
        """Never adopt a link vessel did not make (``-o com.docker.network.bridge.name=eth0``)."""
        link = self.nl.link(idx)
        if link.kind != "bridge" or not link.alias.startswith(plan.alias.rsplit(":", 1)[0] + ":"):
            raise Conflict(f"link {plan.name} already exists and is not a bridge of this vessel root",
                           link=plan.name, kind=link.kind or "unknown", alias=link.alias,
                           hint="choose another bridge name, or delete the link (`ip link del`)")

    def ensure_bridge(self, plan: BridgePlan) -> None:
        try:
            idx = self.index(plan.name)
            if idx is None:
                self.nl.add_bridge(plan.name, mac_for(plan.gateway))
                idx = self.index(plan.name)
                if idx is None:
                    raise NetlinkError(errno.ENODEV, "the new bridge vanished")
            else:
                self._check_ours(idx, plan)
            # the kernel ignores IFLA_IFALIAS when creating a link: set it (and up) afterwards
            self.nl.set_link(idx, alias=plan.alias, up=True)
            have = {(a.address, a.prefixlen) for a in self.nl.addresses(idx)}
            if (plan.gateway, plan.prefixlen) not in have:
                self.nl.add_address(idx, plan.gateway, plan.prefixlen)
        except NetlinkError as err:
            raise _netlink_error(f"setting up bridge {plan.name} with {plan.gateway}/{plan.prefixlen}", err,
                                 bridge=plan.name) from None

    def delete(self, name: str) -> bool:
        """Delete a link if it exists (deleting one end of a veth pair deletes both)."""
        idx = self.index(name)
        if idx is None:
            return False
        try:
            self.nl.delete_link(idx)
        except NetlinkError as err:
            if err.code == errno.ENODEV:
                return False
            raise _netlink_error(f"deleting link {name}", err, link=name) from None
        return True

    def tagged(self, prefix: str) -> dict[str, str]:
        """Links whose alias starts with ``prefix``: name -> alias."""
        return {link.name: link.alias for link in self.nl.links() if link.alias.startswith(prefix)}

    def routes(self) -> list[tuple[str, str]]:
        """The host's IPv4 routes of the main table except the default: (CIDR, device)."""
        names = {link.index: link.name for link in self.nl.links()}
        return [(f"{r.dst}/{r.dst_len}", names.get(r.oif, "")) for r in self.nl.routes() if r.dst_len]

    def add_endpoint(self, plan: LinkPlan, ns_fd: int) -> None:
        """The veth pair of one endpoint, configured on both sides; rolled back on failure."""
        bridge = self.index(plan.bridge)
        if bridge is None:
            raise NotFound(f"bridge {plan.bridge} does not exist", bridge=plan.bridge, hint="run reconcile")
        try:
            self.nl.add_veth(plan.host_veth, plan.ifname, ns_fd, plan.mac, master=bridge, up=True)
        except NetlinkError as err:
            if err.code == errno.EEXIST:
                raise Conflict(f"link {plan.host_veth} or {plan.ifname} in the container already exists",
                               link=plan.host_veth, hint="detach the container first, or run reconcile") from None
            raise _netlink_error(f"creating veth pair {plan.host_veth}/{plan.ifname}", err) from None
        try:
            host = self.index(plan.host_veth)
            if host is None:
                raise NetlinkError(errno.ENODEV, f"{plan.host_veth} vanished")
            self.nl.set_link(host, alias=plan.alias)    # the tag reconcile looks for
            self.nl.set_hairpin(host)
            with rtnl_in(ns_fd) as nl:
                _configure_inside(nl, plan)
        except (OSError, SystemFailure) as err:     # NetlinkError is an OSError
            self.delete(plan.host_veth)
            if isinstance(err, SystemFailure):
                raise
            raise _netlink_error(f"configuring {plan.ifname} ({plan.address}/{plan.prefixlen}) in the container",
                                 err) from None

    def loopback_up(self, ns_fd: int) -> None:
        try:
            with rtnl_in(ns_fd) as nl:
                nl.set_link(LOOPBACK_INDEX, up=True)
        except OSError as err:
            raise _netlink_error("bringing up lo in the container", err) from None


def write_sysctls(values: tuple[tuple[str, str], ...], proc_sys: Path = Path("/proc/sys")) -> None:
    """Write each (path, value) under /proc/sys unless it already holds the value."""
    for rel, value in values:
        path = proc_sys / rel
        try:
            if path.read_text().strip() != value:
                path.write_text(value)
        except OSError as err:
            raise SystemFailure.from_os_error(f"writing {value} to {path}", err, path=str(path),
                                              hint="vessel needs root to configure networking") from None
