import json

import pytest

from vessel.errors import InvalidArgument, NotFound
from vessel.oci.spec import Spec, load_spec, parse_spec

pytestmark = pytest.mark.unit


def minimal(**over):
    data = {
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
    }
    data.update(over)
    return data


def test_parse_round_trip_keeps_spec_keys():
    data = minimal(linux={"namespaces": [{"type": "mount"}],
                          "resources": {"memory": {"limit": 1 << 20, "disableOOMKiller": True},
                                        "blockIO": {"throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 5}]}},
                          "uidMappings": [], "maskedPaths": ["/proc/kcore"]})
    spec = parse_spec(data)
    assert isinstance(spec, Spec)
    assert spec.linux.resources.memory.disable_oom_killer is True
    assert spec.linux.resources.block_io.throttle_read_iops_device[0].rate == 5
    out = spec.to_json()
    assert out["linux"]["resources"]["memory"] == {"limit": 1 << 20, "disableOOMKiller": True}
    assert out["linux"]["maskedPaths"] == ["/proc/kcore"]
    assert parse_spec(out) == spec


def test_unknown_properties_are_ignored_but_reported():
    unknown = []
    from vessel.oci._codec import decode

    decode(Spec, minimal(vendorThing={"a": 1}), "config", unknown)
    assert unknown == ["config.vendorThing"]


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.update(ociVersion="2.0"), "ociVersion"),
    (lambda d: d["process"].update(args=[]), "process.args"),
    (lambda d: d["process"].update(cwd="relative"), "absolute"),
    (lambda d: d["process"].update(env=["NOEQUALS"]), "KEY=VALUE"),
    (lambda d: d["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]), "above hard"),
    (lambda d: d["process"].update(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]), "unknown limit"),
    (lambda d: d["linux"]["namespaces"].append({"type": "bogus"}), "unknown type"),
    (lambda d: d["linux"]["namespaces"].append({"type": "pid"}), "given twice"),
    (lambda d: d.update(hostname="box"), "uts namespace"),
    (lambda d: d.update(mounts=[{"destination": "tmp", "type": "tmpfs"}]), "absolute path"),
    (lambda d: d["linux"].update(sysctl={"net.ipv4.ip_forward": "1"}), "network namespace"),
    (lambda d: d["linux"]["namespaces"].append({"type": "user"}), "uidMappings"),
])
def test_validation_names_the_problem(mutate, needle):
    data = minimal()
    mutate(data)
    with pytest.raises(InvalidArgument) as exc:
        parse_spec(data)
    assert needle in str(exc.value)


def test_type_errors_name_the_path():
    data = minimal()
    data["process"]["user"]["uid"] = "zero"
    with pytest.raises(InvalidArgument, match=r"config.process.user.uid: expected int, got str"):
        parse_spec(data)


def test_missing_required_field():
    with pytest.raises(InvalidArgument, match="missing required field"):
        parse_spec({"root": {"path": "r"}})


def test_load_spec_errors(tmp_path):
    with pytest.raises(NotFound, match="no config.json"):
        load_spec(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        load_spec(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(minimal()))
    assert load_spec(tmp_path).process.args == ["sh"]
