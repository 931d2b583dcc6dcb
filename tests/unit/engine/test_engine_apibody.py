"""Docker Engine API create bodies -> RunOptions, and RunOptions -> ContainerInspect's HostConfig and Config."""

from __future__ import annotations

import copy
import json

import pytest

from vessel.engine.apibody import LOG_DRIVER, config_json, host_config_json, options_from_api
from vessel.engine.options import PortSpec, RestartPolicy, RunOptions, Ulimit, VolumeMount
from vessel.errors import InvalidArgument, Unsupported
from vessel.oci.defaults import MASKED_PATHS
from vessel.oci.image import ContainerConfig

pytestmark = pytest.mark.unit

V = VolumeMount
MiB = 1 << 20

# `docker run -d --name web -p 8080:80 -v data:/data -m 64m --cpus 0.5 busybox httpd -f -p 80`, as docker CLI 28
# sends it: every HostConfig field present, most of them zero or null.
CLI_BODY = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "ExposedPorts": {"80/tcp": {}}, "Tty": False, "OpenStdin": False, "StdinOnce": False,
    "Env": [], "Cmd": ["httpd", "-f", "-p", "80"], "Image": "busybox", "Volumes": {}, "WorkingDir": "",
    "Entrypoint": None, "OnBuild": None, "Labels": {},
    "HostConfig": {
        "Binds": ["data:/data"], "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False, "VolumeDriver": "",
        "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None, "CapDrop": None, "CgroupnsMode": "",
        "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "",
        "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
        "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": 0,
        "Isolation": "", "CpuShares": 0, "Memory": 67108864, "NanoCpus": 500000000, "CgroupParent": "",
        "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
        "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": None, "OomKillDisable": False, "PidsLimit": None, "Ulimits": [], "CpuCount": 0,
        "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
    },
    "NetworkingConfig": {"EndpointsConfig": {"default": {}}},
}


def body(**changes):
    out = copy.deepcopy(CLI_BODY)
    for key, value in changes.items():
        if key.startswith("HostConfig_"):
            out["HostConfig"][key.removeprefix("HostConfig_")] = value
        else:
            out[key] = value
    return out


def test_docker_cli_body():
    opts = options_from_api(CLI_BODY, "web")
    assert opts == RunOptions(image="busybox", command=("httpd", "-f", "-p", "80"), name="web", detach=True,
                              volumes=(V("volume", "/data", "data"),), memory=64 * MiB, cpus=0.5,
                              publish=(PortSpec("", 8080, 80),), exposed_ports=("80/tcp",))


def test_docker_py_minimal_body():
    opts = options_from_api({"Image": "busybox", "Cmd": "echo hi", "AttachStdout": True, "AttachStderr": True,
                             "HostConfig": {"AutoRemove": True}})
    assert opts == RunOptions(image="busybox", command=("echo hi",), remove=True)


def test_nulls_everywhere():
    keys = ["Hostname", "Domainname", "User", "Env", "Cmd", "Entrypoint", "Labels", "Volumes", "ExposedPorts",
            "WorkingDir", "Tty", "OpenStdin", "StopSignal", "StopTimeout"]
    host = {k: None for k in CLI_BODY["HostConfig"]}
    opts = options_from_api({"Image": "busybox", **{k: None for k in keys}, "HostConfig": host,
                             "NetworkingConfig": None})
    assert opts == RunOptions(image="busybox", detach=True)


@pytest.mark.parametrize("change, field, value", [
    (dict(Entrypoint=[""]), "entrypoint", ()),
    (dict(Entrypoint="/bin/sh"), "entrypoint", ("/bin/sh",)),
    (dict(Entrypoint=["/e", "-x"]), "entrypoint", ("/e", "-x")),
    (dict(Cmd=[]), "command", None),
    (dict(Env=["A=1", "UNSET"]), "env", ("A=1", "UNSET")),
    (dict(User="1000:1000", WorkingDir="/srv", Hostname="web", Domainname="example.com"), "user", "1000:1000"),
    (dict(Labels={"a": "1"}), "labels", {"a": "1"}),
    (dict(Tty=True, OpenStdin=True, AttachStdin=True), "interactive", True),
    (dict(AttachStdout=True), "detach", False),
    (dict(StopSignal="SIGINT", StopTimeout=3), "stop_timeout", 3),
    (dict(StopTimeout=2.0), "stop_timeout", 2),
    (dict(Volumes={"/cache": {}, "/data": {}}), "volumes", (V("volume", "/data", "data"), V("anonymous", "/cache"))),
    (dict(NetworkDisabled=True), "network", "none"),
    (dict(MacAddress="02:42:ac:11:00:02"), "mac_address", "02:42:ac:11:00:02"),
    (dict(HostConfig_Binds=["/h:/c:ro", "v2:/v"]), "volumes", (V("bind", "/c", "/h", True), V("volume", "/v", "v2"))),
    (dict(HostConfig_Binds=None, HostConfig_Tmpfs={"/run": "size=1m", "/t": ""}), "volumes",
     (V("tmpfs", "/run", "", False, ("size=1m",)), V("tmpfs", "/t"))),
    (dict(HostConfig_Binds=None, HostConfig_Mounts=[
        {"Type": "bind", "Source": "/h", "Target": "/c", "ReadOnly": True, "BindOptions": {"Propagation": "rshared"}},
        {"Type": "volume", "Source": "vol", "Target": "/v", "VolumeOptions": {"NoCopy": True}},
        {"Type": "volume", "Target": "/anon"},
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 64 * MiB, "Mode": 0o1777}}]), "volumes",
     (V("bind", "/c", "/h", True, ("rshared",)), V("volume", "/v", "vol", False, ("nocopy",)),
      V("anonymous", "/anon"), V("tmpfs", "/t", "", False, ("size=64m", "mode=1777")))),
    (dict(HostConfig_ReadonlyRootfs=True), "read_only", True),
    (dict(HostConfig_MemorySwap=-1), "memory_swap", -1),
    (dict(HostConfig_MemoryReservation=32 * MiB), "memory_reservation", 32 * MiB),
    (dict(HostConfig_NanoCpus=0, HostConfig_CpuPeriod=50000, HostConfig_CpuQuota=25000), "cpu_quota", 25000),
    (dict(HostConfig_CpuShares=512, HostConfig_CpusetCpus="0-1", HostConfig_CpusetMems="0"), "cpuset_cpus", "0-1"),
    (dict(HostConfig_PidsLimit=100), "pids_limit", 100),
    (dict(HostConfig_PidsLimit=-1), "pids_limit", None),
    (dict(HostConfig_Ulimits=[{"Name": "nofile", "Soft": 1024, "Hard": 2048}]), "ulimits",
     (Ulimit("nofile", 1024, 2048),)),
    (dict(HostConfig_OomKillDisable=True, HostConfig_OomScoreAdj=-10), "oom_score_adj", -10),
    (dict(HostConfig_ShmSize=128 * MiB), "shm_size", 128 * MiB),
    (dict(HostConfig_CapAdd=["NET_ADMIN"], HostConfig_CapDrop=["ALL"]), "cap_drop", ("ALL",)),
    (dict(HostConfig_Privileged=True), "privileged", True),
    (dict(HostConfig_SecurityOpt=["seccomp=unconfined", "no-new-privileges:true", "label=disable"]),
     "seccomp_profile", "unconfined"),
    (dict(HostConfig_SecurityOpt=['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']), "seccomp_profile",
     '{"defaultAction":"SCMP_ACT_ALLOW"}'),
    (dict(HostConfig_SecurityOpt=["no-new-privileges"]), "no_new_privileges", True),
    (dict(HostConfig_Devices=[{"PathOnHost": "/dev/fuse", "PathInContainer": "", "CgroupPermissions": ""}]),
     "devices", ("/dev/fuse:/dev/fuse:rwm",)),
    (dict(HostConfig_Sysctls={"net.core.somaxconn": "1024"}), "sysctls", {"net.core.somaxconn": "1024"}),
    (dict(HostConfig_RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 3}), "restart",
     RestartPolicy("on-failure", 3)),
    (dict(HostConfig_RestartPolicy={"Name": "", "MaximumRetryCount": 0}), "restart", RestartPolicy()),
    (dict(HostConfig_NetworkMode="host"), "network", "host"),
    (dict(HostConfig_PortBindings={"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8000-8010"}],
                                   "53/udp": None, "443": [{"HostIp": "0.0.0.0", "HostPort": "0"}]}), "publish",
     (PortSpec("127.0.0.1", 8000, 80, "tcp", 8010), PortSpec("", 0, 53, "udp"), PortSpec("", 0, 443))),
    (dict(HostConfig_PublishAllPorts=True), "publish_all", True),
    (dict(HostConfig_Dns=["1.1.1.1"], HostConfig_DnsSearch=["example.com"], HostConfig_DnsOptions=["ndots:2"]),
     "dns", ("1.1.1.1",)),
    (dict(HostConfig_ExtraHosts=["db:10.0.0.7", "gw:host-gateway"]), "extra_hosts", ("db:10.0.0.7",
                                                                                      "gw:host-gateway")),
    (dict(HostConfig_Init=True), "init", True),
    (dict(HostConfig_Runtime="runc"), "runtime", "runc"),
    (dict(HostConfig_Runtime="vessel-runtime"), "runtime", None),
    (dict(HostConfig_Isolation="vm"), "isolation", "vm"),
    (dict(HostConfig_NetworkMode="app", NetworkingConfig={"EndpointsConfig": {"app": {
        "Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.89.0.5"}, "MacAddress": "02:42:0a:59:00:05"}}}),
     "network_aliases", ("db",)),
    (dict(HostConfig_NetworkMode="app", NetworkingConfig={"EndpointsConfig": {"app": {
        "IPAMConfig": {"IPv4Address": "10.89.0.5"}}}}), "ip", "10.89.0.5"),
    (dict(HostConfig_MaskedPaths=list(MASKED_PATHS), HostConfig_CgroupnsMode="private"), "image", "busybox"),
])
def test_field_mapping(change, field, value):
    assert getattr(options_from_api(body(**change)), field) == value


@pytest.mark.parametrize("change, where", [
    (dict(HostConfig_Memory="64m"), "HostConfig.Memory"),
    (dict(HostConfig_Memory=True), "HostConfig.Memory"),
    (dict(HostConfig_Memory=1.5), "HostConfig.Memory"),
    (dict(Cmd=[1, 2]), "Config.Cmd"),
    (dict(Env="A=1"), "Config.Env"),
    (dict(Labels={"a": 1}), "Config.Labels.a"),
    (dict(Tty="yes"), "Config.Tty"),
    (dict(HostConfig="x"), "HostConfig"),
    (dict(HostConfig_RestartPolicy=[]), "HostConfig.RestartPolicy"),
    (dict(HostConfig_Mounts=[{"Type": "bind", "Target": "/x"}]), "HostConfig.Mounts[0].Source"),
    (dict(HostConfig_Mounts=["x"]), "HostConfig.Mounts[0]"),
    (dict(HostConfig_Devices=[{"PathInContainer": "/dev/x"}]), "HostConfig.Devices[0].PathOnHost"),
    (dict(Image=""), "Config.Image"),
])
def test_wrong_types_name_the_field(change, where):
    with pytest.raises(InvalidArgument) as err:
        options_from_api(body(**change))
    assert err.value.fields["field"] == where
    assert where.split(".")[-1].split("[")[0] in err.value.message


@pytest.mark.parametrize("payload", [[], "x", 3])
def test_body_must_be_an_object(payload):
    with pytest.raises(InvalidArgument, match="cannot unmarshal"):
        options_from_api(payload)
    with pytest.raises(InvalidArgument, match="config cannot be empty"):
        options_from_api(None)


@pytest.mark.parametrize("change, message", [
    (dict(HostConfig_Memory=1), "Minimum memory limit allowed is 6MB"),
    (dict(HostConfig_RestartPolicy={"Name": "always", "MaximumRetryCount": 0}, HostConfig_AutoRemove=True),
     "Conflicting options: --restart and --rm"),
    (dict(HostConfig_RestartPolicy={"Name": "bogus"}), "unknown policy 'bogus'"),
    (dict(HostConfig_Binds=["bad name:/x"]), "includes invalid characters"),
    (dict(HostConfig_Tmpfs={"relative": ""}), "must be absolute"),
    (dict(HostConfig_Ulimits=[{"Name": "nofile", "Soft": 10, "Hard": 5}]), "soft limit must be less than"),
    (dict(HostConfig_SecurityOpt=["seccomp=/etc/profile.json"]), "neither 'unconfined' nor a JSON profile"),
    (dict(HostConfig_PortBindings={"http": []}), "invalid port 'http'"),
    (dict(HostConfig_PortBindings={"80/tcp": [{"HostPort": "x"}]}), "invalid host port 'x'"),
    (dict(HostConfig_Sysctls={"kernel.pid_max": "1"}), "sysctl 'kernel.pid_max' is not allowed"),
    (dict(NetworkingConfig={"EndpointsConfig": {"a": {}, "b": {}}}), "cannot be connected to network endpoints"),
    (dict(HostConfig_Mounts=[{"Type": "tmpfs", "Source": "x", "Target": "/t"}]), "Source must not be specified"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_invalid_requests(change, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        options_from_api(body(**change))


@pytest.mark.parametrize("change, field", [
    (dict(HostConfig_PidMode="host"), "HostConfig.PidMode"),
    (dict(HostConfig_IpcMode="host"), "HostConfig.IpcMode"),
    (dict(HostConfig_VolumesFrom=["other"]), "HostConfig.VolumesFrom"),
    (dict(HostConfig_MemorySwappiness=60), "HostConfig.MemorySwappiness"),
    (dict(HostConfig_LogConfig={"Type": "syslog"}), "HostConfig.LogConfig.Type"),
    (dict(HostConfig_Isolation="hyperv"), "HostConfig.Isolation"),
    (dict(HostConfig_MaskedPaths=["/proc/kcore"]), "HostConfig.MaskedPaths"),
    (dict(HostConfig_Mounts=[{"Type": "npipe", "Target": "/x"}]), "HostConfig.Mounts[0].Type"),
    (dict(HostConfig_PortBindings={"80/tcp": [{"HostIp": "::", "HostPort": "80"}]}),
     "HostConfig.PortBindings['80/tcp']"),
])
def test_unsupported_fields_are_refused_by_name(change, field):
    with pytest.raises(Unsupported) as err:
        options_from_api(body(**change))
    assert err.value.fields["field"] == field


def test_memory_swappiness_minus_one_is_unset():
    assert options_from_api(body(HostConfig_MemorySwappiness=-1)).memory is not None


def test_unknown_fields_are_ignored_as_dockerd_does():
    assert options_from_api(body(Whatever=1, HostConfig_Annotations={"a": "b"})) == options_from_api(CLI_BODY)


# ---- inspect shapes ---------------------------------------------------------------------------------------

def test_host_config_json_defaults():
    hc = host_config_json(RunOptions(image="busybox"))
    assert hc["Binds"] is None and hc["NetworkMode"] == "bridge" and hc["PortBindings"] == {}
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["ShmSize"] == 64 * MiB and hc["Memory"] == 0 and hc["MemorySwap"] == 0 and hc["NanoCpus"] == 0
    assert hc["LogConfig"] == {"Type": LOG_DRIVER, "Config": {}}
    assert hc["MaskedPaths"] == list(MASKED_PATHS) and hc["CgroupnsMode"] == "private"
    assert hc["CapAdd"] is None and hc["SecurityOpt"] is None and hc["PidsLimit"] is None
    assert "Init" not in hc and "Tmpfs" not in hc and "Sysctls" not in hc
    json.dumps(hc)


def test_host_config_json_values():
    opts = RunOptions(image="busybox", volumes=(V("volume", "/data", "data"), V("bind", "/c", "/h", True, ("rshared",)),
                                                V("tmpfs", "/run", "", False, ("size=1m",)), V("anonymous", "/x")),
                      memory=64 * MiB, cpus=0.5, pids_limit=100, publish=(PortSpec("", 8080, 80),
                                                                          PortSpec("127.0.0.1", 8000, 81, "udp", 8010)),
                      restart=RestartPolicy("on-failure", 2), init=True, sysctls={"net.core.somaxconn": "1"},
                      ulimits=(Ulimit("nofile", 1, 2),), devices=("/dev/fuse",), seccomp_profile="unconfined",
                      no_new_privileges=True, cap_add=("NET_ADMIN",), privileged=True)
    hc = host_config_json(opts, cgroup_v2=False)
    assert hc["Binds"] == ["data:/data", "/h:/c:ro,rshared"]
    assert hc["Tmpfs"] == {"/run": "size=1m"}
    assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["PidsLimit"]) == (64 * MiB, 128 * MiB, 500000000, 100)
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                  "81/udp": [{"HostIp": "127.0.0.1", "HostPort": "8000-8010"}]}
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert hc["Init"] is True and hc["Sysctls"] == {"net.core.somaxconn": "1"}
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 1, "Hard": 2}]
    assert hc["Devices"] == [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}]
    assert hc["SecurityOpt"] == ["seccomp=unconfined", "no-new-privileges"]
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["Privileged"] is True and hc["MaskedPaths"] == []
    assert hc["CgroupnsMode"] == "host"


def test_inspect_round_trips_through_create():
    opts = RunOptions(image="busybox", command=("sleep", "9"), name="web",
                      volumes=(V("volume", "/data", "data"), V("bind", "/c", "/h", True), V("tmpfs", "/run"),
                               V("anonymous", "/cache")),
                      memory=64 * MiB, memory_swap=-1, cpus=1.5, pids_limit=10, publish=(PortSpec("", 8080, 80),),
                      env=("A=1",), labels={"l": "v"}, restart=RestartPolicy("always"), init=True, tty=True,
                      interactive=True, user="1000", workdir="/srv", hostname="h", stop_signal="SIGINT",
                      stop_timeout=4, cap_drop=("NET_RAW",), sysctls={"net.core.somaxconn": "1"},
                      ulimits=(Ulimit("nofile", 1, 2),), dns=("1.1.1.1",), extra_hosts=("db:10.0.0.7",),
                      read_only=True, oom_score_adj=5, shm_size=MiB, runtime="crun")
    request = {**config_json(opts, None), "HostConfig": host_config_json(opts)}
    again = options_from_api(json.loads(json.dumps(request)), "web")
    assert again == opts.__class__(**{**opts.__dict__, "exposed_ports": ("80/tcp",)})


def test_config_json_merges_the_image():
    image = ContainerConfig(entrypoint=["/entry"], cmd=["serve"], env=["PATH=/bin", "A=image"], labels={"x": "1"},
                            working_dir="/app", user="app", exposed_ports={"443/tcp": {}}, volumes={"/var/db": {}},
                            stop_signal="SIGQUIT")
    opts = RunOptions(image="app:1", env=("A=user",), labels={"y": "2"}, publish=(PortSpec("", 8080, 80),))
    cfg = config_json(opts, image, hostname="0123456789ab")
    assert cfg["Hostname"] == "0123456789ab" and cfg["Image"] == "app:1"
    assert cfg["Entrypoint"] == ["/entry"] and cfg["Cmd"] == ["serve"]
    assert cfg["Env"] == ["A=user", "PATH=/bin"]
    assert cfg["Labels"] == {"x": "1", "y": "2"}
    assert cfg["WorkingDir"] == "/app" and cfg["User"] == "app"
    assert cfg["ExposedPorts"] == {"443/tcp": {}, "80/tcp": {}}
    assert cfg["Volumes"] == {"/var/db": {}} and cfg["StopSignal"] == "SIGQUIT" and "StopTimeout" not in cfg
    assert (cfg["AttachStdout"], cfg["AttachStdin"], cfg["OpenStdin"]) == (True, False, False)


def test_config_json_without_image():
    cfg = config_json(RunOptions(image="x", command=("true",), detach=True), None)
    assert cfg["Cmd"] == ["true"] and cfg["Entrypoint"] is None and cfg["Volumes"] is None
    assert cfg["Env"] == [] and cfg["Labels"] == {} and "ExposedPorts" not in cfg
    assert cfg["AttachStdout"] is False


@pytest.mark.parametrize("bindings", [{"8²/tcp": []}, {"80/tcp": [{"HostPort": "8²"}]},
                                      {"80/tcp": [{"HostPort": "1-²"}]}])
def test_port_numbers_are_ascii_digits(bindings):
    with pytest.raises(InvalidArgument):
        options_from_api(body(HostConfig_PortBindings=bindings))
