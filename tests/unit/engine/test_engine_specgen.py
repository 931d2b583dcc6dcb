"""Image config + RunOptions -> OCI spec, checked field by field against Docker's behaviour."""

from __future__ import annotations

import dataclasses
import json

import pytest

from vessel.engine.options import PortSpec, RunOptions, Ulimit, VolumeMount
from vessel.engine.specgen import (DEFAULT_DEVICE_RULES, DEFAULT_SYSCTLS, INIT_IN_CONTAINER, RLIM_INFINITY,
                                   SpecContext, capability_set, create_warnings, entrypoint_and_cmd,
                                   effective_memory_swap, generate, host_capabilities, merged_env, scan_host_devices,
                                   stat_devices, volume_mounts)
from vessel.errors import InvalidArgument, NotFound, Unsupported
from vessel.oci.defaults import DEFAULT_CAPS, MASKED_PATHS, READONLY_PATHS, default_mounts, default_seccomp
from vessel.oci.image import ContainerConfig
from vessel.oci.resources import DeviceRule
from vessel.oci.spec import Device, parse_spec
from vessel.runtime.linux.caps import CAPS

pytestmark = pytest.mark.unit

CID = "0123456789ab" + "c" * 52
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n" \
         "app:x:1000:1000::/srv/app:/bin/sh\n"
GROUP = "root:x:0:\nwheel:x:10:app\nnogroup:x:65534:\napp:x:1000:\n"
BUSYBOX = ContainerConfig(cmd=["sh"], env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
ETC = {"/etc/resolv.conf": "/c/resolv.conf", "/etc/hostname": "/c/hostname", "/etc/hosts": "/c/hosts"}
CTX = SpecContext(container_id=CID, rootfs="/var/lib/vessel/containers/x/merged", etc_files=ETC,
                  passwd=PASSWD, group=GROUP, kernel="6.1.0", arch="amd64", cgroup_v2=True)


def gen(image=BUSYBOX, ctx=CTX, **opts):
    return generate(image, RunOptions(image="busybox", **opts), ctx)


def mount(spec, dest):
    found = [m for m in spec.mounts if m.destination == dest]
    assert len(found) == 1, f"{dest}: {found}"
    return found[0]


# ---- Docker's defaults ------------------------------------------------------------------------------------

def test_defaults_are_dockers():
    spec = gen()
    caps = spec.process.capabilities
    assert caps.bounding == caps.effective == caps.permitted == list(DEFAULT_CAPS)
    assert caps.inheritable == [] and caps.ambient == []
    assert spec.linux.masked_paths == list(MASKED_PATHS)
    assert spec.linux.readonly_paths == list(READONLY_PATHS)
    assert spec.linux.seccomp == default_seccomp(set(DEFAULT_CAPS), arch="amd64", kernel="6.1.0")
    assert spec.linux.seccomp.default_action == "SCMP_ACT_ERRNO"
    assert spec.mounts[:7] == default_mounts()
    assert [m.destination for m in spec.mounts[7:]] == ["/etc/resolv.conf", "/etc/hostname", "/etc/hosts"]
    assert all(m.options == ["rbind", "rprivate"] and m.type == "bind" for m in spec.mounts[7:])
    assert [(n.type, n.path) for n in spec.linux.namespaces] == [
        ("mount", None), ("network", None), ("uts", None), ("pid", None), ("ipc", None), ("cgroup", None)]
    assert spec.linux.cgroups_path == f"/vessel/{CID}"
    assert spec.linux.resources.devices == list(DEFAULT_DEVICE_RULES)
    assert spec.linux.resources.memory is None and spec.linux.resources.cpu is None
    assert spec.linux.resources.pids is None
    assert spec.linux.sysctl == DEFAULT_SYSCTLS
    assert spec.linux.devices == []
    assert spec.hostname == CID[:12] and spec.domainname is None
    assert spec.root.path == CTX.rootfs and not spec.root.readonly
    assert spec.process.args == ["sh"] and spec.process.cwd == "/" and not spec.process.terminal
    assert spec.process.user.uid == 0 and spec.process.user.gid == 0
    assert spec.process.oom_score_adj == 0 and not spec.process.no_new_privileges
    assert spec.process.rlimits == []
    assert spec.annotations == {"io.vessel.image": "busybox"}


def test_spec_round_trips_through_json_and_validation():
    spec = gen(name="web", tty=True, memory=64 << 20, cpus=0.5, pids_limit=100,
               volumes=(VolumeMount("tmpfs", "/run", options=("size=1m",)),))
    again = parse_spec(json.loads(json.dumps(spec.to_json())))
    assert again == spec


def test_default_device_rules_deny_first_then_allow_dockers_list():
    rules = DEFAULT_DEVICE_RULES
    assert rules[0] == DeviceRule(allow=False, access="rwm")
    allowed = {(r.major, r.minor) for r in rules if r.allow}
    assert {(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, None)} == allowed


# ---- command line -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("image_ep, image_cmd, entrypoint, command, args", [
    (None, ["sh"], None, None, ["sh"]),
    (None, ["sh"], None, ("echo", "hi"), ["echo", "hi"]),
    (["/entry.sh"], ["serve"], None, None, ["/entry.sh", "serve"]),
    (["/entry.sh"], ["serve"], None, ("debug",), ["/entry.sh", "debug"]),
    (["/entry.sh"], ["serve"], ("/bin/env",), None, ["/bin/env"]),
    (["/entry.sh"], ["serve"], ("/bin/env",), ("A=1",), ["/bin/env", "A=1"]),
    (["/entry.sh"], ["serve"], (), ("sh",), ["sh"]),
    ([""], ["sh"], None, None, ["sh"]),
    (None, None, None, ("true",), ["true"]),
])
def test_entrypoint_and_cmd(image_ep, image_cmd, entrypoint, command, args):
    image = ContainerConfig(entrypoint=image_ep, cmd=image_cmd)
    assert gen(image, entrypoint=entrypoint, command=command).process.args == args


@pytest.mark.parametrize("image, entrypoint", [(ContainerConfig(), None), (BUSYBOX, ()), (None, None)])
def test_no_command_specified(image, entrypoint):
    with pytest.raises(InvalidArgument, match="No command specified"):
        gen(image, entrypoint=entrypoint)


def test_entrypoint_and_cmd_helper_for_inspect():
    image = ContainerConfig(entrypoint=["/e"], cmd=["c"])
    assert entrypoint_and_cmd(image, RunOptions(image="i")) == (["/e"], ["c"])
    assert entrypoint_and_cmd(image, RunOptions(image="i", entrypoint=())) == ([], [])


# ---- environment, cwd, user -------------------------------------------------------------------------------

def test_env_merging():
    image = ContainerConfig(cmd=["sh"], env=["PATH=/img/bin", "LANG=C", "DROP=me", "KEEP=1"])
    spec = gen(image, env=("LANG=en_US.UTF-8", "NEW=1", "DROP"), tty=True)
    assert spec.process.env == ["PATH=/img/bin", f"HOSTNAME={CID[:12]}", "TERM=xterm", "LANG=en_US.UTF-8", "NEW=1",
                                "KEEP=1", "HOME=/root"]


def test_env_defaults_without_image_env():
    spec = gen(ContainerConfig(cmd=["sh"]), hostname="web")
    assert spec.process.env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=web",
                                "HOME=/root"]
    assert spec.hostname == "web"


def test_user_env_overrides_hostname_term_and_home():
    spec = gen(env=("HOSTNAME=x", "TERM=dumb", "HOME=/tmp"), tty=True)
    assert spec.process.env[1:] == ["HOSTNAME=x", "TERM=dumb", "HOME=/tmp"]


def test_merged_env_is_docker_config_env():
    image = ContainerConfig(env=["A=1", "B=2"])
    assert merged_env(image, RunOptions(image="i", env=("B=3", "C=4"))) == ["B=3", "C=4", "A=1"]


@pytest.mark.parametrize("image_wd, workdir, cwd", [(None, None, "/"), ("/srv", None, "/srv"),
                                                    ("/srv", "/opt", "/opt"), ("srv/", None, "/srv")])
def test_working_directory(image_wd, workdir, cwd):
    assert gen(ContainerConfig(cmd=["sh"], working_dir=image_wd), workdir=workdir).process.cwd == cwd


@pytest.mark.parametrize("image_user, user, expected, home", [
    (None, None, (0, 0, [0]), "/root"),
    (None, "nobody", (65534, 65534, [65534]), "/home"),
    ("app", None, (1000, 1000, [1000, 10]), "/srv/app"),
    ("app", "0:0", (0, 0, [0]), "/root"),
    (None, "1234:5678", (1234, 5678, [5678]), "/"),
])
def test_user_resolution(image_user, user, expected, home):
    spec = gen(ContainerConfig(cmd=["sh"], user=image_user), user=user)
    u = spec.process.user
    assert (u.uid, u.gid, u.additional_gids) == expected
    assert f"HOME={home}" in spec.process.env


def test_unknown_user():
    with pytest.raises(InvalidArgument, match="unable to find user ghost: no matching entries in passwd file"):
        gen(user="ghost")


# ---- capabilities, seccomp, privileged --------------------------------------------------------------------

@pytest.mark.parametrize("add, drop, expected", [
    ((), (), list(DEFAULT_CAPS)),
    (("NET_ADMIN",), (), [*DEFAULT_CAPS, "CAP_NET_ADMIN"]),
    (("net_admin", "CAP_NET_ADMIN"), ("chown",), [c for c in DEFAULT_CAPS if c != "CAP_CHOWN"] + ["CAP_NET_ADMIN"]),
    (("CHOWN",), (), list(DEFAULT_CAPS)),
    (("all",), ("SYS_ADMIN",), [c for c in CAPS if c != "CAP_SYS_ADMIN"]),
    (("KILL",), ("ALL",), ["CAP_KILL"]),
    ((), ("ALL",), []),
])
def test_capability_set(add, drop, expected):
    assert capability_set(RunOptions(image="x", cap_add=add, cap_drop=drop)) == expected


def test_capabilities_in_the_spec_and_seccomp_follow_them():
    spec = gen(cap_add=("SYS_ADMIN",))
    assert "CAP_SYS_ADMIN" in spec.process.capabilities.bounding
    allowed = {n for rule in spec.linux.seccomp.syscalls if rule.action == "SCMP_ACT_ALLOW" for n in rule.names}
    default = {n for rule in gen().linux.seccomp.syscalls if rule.action == "SCMP_ACT_ALLOW" for n in rule.names}
    assert "mount" in allowed and "mount" not in default


@pytest.mark.parametrize("caps, message", [(("CAP_FLY",), 'unknown capability: "CAP_FLY"'),
                                           (("CHECKPOINT_RESTORE",), "not supported by your kernel")])
def test_bad_capabilities(caps, message):
    ctx = dataclasses.replace(CTX, host_caps=CAPS[:40])
    with pytest.raises(InvalidArgument, match=message):
        gen(ctx=ctx, cap_add=caps)


def test_all_means_what_the_host_can_grant():
    host = tuple(c for c in CAPS if c != "CAP_SYS_RESOURCE")
    assert capability_set(RunOptions(image="x", cap_add=("ALL",)), host) == list(host)
    assert capability_set(RunOptions(image="x", privileged=True), host) == list(host)
    with pytest.raises(InvalidArgument, match="not available in the current environment"):
        capability_set(RunOptions(image="x", cap_add=("SYS_RESOURCE",)), host)


def test_host_capabilities_reads_the_bounding_set(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapBnd:\t0000000000000005\nCapAmb:\t0\n")
    assert host_capabilities(str(status)) == ("CAP_CHOWN", "CAP_DAC_READ_SEARCH")
    assert set(host_capabilities()) <= set(CAPS)
    status.write_text("Name:\tx\n")
    with pytest.raises(NotFound, match="no CapBnd line"):
        host_capabilities(str(status))


def test_privileged():
    devs = {"/dev/sda": Device(type="b", path="/dev/sda", major=8, minor=0, file_mode=0o660, uid=0, gid=6),
            "/dev/null": Device(type="c", path="/dev/null", major=1, minor=3, file_mode=0o666, uid=0, gid=0)}
    spec = gen(ctx=dataclasses.replace(CTX, host_devices=devs), privileged=True, cap_drop=("CHOWN",))
    assert spec.process.capabilities.bounding == list(CAPS)
    assert spec.linux.seccomp is None
    assert spec.linux.masked_paths == [] and spec.linux.readonly_paths == []
    assert "ro" not in mount(spec, "/sys").options and "ro" not in mount(spec, "/sys/fs/cgroup").options
    assert [d.path for d in spec.linux.devices] == ["/dev/null", "/dev/sda"]
    assert spec.linux.resources.devices == [DeviceRule(allow=True, access="rwm")]


@pytest.mark.parametrize("profile", ["unconfined"])
def test_seccomp_unconfined(profile):
    assert gen(seccomp_profile=profile).linux.seccomp is None


def test_seccomp_custom_profile_inline_and_from_a_file(tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}
    inline = gen(seccomp_profile=json.dumps(profile)).linux.seccomp
    assert inline.default_action == "SCMP_ACT_ERRNO" and [r.names for r in inline.syscalls] == [["read", "write"]]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile))
    assert gen(seccomp_profile=str(path)).linux.seccomp == inline
    with pytest.raises(NotFound, match="opening seccomp profile"):
        gen(seccomp_profile=str(tmp_path / "missing.json"))
    with pytest.raises(InvalidArgument, match="decoding seccomp profile failed"):
        gen(seccomp_profile="{nope")


def test_no_new_privileges():
    assert gen(no_new_privileges=True).process.no_new_privileges


# ---- read-only, resources ---------------------------------------------------------------------------------

def test_read_only_root():
    spec = gen(read_only=True, volumes=(VolumeMount("bind", "/data", "/srv/data"),))
    assert spec.root.readonly
    for dest in ("/sys", "/sys/fs/cgroup", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"):
        assert "ro" in mount(spec, dest).options, dest
    for dest in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/data"):
        assert "ro" not in mount(spec, dest).options, dest


def test_memory_and_swap():
    mem = gen(memory=64 << 20, memory_reservation=32 << 20).linux.resources.memory
    assert (mem.limit, mem.reservation, mem.swap) == (64 << 20, 32 << 20, 128 << 20)
    assert gen(memory=64 << 20, memory_swap=-1).linux.resources.memory.swap == -1
    assert gen(memory=64 << 20, memory_swap=100 << 20).linux.resources.memory.swap == 100 << 20
    assert effective_memory_swap(RunOptions(image="x")) is None


def test_oom_kill_disable_only_on_cgroup_v1():
    v1 = dataclasses.replace(CTX, cgroup_v2=False)
    assert gen(ctx=v1, oom_kill_disable=True, memory=64 << 20).linux.resources.memory.disable_oom_killer is True
    assert gen(oom_kill_disable=True, memory=64 << 20).linux.resources.memory.disable_oom_killer is None
    assert "OomKillDisable discarded" in create_warnings(RunOptions(image="x", oom_kill_disable=True), CTX)[0]


@pytest.mark.parametrize("opts, quota, period", [
    (dict(cpus=0.5), 50000, 100000), (dict(cpus=2.0), 200000, 100000), (dict(cpus=0.01), 1000, 100000),
    (dict(cpu_period=50000, cpu_quota=25000), 25000, 50000), (dict(cpu_quota=-1), -1, None),
])
def test_cpu_quota(opts, quota, period):
    cpu = gen(**opts).linux.resources.cpu
    assert (cpu.quota, cpu.period) == (quota, period)


def test_cpu_shares_and_sets():
    cpu = gen(cpu_shares=512, cpuset_cpus="0-1", cpuset_mems="0").linux.resources.cpu
    assert (cpu.shares, cpu.cpus, cpu.mems) == (512, "0-1", "0")


@pytest.mark.parametrize("limit, expected", [(100, 100), (-1, -1), (0, -1)])
def test_pids_limit(limit, expected):
    assert gen(pids_limit=limit).linux.resources.pids.limit == expected


def test_ulimits_become_rlimits():
    spec = gen(ulimits=(Ulimit("nofile", 1024, 2048), Ulimit("core", -1, -1)))
    assert [(r.type, r.soft, r.hard) for r in spec.process.rlimits] == [
        ("RLIMIT_NOFILE", 1024, 2048), ("RLIMIT_CORE", RLIM_INFINITY, RLIM_INFINITY)]


def test_oom_score_adj_and_shm_size():
    spec = gen(oom_score_adj=-500, shm_size=1 << 30)
    assert spec.process.oom_score_adj == -500
    assert mount(spec, "/dev/shm").options[-1] == f"size={1 << 30}"


def test_cpus_beyond_the_host():
    with pytest.raises(InvalidArgument, match="only 2 CPUs available"):
        gen(ctx=dataclasses.replace(CTX, host_cpus=2), cpus=4.0)


# ---- volumes, tmpfs, binds --------------------------------------------------------------------------------

def test_volumes_and_binds():
    ctx = dataclasses.replace(CTX, volume_sources={"/data": "/vol/data/_data", "/cache": "/vol/anon/_data"})
    spec = gen(ctx=ctx, volumes=(VolumeMount("volume", "/data", "data", True, ("nocopy",)),
                                 VolumeMount("anonymous", "/cache", "anon"),
                                 VolumeMount("bind", "/etc/app/conf.d", "/srv/conf", True),
                                 VolumeMount("bind", "/src", "/home/u/src", False, ("bind", "z"))))
    assert mount(spec, "/data").source == "/vol/data/_data" and mount(spec, "/data").options == ["rbind", "ro"]
    assert mount(spec, "/cache").options == ["rbind"]
    assert mount(spec, "/etc/app/conf.d").options == ["rbind", "ro", "rprivate"]
    assert mount(spec, "/src").options == ["bind", "rprivate"]
    assert spec.linux.rootfs_propagation is None
    user = [m.destination for m in spec.mounts[7:]]
    assert user == ["/data", "/cache", "/src", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts", "/etc/app/conf.d"]


@pytest.mark.parametrize("mode, root", [("rshared", "shared"), ("shared", "shared"), ("rslave", "rslave"),
                                        ("private", None)])
def test_bind_propagation_sets_the_root_propagation(mode, root):
    spec = gen(volumes=(VolumeMount("bind", "/mnt", "/host/mnt", False, (mode,)),))
    assert mount(spec, "/mnt").options == ["rbind", mode]
    assert spec.linux.rootfs_propagation == root


def test_image_volumes_become_anonymous_unless_covered():
    image = ContainerConfig(cmd=["sh"], volumes={"/var/lib/db": {}, "/logs": {}})
    opts = RunOptions(image="x", volumes=(VolumeMount("volume", "/logs", "logs"),))
    assert volume_mounts(image, opts) == (VolumeMount("volume", "/logs", "logs"),
                                          VolumeMount("anonymous", "/var/lib/db"))
    ctx = dataclasses.replace(CTX, volume_sources={"/logs": "/v/logs", "/var/lib/db": "/v/anon"})
    spec = generate(image, opts, ctx)
    assert mount(spec, "/var/lib/db").source == "/v/anon"


def test_volume_without_a_prepared_directory():
    with pytest.raises(InvalidArgument, match="no host directory was prepared for volume data at /data"):
        gen(volumes=(VolumeMount("volume", "/data", "data"),))


def test_tmpfs_mounts():
    spec = gen(volumes=(VolumeMount("tmpfs", "/run", options=("size=64m", "mode=1777")),
                        VolumeMount("tmpfs", "/scratch", readonly=True, options=("exec",))))
    run = mount(spec, "/run")
    assert (run.type, run.source) == ("tmpfs", "tmpfs")
    assert run.options == ["noexec", "nosuid", "nodev", "rprivate", "size=64m", "mode=1777"]
    assert mount(spec, "/scratch").options == ["nosuid", "nodev", "rprivate", "exec", "ro"]


def test_user_mounts_replace_defaults():
    spec = gen(volumes=(VolumeMount("tmpfs", "/dev/shm", options=("size=1g",)),
                        VolumeMount("bind", "/etc/hosts", "/my/hosts")))
    assert mount(spec, "/dev/shm").options[-1] == "size=1g"
    assert mount(spec, "/etc/hosts").source == "/my/hosts"
    spec = gen(privileged=True, volumes=(VolumeMount("bind", "/dev", "/dev"),))
    assert not [m for m in spec.mounts if m.destination.startswith("/dev/")]


# ---- namespaces, network, sysctls, devices, init ----------------------------------------------------------

def test_network_modes():
    joined = gen(ctx=dataclasses.replace(CTX, netns_path="/run/netns/v-1")).linux.namespace("network")
    assert joined.path == "/run/netns/v-1"
    assert gen(network="none").linux.namespace("network").path is None
    host = gen(network="host")
    assert host.linux.namespace("network") is None and host.linux.sysctl == {}
    assert host.linux.namespace("uts") is not None
    other = gen(ctx=dataclasses.replace(CTX, netns_path="/proc/42/ns/net"), network="container:db")
    assert other.linux.namespace("network").path == "/proc/42/ns/net" and other.linux.sysctl == {}
    with pytest.raises(InvalidArgument, match="needs that container's network namespace"):
        gen(network="container:db")


def test_cgroup_namespace_only_on_v2():
    assert gen(ctx=dataclasses.replace(CTX, cgroup_v2=False)).linux.namespace("cgroup") is None
    assert gen().linux.namespace("cgroup") is not None


def test_sysctls_merge_over_dockers_defaults():
    spec = gen(sysctls={"net.ipv4.ip_unprivileged_port_start": "1024", "kernel.shmmax": "1"})
    assert spec.linux.sysctl == {"net.ipv4.ping_group_range": "0 2147483647",
                                 "net.ipv4.ip_unprivileged_port_start": "1024", "kernel.shmmax": "1"}
    assert gen(ctx=dataclasses.replace(CTX, default_sysctls=False)).linux.sysctl == {}


def test_hostname_domainname():
    spec = gen(hostname="web", domainname="example.com")
    assert (spec.hostname, spec.domainname) == ("web", "example.com")
    assert gen(ctx=dataclasses.replace(CTX, hostname="hosty"), network="host").hostname == "hosty"


def test_devices():
    host = {"/dev/fuse": Device(type="c", path="/dev/fuse", major=10, minor=229, file_mode=0o666, uid=0, gid=0),
            "/dev/snd/pcm0": Device(type="c", path="/dev/snd/pcm0", major=116, minor=2, file_mode=0o660, uid=0,
                                    gid=29),
            "/dev/snd/timer": Device(type="c", path="/dev/snd/timer", major=116, minor=33, file_mode=0o660, uid=0,
                                     gid=29)}
    spec = gen(ctx=dataclasses.replace(CTX, host_devices=host), devices=("/dev/fuse:/dev/f:rw", "/dev/snd"))
    assert [(d.path, d.major, d.minor) for d in spec.linux.devices] == [
        ("/dev/f", 10, 229), ("/dev/snd/pcm0", 116, 2), ("/dev/snd/timer", 116, 33)]
    rules = spec.linux.resources.devices
    assert rules[:len(DEFAULT_DEVICE_RULES)] == list(DEFAULT_DEVICE_RULES)
    assert rules[len(DEFAULT_DEVICE_RULES):] == [DeviceRule(True, "c", 10, 229, "rw"),
                                                 DeviceRule(True, "c", 116, 2, "rwm"),
                                                 DeviceRule(True, "c", 116, 33, "rwm")]
    with pytest.raises(NotFound, match='adding custom device "/dev/nope"'):
        gen(devices=("/dev/nope",))


def test_init():
    spec = gen(ctx=dataclasses.replace(CTX, init_path="/usr/bin/tini-static"), init=True, command=("sleep", "1"))
    assert spec.process.args == [INIT_IN_CONTAINER, "--", "sleep", "1"]
    init = mount(spec, INIT_IN_CONTAINER)
    assert (init.source, init.type, init.options) == ("/usr/bin/tini-static", "bind", ["bind", "ro"])
    assert spec.mounts.index(init) == 7  # after Docker's defaults, before user mounts
    with pytest.raises(Unsupported, match="--init needs an init binary"):
        gen(init=True)


def test_invalid_hostname_and_options_are_refused():
    with pytest.raises(InvalidArgument, match="invalid hostname format"):
        gen(hostname="no_underscores")
    with pytest.raises(InvalidArgument, match="Minimum memory limit"):
        gen(memory=1)


def test_warnings():
    opts = RunOptions(image="x", network="host", publish=(PortSpec("", 80, 80),))
    assert create_warnings(opts, CTX) == ["Published ports are discarded when using host network mode"]
    assert create_warnings(RunOptions(image="x"), CTX) == []


# ---- host device helpers (read-only look at this machine's /dev) ------------------------------------------

def test_scan_host_devices_sees_dev_null_and_skips_pts():
    devs = scan_host_devices()
    null = devs["/dev/null"]
    assert (null.type, null.major, null.minor) == ("c", 1, 3)
    assert not [p for p in devs if p.startswith(("/dev/pts/", "/dev/shm/"))]
    assert "/dev/console" not in devs and "/dev/ptmx" not in devs


def test_stat_devices():
    assert stat_devices(["/dev/null:/dev/n:r"]) == {"/dev/null": scan_host_devices()["/dev/null"]}
    assert stat_devices(["/dev/does-not-exist"]) == {}
