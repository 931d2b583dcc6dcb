"""The network API the container engine calls.

Every operation takes the state lock, decides with the pure modules (ipam,
ports, plan), applies the difference to the kernel through a `Kernel`, and
writes the new state.  A failed step undoes the kernel changes made before
it; whatever a crash leaves behind is removed by `reconcile`.

    mgr = NetworkManager(Path("/var/lib/vessel"))
    mgr.ensure_default()
    ep = mgr.attach(cid, "bridge", pid, name="web", ports=parse_publish("8080:80"))
    mgr.hosts_file(cid, hostname="web"); mgr.resolv_conf(cid)
    mgr.release_all(cid)
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from vessel.errors import Conflict, InvalidArgument, NotFound, VesselError
from vessel.network import files, ipam, plan
from vessel.network.kernel import Kernel
from vessel.network.model import BRIDGE, DRIVER_OF, HOST, NONE, PREDEFINED, Endpoint, Network, PortMapping, State
from vessel.network.ports import assign_host_ports, parse_publish, publish_all  # noqa: F401 (re-exported)
from vessel.network.state import StateStore

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
_IFNAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,15}$")
NFT_RECORD = "nft-verified.json"        # <root>/network/: the generation our table was last verified at


@dataclass(frozen=True, slots=True)
class Config:
    table: str = "vessel"                      # nftables table: inet <table>
    default_bridge: str = "vessel0"
    default_subnet: str = ipam.DEFAULT_SUBNET
    user_pool: str = ipam.USER_POOL
    user_prefix: int = ipam.USER_PREFIX
    bridge_prefix: str = "vb-"                 # user network bridges: vb-<id>
    upstreams: tuple[str, ...] | None = None   # embedded DNS upstreams; None = the host's resolv.conf
    host_resolv_conf: Path = Path("/etc/resolv.conf")
    host_hosts: Path = Path("/etc/hosts")


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    removed_endpoints: tuple[str, ...] = ()     # "container/network"
    removed_links: tuple[str, ...] = ()
    rules_changed: bool = False
    resolvers_started: tuple[str, ...] = ()
    resolvers_stopped: tuple[str, ...] = ()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class NetworkManager:
    def __init__(self, root: Path, kernel: Kernel | None = None, config: Config = Config(), *,
                 clock: Callable[[], str] = _now, new_id: Callable[[], str] = lambda: secrets.token_hex(32),
                 rng: random.Random | None = None) -> None:
        self.root = Path(root)
        self.dir = self.root / "network"
        if kernel is None:
            from vessel.network.kernel import LinuxKernel

            kernel = LinuxKernel(nft_record=self.dir / NFT_RECORD)
        self.store = StateStore(self.dir)
        self.kernel = kernel
        self.config = config
        self.tag = plan.instance_tag(self.root.resolve())
        self._clock = clock
        self._new_id = new_id
        self._rng = rng

    def close(self) -> None:
        self.kernel.close()

    def __enter__(self) -> "NetworkManager":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Queries ------------------------------------------------------------------
    def list(self) -> list[Network]:
        return sorted(self.store.read().networks, key=lambda n: n.name)

    def get(self, ref: str) -> Network:
        net = self.store.read().find_network(ref)
        if net is None:
            raise NotFound(f"network {ref} not found", network=ref, hint="see `vessel network ls`")
        return net

    def endpoints(self, container_id: str) -> list[Endpoint]:
        return sorted(self.store.read().endpoints_for(container_id), key=lambda e: e.ifname)

    def ports(self, container_id: str) -> list[PortMapping]:
        return [m for ep in self.endpoints(container_id) for m in ep.ports]

    def containers(self, ref: str) -> list[str]:
        """Container ids attached anywhere whose id, id prefix or name is ``ref``."""
        eps = self.store.read().endpoints
        hits = {e.container_id for e in eps if e.container_id == ref or e.name == ref}
        return sorted(hits or {e.container_id for e in eps if len(ref) >= 3 and e.container_id.startswith(ref)})

    def inspect(self, ref: str) -> dict:
        st = self.store.read()
        net = st.find_network(ref)
        if net is None:
            raise NotFound(f"network {ref} not found", network=ref)
        return _inspect(net, st.endpoints_of(net.id))

    # Networks -----------------------------------------------------------------
    def _upstreams(self) -> tuple[str, ...]:
        if self.config.upstreams is not None:
            return self.config.upstreams
        try:
            text = self.config.host_resolv_conf.read_text()
        except OSError:
            return ()
        return files.parse_resolv_conf(text).nameservers

    def _avoid(self, st: State) -> tuple[list[IPv4Network], list[IPv4Address]]:
        ours = {n.bridge for n in st.networks if n.bridge}
        nets = [IPv4Network(dst) for dst, dev in self.kernel.host_routes() if dev not in ours]
        nets += [IPv4Network(n.subnet) for n in st.networks if n.subnet]
        addrs = []
        for up in self._upstreams():
            try:
                addrs.append(IPv4Address(files.upstream_address(up)[0]))
            except ValueError:
                continue
        return nets, addrs

    def _bring_up(self, st: State, net: Network) -> None:
        host = plan.plan_host(st, self.tag)
        self.kernel.ensure_bridge(next(b for b in host.bridges if b.name == net.bridge))
        self.kernel.set_sysctls(host.sysctls)
        self.kernel.apply_rules(self.config.table, host.rules)

    def ensure_default(self) -> Network:
        """The predefined networks: ``bridge`` (on vessel0, 10.88.0.0/16 or the first free fallback), host, none."""
        with self.store.transaction() as txn:
            st = txn.state
            for name in (HOST, NONE):
                if st.find_network(name) is None:
                    st = st.with_network(Network(self._new_id(), name, DRIVER_OF[name], created=self._clock()))
            net = st.find_network(BRIDGE)
            if net is None:
                avoid, addrs = self._avoid(st)
                subnet = ipam.pick_subnet(ipam.default_candidates(self.config.default_subnet), avoid, addrs)
                if str(subnet) != self.config.default_subnet:
                    _warn("%s is already routed on this host; the default bridge uses %s",
                          self.config.default_subnet, subnet)
                net = Network(self._new_id(), BRIDGE, "bridge", self.config.default_bridge, str(subnet),
                              str(ipam.choose_gateway(subnet)), created=self._clock())
                st = st.with_network(net)
            self._bring_up(st, net)
            txn.state = st
        return net

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
               labels: dict[str, str] | None = None, bridge: str | None = None) -> Network:
        if not _NAME_RE.match(name):
            raise InvalidArgument(f"invalid network name {name!r}", value=name,
                                  hint="use letters, digits, '_', '.' and '-', starting with a letter or digit")
        if gateway is not None and subnet is None:
            raise InvalidArgument("--gateway needs --subnet", value=gateway)
        with self.store.transaction() as txn:
            st = txn.state
            if name in DRIVER_OF or any(n.name == name for n in st.networks):
                raise Conflict(f"network with name {name} already exists", network=name)
            avoid, addrs = self._avoid(st)
            if subnet is None:
                chosen = ipam.pick_subnet(ipam.user_candidates(self.config.user_pool, self.config.user_prefix),
                                          avoid, addrs)
            else:
                chosen = ipam.parse_subnet(subnet)
                clash = ipam.overlapping(chosen, avoid)
                if clash:
                    raise Conflict(f"subnet {chosen} overlaps {clash[0]} already in use on this host",
                                   subnet=str(chosen), hint="pick another --subnet (see `ip route`)")
            net_id = self._new_id()
            br = bridge or plan.bridge_name(self.config.bridge_prefix, net_id)
            if not _IFNAME_RE.match(br):
                raise InvalidArgument(f"invalid bridge name {br!r}", value=br,
                                      hint="at most 15 letters, digits, '_', '.' or '-'")
            if any(n.bridge == br for n in st.networks):
                raise Conflict(f"bridge {br} is already used by another network", bridge=br)
            net = Network(net_id, name, "bridge", br, str(chosen), str(ipam.choose_gateway(chosen, gateway)),
                          internal=internal, dns=True, labels=dict(labels or {}), created=self._clock())
            st = st.with_network(net)
            self._bring_up(st, net)
            txn.state = st
        return net

    def _remove_locked(self, st: State, net: Network) -> State:
        if net.predefined:
            raise Conflict(f"{net.name} is a pre-defined network and cannot be removed", network=net.name)
        users = st.endpoints_of(net.id)
        if users:
            names = ", ".join(sorted(e.name or e.container_id[:12] for e in users))
            raise Conflict(f"network {net.name} is in use by container(s): {names}", network=net.name,
                           hint="stop and remove them, or `vessel network disconnect` them first")
        pid = st.resolvers.get(net.id)
        if pid:
            self.kernel.stop_resolver(pid, net.id)
        self._resolver_log(net).unlink(missing_ok=True)
        self.kernel.delete_link(net.bridge)
        new = st.without_network(net.id)
        self.kernel.apply_rules(self.config.table, plan.plan_rules(new))
        return new

    def remove(self, ref: str) -> Network:
        """Remove a user network; refused while containers use it (they are named)."""
        with self.store.transaction() as txn:
            net = txn.state.find_network(ref)
            if net is None:
                raise NotFound(f"network {ref} not found", network=ref)
            txn.state = self._remove_locked(txn.state, net)
        return net

    def prune(self) -> list[str]:
        """Remove every user network without containers; their names."""
        with self.store.transaction() as txn:
            st = txn.state
            gone = []
            for net in sorted(st.networks, key=lambda n: n.name):
                if not net.predefined and not st.endpoints_of(net.id):
                    st = self._remove_locked(st, net)
                    gone.append(net.name)
            txn.state = st
        return gone

    # Endpoints ------------------------------------------------------------------
    def attach(self, container_id: str, network: str, netns: str | int | Path, *, name: str = "",
               aliases: Sequence[str] = (), ip: str | None = None, mac: str | None = None,
               ports: Sequence[PortMapping] = ()) -> Endpoint:
        """Connect a container (its netns path or pid) to a network; returns the endpoint (lease, ports)."""
        netns_path = f"/proc/{netns}/ns/net" if isinstance(netns, int) else str(netns)
        if network in PREDEFINED and self.store.read().find_network(network) is None:
            self.ensure_default()
        with self.store.transaction() as txn:
            st = txn.state
            net = st.find_network(network)
            if net is None:
                raise NotFound(f"network {network} not found", network=network, hint="see `vessel network ls`")
            if st.endpoint(container_id, net.id) is not None:
                raise Conflict(f"container {name or container_id[:12]} is already attached to network {net.name}",
                               container=container_id, network=net.name)
            if not net.is_bridge:
                if ip or ports:
                    raise InvalidArgument(f"--ip and published ports need a bridge network, not {net.name}",
                                          network=net.name)
                if net.driver == "null":
                    self.kernel.loopback_up(netns_path)
                ep = Endpoint(container_id, net.id, net.name, name=name, aliases=tuple(aliases), netns=netns_path)
                txn.state = st.with_endpoint(ep)
                return ep
            ep, new = self._plan_attach(st, net, container_id, netns_path, name, aliases, ip, mac, ports)
            txn.state = self._apply_attach(st, new, net, ep)
        return ep

    def _plan_attach(self, st: State, net: Network, cid: str, netns: str, name: str, aliases: Sequence[str],
                     ip: str | None, mac: str | None, ports: Sequence[PortMapping]) -> tuple[Endpoint, State]:
        if ports and net.internal:
            raise InvalidArgument(f"network {net.name} is internal: it cannot publish ports", network=net.name)
        taken = [(m, e.name or e.container_id[:12]) for e in st.endpoints for m in e.ports]
        assigned = assign_host_ports(ports, taken, self.kernel.port_free, self._rng)
        subnet = IPv4Network(net.subnet)
        addr = ipam.allocate(subnet, IPv4Address(net.gateway), (e.ip for e in st.endpoints_of(net.id)), ip)
        ep = Endpoint(cid, net.id, net.name, name=name, aliases=tuple(aliases), ip=str(addr),
                      prefixlen=subnet.prefixlen, gateway="" if net.internal else net.gateway,
                      mac=ipam.parse_mac(mac) if mac else ipam.mac_for(addr),
                      host_veth=plan.veth_name(cid, net.id), ifname=plan.next_ifname(st.endpoints_for(cid)),
                      ports=assigned, netns=netns)
        return ep, st.with_endpoint(ep)

    def _apply_attach(self, old: State, new: State, net: Network, ep: Endpoint) -> State:
        undo: list[Callable[[], object]] = []
        try:
            if net.dns:
                new = self._ensure_resolver(new, net, undo)
            first_route = not any(e.gateway for e in old.endpoints_for(ep.container_id))
            self.kernel.add_endpoint(plan.plan_endpoint(net, ep, self.tag, default_route=first_route), ep.netns)
            undo.append(lambda: self.kernel.delete_link(ep.host_veth))
            rules = plan.plan_rules(new)
            if rules != plan.plan_rules(old):
                self.kernel.apply_rules(self.config.table, rules, check=False)
        except BaseException:
            for step in reversed(undo):
                _quietly(step)
            raise
        return new

    def _resolver_log(self, net: Network) -> Path:
        return self.dir / f"dns-{net.id[:12]}.log"

    def _ensure_resolver(self, st: State, net: Network, undo: list[Callable[[], object]]) -> State:
        pid = st.resolvers.get(net.id)
        if pid and self.kernel.resolver_alive(pid, net.id):
            return st
        upstreams = () if net.internal else self._upstreams()
        pid = self.kernel.start_resolver(self.store.path, net, upstreams, self._resolver_log(net))
        undo.append(lambda: self.kernel.stop_resolver(pid, net.id))
        return st.with_resolver(net.id, pid)

    def _detach_locked(self, st: State, ep: Endpoint) -> State:
        if ep.host_veth:
            self.kernel.delete_link(ep.host_veth)
        new = st.without_endpoint(ep.container_id, ep.network_id)
        rules = plan.plan_rules(new)
        if rules != plan.plan_rules(st):
            self.kernel.apply_rules(self.config.table, rules, check=False)
        return new

    def detach(self, container_id: str, network: str) -> Endpoint:
        with self.store.transaction() as txn:
            st = txn.state
            net = st.find_network(network)
            ep = st.endpoint(container_id, net.id) if net else None
            if ep is None:
                raise NotFound(f"container {container_id[:12]} is not attached to network {network}",
                               container=container_id, network=network)
            txn.state = self._detach_locked(st, ep)
        return ep

    def release_all(self, container_id: str) -> list[Endpoint]:
        """Total cleanup for a container: veths, rules, leases of every network it is on."""
        with self.store.transaction() as txn:
            eps = txn.state.endpoints_for(container_id)
            st = txn.state
            for ep in eps:
                st = self._detach_locked(st, ep)
            txn.state = st
        return list(eps)

    # Recovery -------------------------------------------------------------------
    def reconcile(self, live_container_ids: Iterable[str]) -> ReconcileReport:
        """Make the kernel match the state, after dropping endpoints of containers no longer alive."""
        live = set(live_container_ids)
        with self.store.transaction() as txn:
            st = txn.state
            dead = [e for e in st.endpoints if e.container_id not in live]
            for ep in dead:
                if ep.host_veth:
                    self.kernel.delete_link(ep.host_veth)
                st = st.without_endpoint(ep.container_id, ep.network_id)
            host = plan.plan_host(st, self.tag)
            for bridge in host.bridges:
                self.kernel.ensure_bridge(bridge)
            self.kernel.set_sysctls(host.sysctls)
            changed = self.kernel.apply_rules(self.config.table, host.rules)
            wanted = {b.name for b in host.bridges} | {e.host_veth for e in st.endpoints if e.host_veth}
            removed = [n for n in sorted(self.kernel.tagged_links(plan.alias_prefix(self.tag))) if n not in wanted]
            for link in removed:
                self.kernel.delete_link(link)
            st, started, stopped = self._reconcile_resolvers(st, host.resolvers)
            txn.state = st
        return ReconcileReport(tuple(f"{e.container_id[:12]}/{e.network}" for e in dead), tuple(removed),
                               changed, started, stopped)

    def _reconcile_resolvers(self, st: State, wanted: tuple[str, ...]) -> tuple[State, tuple, tuple]:
        started, stopped = [], []
        for net_id, pid in sorted(st.resolvers.items()):
            if net_id not in wanted:
                self.kernel.stop_resolver(pid, net_id)
                st = st.with_resolver(net_id, None)
                stopped.append(net_id[:12])
        for net_id in wanted:
            net = next(n for n in st.networks if n.id == net_id)
            before = st.resolvers.get(net_id)
            st = self._ensure_resolver(st, net, [])
            if st.resolvers.get(net_id) != before:
                started.append(net.name)
        return st, tuple(started), tuple(stopped)

    def purge(self) -> None:
        """Remove everything this root made: endpoints, networks (predefined too), resolvers, the table."""
        with self.store.transaction() as txn:
            st = txn.state
            for ep in st.endpoints:
                if ep.host_veth:
                    self.kernel.delete_link(ep.host_veth)
            for net_id, pid in st.resolvers.items():
                self.kernel.stop_resolver(pid, net_id)
            for net in st.networks:
                if net.bridge:
                    self.kernel.delete_link(net.bridge)
                self._resolver_log(net).unlink(missing_ok=True)
            for link in self.kernel.tagged_links(plan.alias_prefix(self.tag)):
                self.kernel.delete_link(link)
            self.kernel.apply_rules(self.config.table, plan.RuleSet())
            txn.state = State()

    # Files for the container ------------------------------------------------------
    def hosts_file(self, container_id: str, hostname: str = "", extra_hosts: Sequence[str] = ()) -> str:
        eps = self.endpoints(container_id)
        gateway = next((e.gateway for e in eps if e.gateway), "")
        extra = [files.parse_extra_host(h, gateway) for h in extra_hosts]
        if any(e.network == HOST for e in eps):
            base = _read(self.config.host_hosts)
            return base + "".join(f"{ip}\t{name}\n" for name, ip in extra)
        first = next((e for e in eps if e.ip), None)
        own = [(first.ip, hostname or container_id[:12])] if first else []
        return files.hosts_file(own, extra)

    def resolv_conf(self, container_id: str, dns: Sequence[str] = (), search: Sequence[str] = (),
                    options: Sequence[str] = ()) -> str:
        eps = self.endpoints(container_id)
        host_text = _read(self.config.host_resolv_conf)
        if any(e.network == HOST for e in eps) and not (dns or search or options):
            return host_text
        st = self.store.read()
        dns_net = next((n for e in eps for n in st.networks if n.id == e.network_id and n.dns), None)
        return files.container_resolv_conf(files.parse_resolv_conf(host_text),
                                           dns_net.gateway if dns_net else "", dns, search, options)


def _warn(msg: str, *args: object) -> None:
    """Log to ``vessel.network`` (a NullHandler keeps it off stderr unless the program configures logging).

    ``logging`` is imported here, not at the top: it costs ~3.5 ms that a `vessel run` would otherwise
    pay for a warning it almost never prints (docs/network.md).
    """
    import logging

    log = logging.getLogger("vessel.network")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
    log.warning(msg, *args)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _quietly(step: Callable[[], object]) -> None:
    """Run an undo step; its failure must not hide the error being undone."""
    try:
        step()
    except (VesselError, OSError) as err:
        _warn("undo step failed: %s", err)


def endpoint_id(ep: Endpoint) -> str:
    return hashlib.sha256(f"{ep.container_id}/{ep.network_id}".encode()).hexdigest()


def _inspect(net: Network, eps: Iterable[Endpoint]) -> dict:
    """docker's `network inspect` shape."""
    config = [{"Subnet": net.subnet, "Gateway": net.gateway}] if net.subnet else []
    containers = {e.container_id: {"Name": e.name, "EndpointID": endpoint_id(e), "MacAddress": e.mac,
                                   "IPv4Address": f"{e.ip}/{e.prefixlen}" if e.ip else "", "IPv6Address": "",
                                   "Aliases": list(e.aliases),
                                   "Ports": [m.describe() for m in e.ports]} for e in eps}
    options = {"com.docker.network.bridge.name": net.bridge} if net.bridge else {}
    return {"Name": net.name, "Id": net.id, "Created": net.created, "Scope": "local", "Driver": net.driver,
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": {}, "Config": config},
            "Internal": net.internal, "Attachable": True, "Ingress": False, "Containers": containers,
            "Options": options, "Labels": dict(net.labels), "EmbeddedDNS": net.dns}
