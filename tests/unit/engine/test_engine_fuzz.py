"""Hostile input to the create paths: whatever arrives, the answer is a RunOptions or a VesselError, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vessel.engine import flags
from vessel.engine.apibody import options_from_api
from vessel.errors import VesselError

pytestmark = pytest.mark.unit

CONFIG_KEYS = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "Tty", "OpenStdin", "Env", "Cmd",
               "Entrypoint", "Image", "Volumes", "WorkingDir", "Labels", "ExposedPorts", "StopSignal", "StopTimeout",
               "NetworkDisabled", "MacAddress")
HOST_KEYS = ("Binds", "Mounts", "Tmpfs", "ReadonlyRootfs", "Memory", "MemoryReservation", "MemorySwap", "NanoCpus",
             "CpuShares", "CpuPeriod", "CpuQuota", "CpusetCpus", "PidsLimit", "Ulimits", "OomKillDisable",
             "OomScoreAdj", "ShmSize", "CapAdd", "CapDrop", "Privileged", "SecurityOpt", "Devices", "Sysctls",
             "RestartPolicy", "NetworkMode", "PortBindings", "PublishAllPorts", "Dns", "DnsSearch", "DnsOptions",
             "ExtraHosts", "Init", "AutoRemove", "Runtime", "Isolation", "PidMode", "IpcMode", "LogConfig",
             "MaskedPaths", "MemorySwappiness", "CgroupnsMode")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
interesting_text = st.sampled_from(["", "²", "8²:80", "/", "/a", "a:b", "/a:/b:ro", "64m", "-1", "on-failure:3",
                                    "x=1", "nofile=1:2", "type=bind,source=/a,target=/b", "::", "/dev/x:rwm", "[::1]",
                                    "\x00"])


def _shallow(keys):
    return st.dictionaries(st.sampled_from(keys), json_values | interesting_text | st.lists(interesting_text),
                           max_size=6)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=_shallow(CONFIG_KEYS), host=_shallow(HOST_KEYS) | json_values, image=st.none() | st.just("busybox"))
def test_create_bodies_never_crash(config, host, image):
    payload = {**config, "HostConfig": host}
    if image:
        payload.setdefault("Image", image)
    try:
        options_from_api(payload, "fuzz")
    except VesselError as err:
        assert err.message and "\n" not in err.message


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40) | interesting_text)
def test_flag_values_never_crash(text):
    for parse in (flags.parse_size, flags.parse_cpus, flags.parse_volume, flags.parse_mount, flags.parse_tmpfs,
                  flags.parse_ulimit, flags.parse_restart, flags.parse_device, flags.parse_add_host,
                  flags.parse_publish, flags.parse_sysctl, flags.parse_dns_search, flags.parse_env_file,
                  flags.parse_label_file, lambda t: flags.parse_security_opts([t])):
        try:
            parse(text)
        except VesselError:
            pass
