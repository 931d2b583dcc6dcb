"""A recording Kernel for the network manager's unit tests (no root, no netlink)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from vessel.errors import SystemFailure
from vessel.network.manager import Config, NetworkManager
from vessel.network.plan import RuleSet


class FakeKernel:
    """Remembers what the manager asked for; keeps a tiny model of links, rules and resolvers."""

    def __init__(self, routes: list[tuple[str, str]] | None = None) -> None:
        self.calls: list[tuple] = []
        self.routes = routes if routes is not None else [("192.0.2.0/24", "eth0")]
        self.links: dict[str, str] = {}           # name -> alias
        self.rules = RuleSet()
        self.rule_applies = 0
        self.sysctls: dict[str, str] = {}
        self.busy_ports: set[tuple[str, int, str]] = set()
        self.alive: dict[int, str] = {}           # pid -> network id
        self.next_pid = 1000
        self.fail: set[str] = set()               # method names that raise SystemFailure
        self.closed = False

    def _call(self, name: str, *args: object) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise SystemFailure(f"injected failure in {name}")

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def host_routes(self):
        return list(self.routes)

    def ensure_bridge(self, plan):
        self._call("ensure_bridge", plan.name)
        self.links[plan.name] = plan.alias

    def delete_link(self, name):
        self._call("delete_link", name)
        return self.links.pop(name, None) is not None

    def tagged_links(self, prefix):
        return {n: a for n, a in self.links.items() if a.startswith(prefix)}

    def add_endpoint(self, plan, netns):
        self._call("add_endpoint", plan, netns)
        self.links[plan.host_veth] = plan.alias

    def loopback_up(self, netns):
        self._call("loopback_up", netns)

    def apply_rules(self, table, rules, check=True):
        self._call("apply_rules", table)
        if check and rules == self.rules:
            return False
        self.rules = rules
        self.rule_applies += 1
        return True

    def set_sysctls(self, values):
        self._call("set_sysctls")
        self.sysctls.update(dict(values))

    def port_free(self, host_ip, port, protocol):
        return (host_ip, port, protocol) not in self.busy_ports

    def start_resolver(self, state_path, network, upstreams, log):
        self._call("start_resolver", network.name, tuple(upstreams))
        pid = self.next_pid
        self.next_pid += 1
        self.alive[pid] = network.id
        return pid

    def stop_resolver(self, pid, network_id):
        self._call("stop_resolver", pid)
        self.alive.pop(pid, None)

    def resolver_alive(self, pid, network_id):
        return self.alive.get(pid) == network_id

    def close(self):
        self.closed = True


@pytest.fixture
def kernel() -> FakeKernel:
    return FakeKernel()


@pytest.fixture
def make_manager(tmp_path: Path):
    """make_manager(kernel, **config) -> NetworkManager on tmp_path with deterministic ids and clock."""

    counter = iter(range(1, 10_000))      # shared: ids stay unique across managers on one root

    def make(kernel: FakeKernel, **config: object) -> NetworkManager:
        hosts = tmp_path / "hosts"
        resolv = tmp_path / "resolv.conf"
        if not resolv.exists():
            resolv.write_text("nameserver 10.255.255.53\nsearch example.test\noptions ndots:1\n")
            hosts.write_text("127.0.0.1 localhost\n192.0.2.2 thehost\n")
        cfg = Config(host_resolv_conf=resolv, host_hosts=hosts, **config)  # type: ignore[arg-type]
        return NetworkManager(tmp_path / "root", kernel, cfg, clock=lambda: "2024-01-01T00:00:00+00:00",
                              new_id=lambda: f"{next(counter):04x}" * 16, rng=random.Random(7))

    return make


@pytest.fixture
def mgr(kernel: FakeKernel, make_manager) -> NetworkManager:
    return make_manager(kernel)
