"""docker run/create flags -> RunOptions: each value parser, the argparse layout, and docker's cross-field checks."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex

import pytest

from vessel.engine import flags
from vessel.engine.flags import (DeviceMapping, SecurityOpts, add_run_flags, check_sysctl, merge_tmpfs_options,
                                 options_from_args, parse_add_host, parse_cpus, parse_device, parse_env_file,
                                 parse_label_file, parse_memory_swap, parse_mount, parse_publish, parse_restart,
                                 parse_security_opts, parse_size, parse_tmpfs, parse_ulimit, parse_volume)
from vessel.engine.options import PortSpec, RestartPolicy, RunOptions, Ulimit, VolumeMount
from vessel.errors import InvalidArgument, NotFound, Unsupported

pytestmark = pytest.mark.unit

V = VolumeMount
MiB = 1 << 20
FILES = {"/cfg/env": "# comment\n\nA=1\n  B= spaced \nFROM_CALLER\nNOT_SET\n",
         "/cfg/labels": "team=core\nsolo\n",
         "/cfg/seccomp.json": '{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n'}


def read(path: str) -> str:
    try:
        return FILES[path]
    except KeyError:
        raise FileNotFoundError(2, "No such file or directory", path) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vessel run")
    add_run_flags(p)
    return p


def opts_of(line: str) -> RunOptions:
    args = parser().parse_args(shlex.split(line))
    return options_from_args(args, environ={"FROM_CALLER": "yes", "HOME": "/root"}, read_text=read, cwd="/home/u")


# ---- sizes, numbers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("64m", 64 * MiB), ("64M", 64 * MiB), ("1g", 1 << 30), ("512", 512), ("1.5k", 1536), ("2MiB", 2 * MiB),
    ("10 MB", 10 * MiB), ("1b", 1), ("0", 0), ("1t", 1 << 40),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1", "1.2.3", "m", "", "1x", "64mm"])
def test_parse_size_rejects(text):
    with pytest.raises(InvalidArgument) as err:
        parse_size(text, "--memory")
    assert f"invalid size: '{text}'" in err.value.message
    assert err.value.hint


def test_memory_swap_takes_minus_one():
    assert parse_memory_swap("-1") == -1
    assert parse_memory_swap("1g") == 1 << 30


@pytest.mark.parametrize("text, expected", [("0.5", 0.5), ("2", 2.0), ("1/2", 0.5), ("0.000000001", 1e-9)])
def test_parse_cpus(text, expected):
    assert parse_cpus(text) == expected


@pytest.mark.parametrize("text, reason", [("lots", "failed to parse lots as a rational number"),
                                          ("0.0000000001", "value is too precise")])
def test_parse_cpus_rejects(text, reason):
    with pytest.raises(InvalidArgument, match=reason):
        parse_cpus(text)


# ---- volumes, mounts, tmpfs -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("/data", V("anonymous", "/data")),
    ("data:/data", V("volume", "/data", "data")),
    ("data:/data:ro", V("volume", "/data", "data", True)),
    ("data:/data:nocopy", V("volume", "/data", "data", False, ("nocopy",))),
    ("/host:/ctr", V("bind", "/ctr", "/host")),
    ("/host/:/ctr/sub/:rw", V("bind", "/ctr/sub", "/host")),
    ("/host:/ctr:ro,Z,rshared", V("bind", "/ctr", "/host", True, ("Z", "rshared"))),
    ("/host:/ctr:cached", V("bind", "/ctr", "/host")),
    ("./site:/usr/share/html", V("bind", "/usr/share/html", "/home/u/site")),
    ("../x:/x", V("bind", "/x", "/home/x")),
])
def test_parse_volume(text, expected):
    assert parse_volume(text, cwd="/home/u") == expected


@pytest.mark.parametrize("text, message", [
    ("data:/data:rw,ro", "invalid mode: rw,ro"),
    ("/h:/c:nocopy", "invalid mode: nocopy"),
    ("data:/c:rshared", "invalid mode: rshared"),
    ("/h:/c:bogus", "invalid mode: bogus"),
    ("data:relative", "mount path must be absolute"),
    ("data:/", "destination can't be '/'"),
    ("bad name!:/d", "includes invalid characters for a local volume name"),
    ("a:/b:ro:x", "invalid volume specification: 'a:/b:ro:x'"),
    (":/x", "invalid volume specification"),
    ("data::ro", "invalid volume specification"),
    ("relative", "mount path must be absolute"),
])
def test_parse_volume_rejects(text, message):
    with pytest.raises(InvalidArgument) as err:
        parse_volume(text)
    assert message in err.value.message


@pytest.mark.parametrize("text, expected", [
    ("type=bind,source=/h,target=/c,readonly", V("bind", "/c", "/h", True)),
    ("type=bind,src=/h,dst=/c,ro=1,bind-propagation=rslave", V("bind", "/c", "/h", True, ("rslave",))),
    ("type=bind,source=/h,destination=/c,readonly=false,bind-recursive=disabled", V("bind", "/c", "/h", False,
                                                                                     ("bind",))),
    ("type=volume,source=data,target=/data,volume-nocopy", V("volume", "/data", "data", False, ("nocopy",))),
    ("target=/cache", V("anonymous", "/cache")),
    ("type=tmpfs,target=/run,tmpfs-size=64m,tmpfs-mode=1777", V("tmpfs", "/run", "", False,
                                                                ("size=64m", "mode=1777"))),
    ("type=tmpfs,target=/t,tmpfs-size=1000", V("tmpfs", "/t", "", False, ("size=1000",))),
    ('type=bind,"source=/h,x",target=/c', V("bind", "/c", "/h,x")),
    ("type=bind,source=./rel,target=/c", V("bind", "/c", "/home/u/rel")),
])
def test_parse_mount(text, expected):
    assert parse_mount(text, cwd="/home/u") == expected


@pytest.mark.parametrize("text, message", [
    ("type=bind,source=/h", "target is required"),
    ("type=bind,target=/c", "field Source must not be empty"),
    ("type=tmpfs,source=x,target=/c", "field Source must not be specified"),
    ("type=bind,source=/h,target=/c,color=blue", "unexpected key 'color'"),
    ("type=bind,source=/h,target=/c,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'"),
    ("type=volume,target=/c,bind-propagation=shared", "cannot mix 'bind-*' options with mount type 'volume'"),
    ("type=npipe,source=x,target=/c", "invalid mount type: 'npipe'"),
    ("type=bind,source=/h,target=/c,bind-propagation=weird", "invalid value for bind-propagation: weird"),
    ("type=bind,source=/h,target=/c,readonly=maybe", "invalid value for readonly: maybe"),
    ("type=tmpfs,target=/c,tmpfs-mode=999", "invalid value for tmpfs-mode: 999"),
    ("type=bind,source", "invalid field 'source' must be a key=value pair"),
    ("type=volume,source=bad!,target=/c", "includes invalid characters"),
    ("type=bind,source=relative,target=/c", "invalid mount path: 'relative' mount path must be absolute"),
])
def test_parse_mount_rejects(text, message):
    with pytest.raises(InvalidArgument) as err:
        parse_mount(text)
    assert message in err.value.message


@pytest.mark.parametrize("text, expected", [
    ("/run:size=64m,mode=1777", V("tmpfs", "/run", "", False, ("size=64m", "mode=1777"))),
    ("/run", V("tmpfs", "/run")),
    ("/run:ro,size=1m", V("tmpfs", "/run", "", True, ("ro", "size=1m"))),
    ("/run:ro,rw", V("tmpfs", "/run", "", False, ("ro", "rw"))),
    ("/run:exec,uid=1000", V("tmpfs", "/run", "", False, ("exec", "uid=1000"))),
])
def test_parse_tmpfs(text, expected):
    assert parse_tmpfs(text) == expected


@pytest.mark.parametrize("text, message", [("run", "must be absolute"), ("/run:bogus", "invalid tmpfs option"),
                                           ("/run:color=red", "invalid tmpfs option")])
def test_parse_tmpfs_rejects(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_tmpfs(text)


def test_merge_tmpfs_options_last_wins_per_flag_and_key():
    merged = merge_tmpfs_options(["noexec", "nosuid", "nodev", "rprivate", "exec", "size=1m", "rshared", "size=2m"])
    assert merged == ["nosuid", "nodev", "exec", "rshared", "size=2m"]


# ---- ulimits, restart, env and label files ----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("nofile=1024:2048", Ulimit("nofile", 1024, 2048)), ("nofile=1024", Ulimit("nofile", 1024, 1024)),
    ("core=-1", Ulimit("core", -1, -1)), ("nproc=10:-1", Ulimit("nproc", 10, -1)),
])
def test_parse_ulimit(text, expected):
    assert parse_ulimit(text) == expected


@pytest.mark.parametrize("text, message", [
    ("nofile", "invalid ulimit argument: nofile"), ("files=1", "invalid ulimit type: files"),
    ("nofile=2:1", "soft limit must be less than or equal to hard limit: 2 > 1"),
    ("nofile=a", "invalid ulimit argument"), ("nofile=-1:10", "soft limit must be less than"),
])
def test_parse_ulimit_rejects(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_ulimit(text)


@pytest.mark.parametrize("text, expected", [
    ("no", RestartPolicy()), ("", RestartPolicy()), ("always", RestartPolicy("always")),
    ("unless-stopped", RestartPolicy("unless-stopped")), ("on-failure", RestartPolicy("on-failure")),
    ("on-failure:3", RestartPolicy("on-failure", 3)),
])
def test_parse_restart(text, expected):
    assert parse_restart(text) == expected


@pytest.mark.parametrize("text, message", [
    ("sometimes", "unknown policy 'sometimes'"), ("always:3", "can only be used with 'on-failure'"),
    ("on-failure:x", "maximum retry count must be an integer"), ("on-failure:-1", "cannot be negative"),
])
def test_parse_restart_rejects(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_restart(text)


def test_env_file_rules():
    text = "\ufeff# comment\n\n  A=1\nB= spaced value \nC=\nFROM_CALLER\nNOT_SET\nD=x=y\n"
    assert parse_env_file(text, {"FROM_CALLER": "yes"}) == ["A=1", "B= spaced value ", "C=", "FROM_CALLER=yes",
                                                            "D=x=y"]


@pytest.mark.parametrize("text, message", [("A B=1\n", "variable 'A B' contains whitespaces"),
                                           ("=x\n", "no variable name on line '=x'")])
def test_env_file_rejects(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_env_file(text, {})


def test_label_file():
    assert parse_label_file("# x\na=1\nsolo\n") == ["a=1", "solo="]


# ---- security, ports, devices, hosts, sysctls -------------------------------------------------------------

@pytest.mark.parametrize("values, expected", [
    (["seccomp=unconfined"], SecurityOpts("unconfined")),
    (["seccomp=builtin"], SecurityOpts(None)),
    (["seccomp:unconfined"], SecurityOpts("unconfined")),
    (["no-new-privileges"], SecurityOpts(None, True)),
    (["no-new-privileges:true"], SecurityOpts(None, True)),
    (["no-new-privileges=false"], SecurityOpts(None, False)),
    (["label=disable", "apparmor=unconfined"], SecurityOpts()),
    (["seccomp=/cfg/seccomp.json"], SecurityOpts('{"defaultAction":"SCMP_ACT_ALLOW"}')),
    (['seccomp={"defaultAction": "SCMP_ACT_LOG"}'], SecurityOpts('{"defaultAction": "SCMP_ACT_LOG"}')),
])
def test_security_opts(values, expected):
    assert parse_security_opts(values, read) == expected


@pytest.mark.parametrize("values, error, message", [
    (["seccomp"], InvalidArgument, 'Invalid --security-opt: "seccomp"'),
    (["bogus=1"], InvalidArgument, 'invalid --security-opt 2: "bogus=1"'),
    (["no-new-privileges=maybe"], InvalidArgument, "invalid --security-opt 2"),
    (["seccomp=/missing.json"], NotFound, r"opening seccomp profile \(/missing.json\) failed"),
])
def test_security_opts_reject(values, error, message):
    with pytest.raises(error, match=message):
        parse_security_opts(values, read)


def test_security_opts_from_the_api_never_read_files():
    with pytest.raises(InvalidArgument, match="neither 'unconfined' nor a JSON profile"):
        parse_security_opts(["seccomp=/cfg/seccomp.json"], None)


def test_security_opts_reject_a_file_that_is_not_json():
    FILES["/cfg/bad.json"] = "{nope"
    with pytest.raises(InvalidArgument, match="compacting json for seccomp profile"):
        parse_security_opts(["seccomp=/cfg/bad.json"], read)


@pytest.mark.parametrize("text, expected", [
    ("8080:80", (PortSpec("", 8080, 80),)),
    ("80", (PortSpec("", 0, 80),)),
    ("127.0.0.1:8000-8001:80-81/udp", (PortSpec("127.0.0.1", 8000, 80, "udp"), PortSpec("127.0.0.1", 8001, 81, "udp"))),
    ("8000-8010:80", (PortSpec("", 8000, 80, "tcp", 8010),)),
])
def test_parse_publish(text, expected):
    assert parse_publish(text) == expected


def test_parse_publish_rejects():
    with pytest.raises(InvalidArgument):
        parse_publish("70000:80")
    with pytest.raises(Unsupported):
        parse_publish("80/sctp")


@pytest.mark.parametrize("text, expected", [
    ("/dev/fuse", DeviceMapping("/dev/fuse", "/dev/fuse")),
    ("/dev/sda:/dev/xvda", DeviceMapping("/dev/sda", "/dev/xvda")),
    ("/dev/sda:r", DeviceMapping("/dev/sda", "/dev/sda", "r")),
    ("/dev/sda:/dev/xvda:rw", DeviceMapping("/dev/sda", "/dev/xvda", "rw")),
])
def test_parse_device(text, expected):
    assert parse_device(text) == expected


@pytest.mark.parametrize("text, message", [("/dev/a:/dev/b:rwx", "bad mode specified: rwx"),
                                           ("dev/a", "dev/a is not an absolute path"),
                                           ("/a:/b:r:x", "invalid device specification")])
def test_parse_device_rejects(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_device(text)


@pytest.mark.parametrize("text, expected", [("db:10.0.0.7", "db:10.0.0.7"), ("db=10.0.0.7", "db:10.0.0.7"),
                                            ("gw:host-gateway", "gw:host-gateway"), ("v6=[::1]", "v6:::1")])
def test_parse_add_host(text, expected):
    assert parse_add_host(text) == expected


@pytest.mark.parametrize("text, message", [("db", "bad format for add-host"), ("db:notip", "invalid IP address")])
def test_parse_add_host_rejects(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_add_host(text)


def test_check_sysctl_allows_namespaced_only():
    for name in ("net.ipv4.ip_forward", "kernel.shmmax", "fs.mqueue.msg_max", "kernel.sem"):
        check_sysctl(name)
    with pytest.raises(InvalidArgument, match="sysctl 'kernel.pid_max' is not allowed"):
        check_sysctl("kernel.pid_max")
    with pytest.raises(InvalidArgument, match="not allowed in host network namespace"):
        check_sysctl("net.ipv4.ip_forward", "host")


# ---- argparse layout --------------------------------------------------------------------------------------

def test_command_keeps_its_own_flags():
    args = parser().parse_args(shlex.split("-it --rm busybox sh -c 'echo hi' --rm -v x"))
    assert (args.interactive, args.tty, args.rm, args.image) == (True, True, True, "busybox")
    assert args.command == ["sh", "-c", "echo hi", "--rm", "-v", "x"]


@pytest.mark.parametrize("line, field, value", [
    ("-h myhost busybox", "hostname", "myhost"),
    ("--net host busybox", "network", "host"),
    ("--network=none busybox", "network", "none"),
    ("-c 512 busybox", "cpu_shares", "512"),
    ("-p8080:80 busybox", "publish", ["8080:80"]),
    ("-dit busybox", "detach", True),
    ("-u 1000:1000 busybox", "user", "1000:1000"),
    ("-l a=1 --label b busybox", "label", ["a=1", "b"]),
    ("-P busybox", "publish_all", True),
    ("-w /srv busybox", "workdir", "/srv"),
    ("-m 64m busybox", "memory", "64m"),
    ("-e A=1 --env B=2 busybox", "env", ["A=1", "B=2"]),
])
def test_short_and_long_forms(line, field, value):
    assert getattr(parser().parse_args(shlex.split(line)), field) == value


def test_help_still_works_without_dash_h():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        parser().parse_args(["--help"])
    assert done.value.code == 0
    assert "--hostname" in out.getvalue() and "--cap-add" in out.getvalue()


def test_every_flag_of_the_issue_is_declared():
    p = parser()
    declared = set(p._option_string_actions)
    wanted = ("-d -i -t --rm --name -e --env --env-file -w --workdir -u --user --entrypoint -h --hostname --domainname "
              "-v --volume --mount --tmpfs --read-only -m --memory --memory-reservation --memory-swap --cpus "
              "--cpu-shares -c --cpu-period --cpu-quota --cpuset-cpus --cpuset-mems --pids-limit --ulimit "
              "--oom-kill-disable --oom-score-adj --shm-size --cap-add --cap-drop --privileged --security-opt "
              "--device --sysctl --restart --stop-signal --stop-timeout -l --label --label-file --init --network --net "
              "--network-alias -p --publish -P --publish-all --ip --mac-address --dns --dns-search --dns-option "
              "--add-host --runtime --isolation").split()
    assert set(wanted) <= declared


# ---- whole command lines ----------------------------------------------------------------------------------

def test_defaults():
    opts = opts_of("busybox")
    assert opts == RunOptions(image="busybox")


def test_issue_example():
    opts = opts_of("-d --name web -v data:/data --memory 64m --cpus 0.5 --pids-limit 100 busybox "
                   "sh -c 'while true; do date >> /data/log; sleep 1; done'")
    assert opts.detach and opts.name == "web"
    assert opts.volumes == (V("volume", "/data", "data"),)
    assert (opts.memory, opts.cpus, opts.pids_limit) == (64 * MiB, 0.5, 100)
    assert opts.command == ("sh", "-c", "while true; do date >> /data/log; sleep 1; done")


def test_env_order_and_caller_environment():
    opts = opts_of("--env-file /cfg/env -e A=2 -e FROM_CALLER -e UNSET_HERE busybox")
    assert opts.env == ("A=1", "B= spaced ", "FROM_CALLER=yes", "A=2", "FROM_CALLER=yes", "UNSET_HERE")


def test_labels_from_file_then_flags():
    assert opts_of("--label-file /cfg/labels -l team=edge -l x busybox").labels == {"team": "edge", "solo": "",
                                                                                   "x": ""}


def test_missing_env_file():
    with pytest.raises(NotFound, match="open /cfg/none: no such file or directory"):
        opts_of("--env-file /cfg/none busybox")


@pytest.mark.parametrize("line, field, value", [
    ("--entrypoint '' busybox", "entrypoint", ()),
    ("--entrypoint /bin/env busybox", "entrypoint", ("/bin/env",)),
    ("--entrypoint 'a b' busybox", "entrypoint", ("a b",)),
    ("--ulimit nofile=10:20 --ulimit nofile=30 busybox", "ulimits", (Ulimit("nofile", 30, 30),)),
    ("--security-opt seccomp=/cfg/seccomp.json busybox", "seccomp_profile", '{"defaultAction":"SCMP_ACT_ALLOW"}'),
    ("--security-opt no-new-privileges busybox", "no_new_privileges", True),
    ("--memory-swap -1 -m 64m busybox", "memory_swap", -1),
    ("--shm-size 1g busybox", "shm_size", 1 << 30),
    ("--restart on-failure:5 busybox", "restart", RestartPolicy("on-failure", 5)),
    ("--tmpfs /run:size=1m --mount type=tmpfs,target=/t busybox", "volumes",
     (V("tmpfs", "/t"), V("tmpfs", "/run", "", False, ("size=1m",)))),
    ("--sysctl net.core.somaxconn=1024 busybox", "sysctls", {"net.core.somaxconn": "1024"}),
    ("--device /dev/fuse busybox", "devices", ("/dev/fuse",)),
    ("--add-host db=10.0.0.7 --dns 1.1.1.1 --dns-search example.com --dns-option ndots:2 busybox", "extra_hosts",
     ("db:10.0.0.7",)),
    ("--dns 1.1.1.1 busybox", "dns", ("1.1.1.1",)),
    ("--cap-add net_admin --cap-drop CAP_CHOWN busybox", "cap_add", ("net_admin",)),
    ("--network default busybox", "network", "bridge"),
    ("--stop-signal SIGINT --stop-timeout 3 busybox", "stop_timeout", 3),
    ("--oom-score-adj -500 --oom-kill-disable -m 64m busybox", "oom_score_adj", -500),
    ("-p 8080:80 -p 53:53/udp busybox", "publish", (PortSpec("", 8080, 80), PortSpec("", 53, 53, "udp"))),
    ("--isolation vm --runtime crun busybox", "runtime", "crun"),
    ("--ip 10.88.0.9 --mac-address 02:42:ac:11:00:02 busybox", "ip", "10.88.0.9"),
    ("--cpuset-cpus 0-1 --cpuset-mems 0 --cpu-shares 512 busybox", "cpuset_cpus", "0-1"),
    ("--cpu-period 50000 --cpu-quota 25000 busybox", "cpu_quota", 25000),
])
def test_flag_to_option(line, field, value):
    assert getattr(opts_of(line), field) == value


def test_mount_order_is_v_then_mount_then_tmpfs():
    opts = opts_of("--tmpfs /t -v /h:/b --mount type=volume,source=vol,target=/v busybox")
    assert [v.target for v in opts.volumes] == ["/b", "/v", "/t"]


@pytest.mark.parametrize("line, message", [
    ("--memory lots busybox", "invalid size: 'lots'"),
    ("--memory 1m busybox", "Minimum memory limit allowed is 6MB"),
    ("--memory-swap 1g busybox", "You should always set the Memory limit when using Memoryswap limit"),
    ("-m 64m --memory-swap 32m busybox", "Minimum memoryswap limit should be larger than memory limit"),
    ("-m 64m --memory-reservation 128m busybox", "can not be less than memory reservation limit"),
    ("--memory-reservation 1m busybox", "Minimum memory reservation allowed is 6MB"),
    ("--cpus 1 --cpu-period 1000 busybox", "Nano CPUs and CPU Period cannot both be set"),
    ("--cpus 1 --cpu-quota 1000 busybox", "Nano CPUs and CPU Quota cannot both be set"),
    ("--cpus -1 busybox", "Range of CPUs is from 0.01"),
    ("--cpu-period 10 busybox", "CPU cfs period can not be less than 1ms"),
    ("--cpu-quota 10 busybox", "CPU cfs quota can not be less than 1ms"),
    ("--cpu-shares -5 busybox", "invalid CPU shares"),
    ("--oom-score-adj 2000 busybox", "range for oom score adj is [-1000, 1000]"),
    ("--restart always --rm busybox", "Conflicting options: --restart and --rm"),
    ("--name a busybox", "Invalid container name (a)"),
    ("--name 'bad name' busybox", "Invalid container name (bad name)"),
    ("-w relative busybox", "the working directory 'relative' is invalid"),
    ("--network container:db -h x busybox", "conflicting options: hostname and the network mode"),
    ("--network container:db -p 80 busybox", "conflicting options: port publishing and the network mode"),
    ("--sysctl kernel.pid_max=1 busybox", "sysctl 'kernel.pid_max' is not allowed"),
    ("--network host --sysctl net.core.somaxconn=1 busybox", "not allowed in host network namespace"),
    ("-v /a:/d -v /b:/d busybox", "Duplicate mount point: /d"),
    ("--cpus lots busybox", "failed to parse lots"),
    ("--pids-limit x busybox", 'invalid argument "x" for "--pids-limit" flag'),
    ("--isolation hyperv busybox", "invalid isolation"),
    ("--mac-address zz busybox", "zz is not a valid mac address"),
    ("--dns notanip busybox", "notanip is not an ip address"),
    ("--dns-search=bad..x busybox", "bad..x is not a valid domain"),
    ("-h bad_host busybox", "invalid hostname format: bad_host"),
    ("-e =x busybox", "invalid environment variable: =x"),
    ("--shm-size -1 busybox", "invalid size"),
    ("--sysctl novalue busybox", "invalid sysctl value"),
])
def test_rejected_command_lines(line, message):
    with pytest.raises(InvalidArgument) as err:
        opts_of(line)
    assert message in err.value.message
    assert err.value.hint is None or err.value.hint.strip()


def test_errors_are_one_line_with_hint():
    with pytest.raises(InvalidArgument) as err:
        opts_of("--memory lots busybox")
    assert "\n" not in err.value.message
    assert str(err.value).startswith('invalid argument "lots" for "--memory" flag')
    assert "Hint:" in str(err.value)


def test_validate_options_directly():
    flags.validate_options(RunOptions(image="x", cpus=2.0), host_cpus=2)
    with pytest.raises(InvalidArgument, match="only 2 CPUs available"):
        flags.validate_options(RunOptions(image="x", cpus=3.0), host_cpus=2)
    with pytest.raises(InvalidArgument, match="invalid ulimit type"):
        flags.validate_options(RunOptions(image="x", ulimits=(Ulimit("bogus", 1, 1),)))


def test_seccomp_value_is_compact_json():
    opts = opts_of("--security-opt seccomp=/cfg/seccomp.json busybox")
    assert json.loads(opts.seccomp_profile) == {"defaultAction": "SCMP_ACT_ALLOW"}
