"""The network of a RUN container: an endpoint on the default bridge, the host's namespace, or none.

    mode = network_for(step.network, opts.network)        # pure: "bridge" | "host" | "none"
    net = BuildNetwork(root)                              # root = the vessel root (--root)
    with net.setup(mode, container_id) as setup:          # SandboxNet: netns path, /etc/hosts, resolv.conf
        ... run the container with setup.netns_path as its network namespace ...
    net.close()

``bridge`` (``--network default`` or ``bridge``, the default): the step gets a
new network namespace, attached to the engine's default bridge exactly as a
``vessel run`` container is (``vessel.network.NetworkManager`` with the
engine's ``network_config(root)``, so a build under ``--root R`` uses R's
bridge): a veth, an address leased on the bridge's subnet, the default route
through the gateway and the bridge's outbound NAT.  /etc/hosts and
/etc/resolv.conf come from the manager.  The endpoint is released when the
step ends, whatever happened.

The namespace is made without forking: a throw-away thread ``unshare``\\ s a
new network namespace and opens it; the fd keeps it alive, and the runtime
joins it through ``/proc/<builder pid>/fd/<fd>``.  When the step is over the
endpoint is released (host veth, lease) and the fd closed: the namespace dies
with the container.  A builder killed mid-step leaves a lease whose namespace
path no longer exists; the next build's ``sweep`` releases it.

``host``: the builder's own network namespace (the host's); ``none``: a new,
empty namespace made by the runtime.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from vessel.build.options import check_network
from vessel.build.runspec import HOSTNAME, hosts_file
from vessel.errors import InvalidArgument, SystemFailure, Unsupported
from vessel.runtime.linux import libc as L

if TYPE_CHECKING:
    from vessel.network.manager import NetworkManager

MODES = ("bridge", "host", "none")
ENDPOINT_PREFIX = "build-"  # endpoint names of RUN containers: build-<short id>
_BUILD_NETNS = re.compile(r"^/proc/\d+/fd/\d+$")


def network_for(step_network: str, build_network: str) -> str:
    """The network of one RUN (pure): ``RUN --network`` wins over the build's ``--network``.

    ``default`` and ``bridge`` are the default bridge; ``host`` and ``none`` as docker.
    """
    network = check_network(step_network if step_network not in ("", "default") else build_network or "default")
    return "bridge" if network in ("default", "bridge") else network


@dataclass(frozen=True, slots=True)
class SandboxNet:
    """What a RUN container gets: ``mode``, the namespace to join (bridge), its /etc files."""

    mode: str
    netns_path: str | None
    hosts: str
    resolv_conf: str
    address: str = ""  # bridge: the leased address


def new_netns() -> int:
    """An fd of a new, empty network namespace (made by a throw-away thread: no fork)."""
    box: dict[str, object] = {}

    def make() -> None:
        try:
            L.unshare(L.CLONE_NEWNET)
            box["fd"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            box["err"] = err

    thread = threading.Thread(target=make, name="vessel-build-netns")
    thread.start()
    thread.join()
    if "err" in box:
        raise SystemFailure.from_os_error("creating a network namespace for a RUN step", box["err"],  # type: ignore[arg-type]
                                          hint="vessel build needs root")
    return box["fd"]  # type: ignore[return-value]


def _default_manager(root: Path) -> "NetworkManager":
    from vessel.engine.engine import network_config
    from vessel.network.manager import NetworkManager

    # the network layer logs notices (a fallback subnet...); they are not build output
    logging.getLogger("vessel.network").addHandler(logging.NullHandler())
    return NetworkManager(root, config=network_config(root))


class BuildNetwork:
    """Networks for the RUN containers of one builder (the manager is made on the first bridge RUN)."""

    def __init__(self, root: Path | None, *, manager_factory: Callable[[Path], "NetworkManager"] = _default_manager,
                 host_resolv_conf: Path = Path("/etc/resolv.conf"), netns_factory: Callable[[], int] = new_netns,
                 pid: int | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self._factory = manager_factory
        self._mgr: NetworkManager | None = None
        self.host_resolv_conf = host_resolv_conf
        self._new_netns = netns_factory
        self.pid = pid if pid is not None else os.getpid()

    @property
    def manager(self) -> "NetworkManager":
        if self._mgr is None:
            if self.root is None:
                raise Unsupported("this builder has no bridge network (no vessel root given)",
                                  hint="use --network host or none")
            self._mgr = self._factory(self.root)
            self.sweep()
        return self._mgr

    def close(self) -> None:
        if self._mgr is not None:
            self._mgr.close()
            self._mgr = None

    def _host_resolv(self) -> str:
        try:
            return self.host_resolv_conf.read_text()
        except OSError:
            return ""

    @contextlib.contextmanager
    def setup(self, mode: str, container_id: str, hostname: str = HOSTNAME) -> Iterator[SandboxNet]:
        """The network of one RUN container for the duration of the block (bridge: attached, then released)."""
        if mode not in MODES:
            raise InvalidArgument(f"unsupported network mode {mode!r}", value=mode)
        if mode != "bridge":
            yield SandboxNet(mode, None, hosts_file(hostname), self._host_resolv())
            return
        mgr = self.manager
        fd = self._new_netns()
        try:
            path = f"/proc/{self.pid}/fd/{fd}"
            ep = mgr.attach(container_id, "bridge", path, name=ENDPOINT_PREFIX + container_id[:12])  # undoes itself
            try:
                yield SandboxNet(mode, path, mgr.hosts_file(container_id, hostname=hostname),
                                 mgr.resolv_conf(container_id), ep.ip)
            finally:
                mgr.release_all(container_id)
        finally:
            os.close(fd)

    def sweep(self) -> list[str]:
        """Release the endpoints of RUN containers whose builder died (their namespace path is gone)."""
        assert self._mgr is not None
        stale = [ep.container_id for ep in self._mgr.store.read().endpoints
                 if ep.name.startswith(ENDPOINT_PREFIX) and _BUILD_NETNS.match(ep.netns)
                 and not os.path.exists(ep.netns)]
        for cid in stale:
            self._mgr.release_all(cid)
        return stale
