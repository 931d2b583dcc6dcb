"""Links, addresses and routes through netlink (pyroute2): the thin shell of `plan`.

Inside a container's network namespace we never fork: a short-lived thread
``setns()``-es into the namespace, opens a netlink socket there and leaves;
the socket stays bound to that namespace and pyroute2 drives it from here
(switching a thread's network namespace is allowed in a threaded process).

The veth peer is created directly inside the target namespace with its final
name (``eth0``), so no temporary name ever appears on the host.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vessel.errors import Conflict, NotFound, SystemFailure
from vessel.network.ipam import mac_for
from vessel.network.plan import BridgePlan, LinkPlan
from vessel.runtime.linux import libc

NETLINK_ROUTE = 0


def _netlink_error(what: str, err: Exception, **fields: object) -> SystemFailure:
    code = getattr(err, "code", None)
    reason = os.strerror(code) if isinstance(code, int) else str(err)
    return SystemFailure(f"{what}: {reason}", errno=code, **fields)


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
            box["sock"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
        except OSError as err:
            box["err"] = err

    thread = threading.Thread(target=make, name="vessel-setns")
    thread.start()
    thread.join()
    if "err" in box:
        raise SystemFailure.from_os_error("entering the container's network namespace", box["err"])  # type: ignore[arg-type]
    return box["sock"]  # type: ignore[return-value]


@contextmanager
def iproute_in(ns_fd: int) -> Iterator[object]:
    from pyroute2 import IPRoute

    sock = netlink_socket_in(ns_fd)
    ipr = IPRoute(fileno=sock.detach())
    try:
        yield ipr
    finally:
        ipr.close()


LOOPBACK_INDEX = 1      # lo is always ifindex 1 in a network namespace


def _configure_inside(ipr: object, plan: LinkPlan) -> None:
    from pyroute2 import NetlinkError

    ipr.link("set", index=LOOPBACK_INDEX, state="up")  # type: ignore[attr-defined]
    index = ipr.link_lookup(ifname=plan.ifname)[0]  # type: ignore[attr-defined]
    ipr.addr("add", index=index, address=plan.address, prefixlen=plan.prefixlen)  # type: ignore[attr-defined]
    ipr.link("set", index=index, state="up")  # type: ignore[attr-defined]
    if plan.gateway:
        try:
            ipr.route("add", dst="0.0.0.0/0", gateway=plan.gateway, oif=index)  # type: ignore[attr-defined]
        except NetlinkError as err:
            if err.code != errno.EEXIST:     # a default route is there already: keep it
                raise


class Links:
    """Host-side netlink operations; one IPRoute socket, opened on first use."""

    def __init__(self) -> None:
        self._ipr = None

    @property
    def ipr(self):  # noqa: ANN201 - pyroute2 object
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = IPRoute()
        return self._ipr

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    def index(self, name: str) -> int | None:
        found = self.ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def _check_ours(self, idx: int, plan: BridgePlan) -> None:
        """Never adopt a link vessel did not make (``-o com.docker.network.bridge.name=eth0``)."""
        (link,) = self.ipr.get_links(idx)
        info = link.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        alias = link.get_attr("IFLA_IFALIAS") or ""
        if kind != "bridge" or not alias.startswith(plan.alias.rsplit(":", 1)[0] + ":"):
            raise Conflict(f"link {plan.name} already exists and is not a bridge of this vessel root",
                           link=plan.name, kind=kind or "unknown", alias=alias,
                           hint="choose another bridge name, or delete the link (`ip link del`)")

    def ensure_bridge(self, plan: BridgePlan) -> None:
        from pyroute2 import NetlinkError

        try:
            idx = self.index(plan.name)
            if idx is None:
                self.ipr.link("add", ifname=plan.name, kind="bridge", address=mac_for(plan.gateway))
                idx = self.index(plan.name)
            else:
                self._check_ours(idx, plan)
            # the kernel ignores IFLA_IFALIAS when creating a link: set it (and up) afterwards
            self.ipr.link("set", index=idx, ifalias=plan.alias, state="up")
            have = {(a.get_attr("IFA_ADDRESS"), a.get("prefixlen"))
                    for a in self.ipr.get_addr(index=idx, family=socket.AF_INET)}
            if (plan.gateway, plan.prefixlen) not in have:
                self.ipr.addr("add", index=idx, address=plan.gateway, prefixlen=plan.prefixlen)
        except NetlinkError as err:
            raise _netlink_error(f"setting up bridge {plan.name} with {plan.gateway}/{plan.prefixlen}", err,
                                 bridge=plan.name) from None

    def delete(self, name: str) -> bool:
        """Delete a link if it exists (deleting one end of a veth pair deletes both)."""
        from pyroute2 import NetlinkError

        idx = self.index(name)
        if idx is None:
            return False
        try:
            self.ipr.link("del", index=idx)
        except NetlinkError as err:
            if err.code == errno.ENODEV:
                return False
            raise _netlink_error(f"deleting link {name}", err, link=name) from None
        return True

    def tagged(self, prefix: str) -> dict[str, str]:
        """Links whose alias starts with ``prefix``: name -> alias."""
        out = {}
        for link in self.ipr.get_links():
            alias = link.get_attr("IFLA_IFALIAS") or ""
            if alias.startswith(prefix):
                out[link.get_attr("IFLA_IFNAME")] = alias
        return out

    def routes(self) -> list[tuple[str, str]]:
        """The host's IPv4 routes of the main table except the default: (CIDR, device)."""
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in self.ipr.get_links()}
        out = []
        for route in self.ipr.get_routes(family=socket.AF_INET, table=254):
            if route.get("dst_len") == 0:
                continue
            dst = route.get_attr("RTA_DST")
            out.append((f"{dst}/{route.get('dst_len')}", names.get(route.get_attr("RTA_OIF"), "")))
        return out

    def add_endpoint(self, plan: LinkPlan, ns_fd: int) -> None:
        """The veth pair of one endpoint, configured on both sides; rolled back on failure."""
        from pyroute2 import NetlinkError

        bridge = self.index(plan.bridge)
        if bridge is None:
            raise NotFound(f"bridge {plan.bridge} does not exist", bridge=plan.bridge, hint="run reconcile")
        try:
            self.ipr.link("add", ifname=plan.host_veth, kind="veth", master=bridge, state="up",
                          peer={"ifname": plan.ifname, "net_ns_fd": ns_fd, "address": plan.mac})
        except NetlinkError as err:
            if err.code == errno.EEXIST:
                raise Conflict(f"link {plan.host_veth} or {plan.ifname} in the container already exists",
                               link=plan.host_veth, hint="detach the container first, or run reconcile") from None
            raise _netlink_error(f"creating veth pair {plan.host_veth}/{plan.ifname}", err) from None
        try:
            host = self.index(plan.host_veth)
            self.ipr.link("set", index=host, ifalias=plan.alias)   # the tag reconcile looks for
            self.ipr.brport("set", index=host, mode=1)              # hairpin
            with iproute_in(ns_fd) as ipr:
                _configure_inside(ipr, plan)
        except (NetlinkError, OSError, SystemFailure) as err:
            self.delete(plan.host_veth)
            if isinstance(err, SystemFailure):
                raise
            raise _netlink_error(f"configuring {plan.ifname} ({plan.address}/{plan.prefixlen}) in the container",
                                 err) from None

    def loopback_up(self, ns_fd: int) -> None:
        with iproute_in(ns_fd) as ipr:
            ipr.link("set", index=LOOPBACK_INDEX, state="up")  # type: ignore[attr-defined]


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
