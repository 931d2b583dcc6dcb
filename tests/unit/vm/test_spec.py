import pytest

from vessel.errors import InvalidArgument
from vessel.vm.spec import NetworkSpec, PortSpec, ProcessSpec, VmConfig, VolumeSpec, parse_port, parse_volume, problems

pytestmark = pytest.mark.unit


def cfg(**kw):
    base = dict(id="vm1", name="vm1", process=ProcessSpec(("true",)), base_image="/x.raw")
    base.update(kw)
    return VmConfig(**base)


def test_valid_config_round_trips_through_json():
    c = cfg(volumes=(VolumeSpec("/src", "/data", True),), ports=(PortSpec(8080, 80),),
            process=ProcessSpec(("sh", "-c", "exit 7"), env=("A=1",), cwd="/w", user="app:app", hostname="h"))
    assert problems(c) == []
    assert VmConfig.from_json(c.to_json()) == c


@pytest.mark.parametrize("changes, needle", [
    (dict(cpus=0), "cpus"),
    (dict(memory_mb=16), "memory"),
    (dict(process=ProcessSpec(())), "at least one argument"),
    (dict(process=ProcessSpec(("x",), cwd="rel")), "absolute"),
    (dict(process=ProcessSpec(("x",), env=("=bad",))), "NAME=value"),
    (dict(process=ProcessSpec(("x",), user="a b")), "user"),
    (dict(volumes=(VolumeSpec("/a", "/"),)), "root"),
    (dict(ports=(PortSpec(0, 80),)), "out of range"),
    (dict(ports=(PortSpec(80, 80), PortSpec(80, 81))), "twice"),
    (dict(ports=(PortSpec(80, 80),), network=NetworkSpec(mode="none")), "without a network"),
    (dict(network=NetworkSpec(mode="tap")), "tap"),
    (dict(mac="52:54:00:AA:BB:CC"), "MAC"),
    (dict(id="bad/id"), "VM id"),
])
def test_each_check_names_the_bad_value(changes, needle):
    found = problems(cfg(**changes))
    assert any(needle in msg for msg in found), found


def test_update_validates():
    with pytest.raises(InvalidArgument, match="cpus"):
        cfg().update(cpus=0)


def test_unknown_json_is_rejected_with_path():
    with pytest.raises(InvalidArgument, match="cpus"):
        VmConfig.from_json('{"id": "a", "name": "a", "process": {"args": ["x"]}, "baseImage": "", "cpus": "two"}')


def test_parse_port_and_volume():
    assert parse_port("8080:80") == PortSpec(8080, 80)
    assert parse_port("0.0.0.0:53:53/udp") == PortSpec(53, 53, "udp", "0.0.0.0")
    assert parse_port("22") == PortSpec(22, 22)
    with pytest.raises(InvalidArgument):
        parse_port("a:b")
    assert parse_volume("/tmp:/data:ro") == VolumeSpec("/tmp", "/data", True)
    with pytest.raises(InvalidArgument):
        parse_volume("/tmp")
