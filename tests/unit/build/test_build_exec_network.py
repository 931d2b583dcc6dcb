"""RUN networking without root: the mode a step gets, the spec's namespaces, BuildNetwork against a fake manager."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vessel.build.network import ENDPOINT_PREFIX, BuildNetwork, network_for
from vessel.build.runspec import Sandbox, sandbox_spec
from vessel.errors import InvalidArgument, Unsupported

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("step", "build", "expected"), [
    ("default", "default", "bridge"), ("", "bridge", "bridge"), ("default", "none", "none"),
    ("default", "host", "host"), ("none", "default", "none"), ("none", "host", "none"), ("host", "none", "host"),
    ("host", "bridge", "host")])
def test_network_for(step: str, build: str, expected: str) -> None:
    assert network_for(step, build) == expected


def test_network_for_rejects_unknown_modes() -> None:
    with pytest.raises(InvalidArgument, match="unsupported network mode 'mynet'"):
        network_for("default", "mynet")


def namespaces(box: Sandbox) -> dict[str, str | None]:
    return {ns.type: ns.path for ns in sandbox_spec(box).linux.namespaces}


def test_spec_namespaces_per_mode() -> None:
    base = dict(argv=("true",), env=(), cwd="/")
    bridge = namespaces(Sandbox(**base, network="bridge", netns_path="/proc/42/fd/7"))
    assert bridge == {"pid": None, "ipc": None, "uts": None, "mount": None, "network": "/proc/42/fd/7"}
    assert namespaces(Sandbox(**base, network="none"))["network"] is None  # a new one, made by the runtime
    assert "network" not in namespaces(Sandbox(**base, network="host"))  # the builder's
    with pytest.raises(ValueError):
        sandbox_spec(Sandbox(**base, network="bridge"))  # no namespace to join
    with pytest.raises(ValueError):
        sandbox_spec(Sandbox(**base, network="host", netns_path="/proc/42/fd/7"))
    with pytest.raises(ValueError):
        sandbox_spec(Sandbox(**base, network="default"))


@dataclass
class FakeEndpoint:
    container_id: str
    name: str
    netns: str
    ip: str = "10.88.0.7"


@dataclass
class FakeState:
    endpoints: list[FakeEndpoint] = field(default_factory=list)


class FakeManager:
    """Records what BuildNetwork asks of the network manager."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.calls: list[tuple] = []
        self.store = self

    def read(self) -> FakeState:
        return self.state

    def attach(self, cid: str, network: str, netns: str, *, name: str = "") -> FakeEndpoint:
        self.calls.append(("attach", cid, network, netns, name))
        ep = FakeEndpoint(cid, name, netns)
        self.state.endpoints.append(ep)
        return ep

    def hosts_file(self, cid: str, hostname: str = "") -> str:
        return f"10.88.0.7\t{hostname}\n"

    def resolv_conf(self, cid: str) -> str:
        return "nameserver 192.0.2.53\n"

    def release_all(self, cid: str) -> list:
        self.calls.append(("release_all", cid))
        gone = [e for e in self.state.endpoints if e.container_id == cid]
        self.state.endpoints = [e for e in self.state.endpoints if e.container_id != cid]
        return gone

    def close(self) -> None:
        self.calls.append(("close",))


@pytest.fixture
def fake(tmp_path: Path):
    mgr = FakeManager()
    opened: list[int] = []

    def netns() -> int:  # stands for a new network namespace: any fd will do
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        opened.append(fd)
        return fd

    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.53\n")
    net = BuildNetwork(tmp_path, manager_factory=lambda root: mgr, host_resolv_conf=resolv, netns_factory=netns,
                       pid=4242)
    return net, mgr, opened


def fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_bridge_attaches_for_the_block_and_releases_after(fake) -> None:
    net, mgr, opened = fake
    cid = "c" * 64
    with net.setup("bridge", cid) as setup:
        assert setup.mode == "bridge" and setup.netns_path == f"/proc/4242/fd/{opened[0]}"
        assert setup.hosts == "10.88.0.7\tbuildkitsandbox\n" and setup.resolv_conf == "nameserver 192.0.2.53\n"
        assert setup.address == "10.88.0.7" and fd_open(opened[0])
        assert mgr.calls == [("attach", cid, "bridge", setup.netns_path, ENDPOINT_PREFIX + "c" * 12)]
    assert mgr.calls[-1] == ("release_all", cid) and mgr.state.endpoints == []
    assert not fd_open(opened[0])  # the namespace is let go
    net.close()
    assert mgr.calls[-1] == ("close",)


def test_bridge_is_released_when_the_step_fails(fake) -> None:
    net, mgr, opened = fake
    with pytest.raises(KeyboardInterrupt):
        with net.setup("bridge", "d" * 64):
            raise KeyboardInterrupt
    assert ("release_all", "d" * 64) in mgr.calls and not fd_open(opened[0])


def test_host_and_none_need_no_manager(fake) -> None:
    net, mgr, opened = fake
    for mode in ("host", "none"):
        with net.setup(mode, "e" * 64) as setup:
            assert setup.netns_path is None and setup.mode == mode
            assert setup.resolv_conf == "nameserver 127.0.0.53\n"
            assert setup.hosts.startswith("127.0.0.1\tlocalhost buildkitsandbox\n")
    assert mgr.calls == [] and opened == []
    with pytest.raises(InvalidArgument):
        with net.setup("mynet", "e" * 64):
            pass


def test_bridge_without_a_root_is_refused() -> None:
    with pytest.raises(Unsupported, match="no bridge network"):
        with BuildNetwork(None).setup("bridge", "f" * 64):
            pass


def test_sweep_releases_leases_of_dead_builders_only(fake) -> None:
    net, mgr, _ = fake
    live_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        mgr.state.endpoints = [
            FakeEndpoint("dead", ENDPOINT_PREFIX + "dead", "/proc/999999999/fd/5"),
            FakeEndpoint("live", ENDPOINT_PREFIX + "live", f"/proc/{os.getpid()}/fd/{live_fd}"),
            FakeEndpoint("engine", "web", "/proc/999999999/fd/5"),  # not a build container: not ours to judge
            FakeEndpoint("byname", ENDPOINT_PREFIX + "x", "/proc/999999999/ns/net"),  # attached by pid: the engine's
        ]
        net.manager  # noqa: B018  (made on first use, which sweeps)
        assert mgr.calls == [("release_all", "dead")]
        assert [e.container_id for e in mgr.state.endpoints] == ["live", "engine", "byname"]
    finally:
        os.close(live_fd)


def test_the_builds_network_is_checked_before_any_work(tmp_path: Path) -> None:
    from vessel.build.executor import Builder
    from vessel.build.options import BuildOptions, check_network
    from vessel.build.progress import RecordingProgress
    from vessel.image import Store

    assert [check_network(n) for n in ("default", "bridge", "host", "none")] == ["default", "bridge", "host", "none"]
    rec = RecordingProgress()
    with pytest.raises(InvalidArgument, match="unsupported network mode 'mynet'"):
        Builder(Store(tmp_path / "root"), tmp_path / "root", rec).build(
            "FROM scratch\n", "Dockerfile", tmp_path, BuildOptions(network="mynet"))
    assert rec.lines == [] and not (tmp_path / "root" / "build").exists()
