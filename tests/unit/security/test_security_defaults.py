"""Docker's defaults and `runc spec`'s example (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vessel.oci import defaults
from vessel.oci.spec import parse_spec
from vessel.runtime.linux import caps

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent
KERNEL = (6, 1)


def allowed(profile) -> set[str]:
    """Syscalls allowed without any argument condition."""
    return {n for s in profile.syscalls if s.action == "SCMP_ACT_ALLOW" and not s.args for n in s.names}


def rules_for(profile, name):
    return [s for s in profile.syscalls if name in s.names]


def test_docker_capabilities():
    assert len(defaults.DEFAULT_CAPS) == 14 == len(set(defaults.DEFAULT_CAPS))
    assert caps.mask(defaults.DEFAULT_CAPS) == 0xA80425FB  # Docker's CapBnd inside a default container
    assert "CAP_SYS_ADMIN" not in defaults.DEFAULT_CAPS and "CAP_NET_RAW" in defaults.DEFAULT_CAPS


def test_masked_and_readonly_paths():
    assert "/proc/kcore" in defaults.MASKED_PATHS and "/sys/firmware" in defaults.MASKED_PATHS
    assert "/proc/sys" in defaults.READONLY_PATHS and "/proc/sysrq-trigger" in defaults.READONLY_PATHS
    assert not set(defaults.MASKED_PATHS) & set(defaults.READONLY_PATHS)
    assert all(p.startswith(("/proc/", "/sys/")) for p in defaults.MASKED_PATHS + defaults.READONLY_PATHS)


def test_default_mounts():
    mounts = {m.destination: m for m in defaults.default_mounts()}
    assert list(mounts) == ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]
    assert mounts["/dev/pts"].options == ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
    assert "ro" in mounts["/sys"].options and "ro" in mounts["/sys/fs/cgroup"].options
    assert "size=67108864" in mounts["/dev/shm"].options
    assert "size=1048576" in defaults.default_mounts(shm_size=1 << 20)[-1].options
    assert defaults.DEFAULT_ENV_PATH == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_default_profile_for_docker_caps_on_amd64():
    profile = defaults.default_seccomp(arch="amd64", kernel=KERNEL)
    assert profile.default_action == "SCMP_ACT_ERRNO" and profile.default_errno_ret == 1
    assert profile.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    ok = allowed(profile)
    assert {"read", "execve", "mkdir", "chroot", "arch_prctl", "ptrace", "fchmodat2"} <= ok
    assert not {"mount", "umount2", "unshare", "setns", "reboot", "bpf", "kexec_load", "clone"} & ok
    (clone,) = rules_for(profile, "clone")
    assert clone.args[0].op == "SCMP_CMP_MASKED_EQ" and clone.args[0].index == 0
    assert clone.args[0].value == 0x7E020000  # the CLONE_NEW* flags must be clear
    (clone3,) = rules_for(profile, "clone3")
    assert (clone3.action, clone3.errno_ret) == ("SCMP_ACT_ERRNO", 38)
    (socket,) = rules_for(profile, "socket")
    assert (socket.args[0].op, socket.args[0].value) == ("SCMP_CMP_NE", 40)  # AF_VSOCK
    assert len(rules_for(profile, "personality")) == 5


def test_cap_sys_admin_unlocks_mount_and_clone():
    profile = defaults.default_seccomp({*defaults.DEFAULT_CAPS, "CAP_SYS_ADMIN"}, arch="amd64", kernel=KERNEL)
    ok = allowed(profile)
    assert {"mount", "umount2", "unshare", "setns", "clone", "clone3"} <= ok
    assert all(not s.args for s in rules_for(profile, "clone"))
    assert all(s.action == "SCMP_ACT_ALLOW" for s in rules_for(profile, "clone3"))


@pytest.mark.parametrize("cap, syscall", [("CAP_SYS_BOOT", "reboot"), ("CAP_SYS_MODULE", "init_module"),
                                          ("CAP_SYS_TIME", "settimeofday"), ("CAP_SYS_NICE", "mbind"),
                                          ("CAP_DAC_READ_SEARCH", "open_by_handle_at"), ("CAP_BPF", "bpf"),
                                          ("CAP_PERFMON", "perf_event_open"), ("CAP_SYS_RAWIO", "iopl")])
def test_capability_conditioned_rules(cap, syscall):
    assert syscall not in allowed(defaults.default_seccomp(arch="amd64", kernel=KERNEL))
    assert syscall in allowed(defaults.default_seccomp({cap}, arch="amd64", kernel=KERNEL))


def test_other_architectures_and_kernels():
    arm = defaults.default_seccomp(arch="arm64", kernel=KERNEL)
    assert arm.architectures == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert {"set_tls", "cacheflush"} <= allowed(arm) and "arch_prctl" not in allowed(arm)
    s390 = defaults.default_seccomp(arch="s390x", kernel=KERNEL)
    (clone,) = rules_for(s390, "clone")
    assert clone.args[0].index == 1
    old = defaults.default_seccomp(arch="amd64", kernel="4.4.0-generic")
    assert "ptrace" not in allowed(old)
    assert "ptrace" in allowed(defaults.default_seccomp({"CAP_SYS_PTRACE"}, arch="amd64", kernel="4.4.0"))
    assert defaults.host_arch("x86_64") == "amd64" and defaults.host_arch("aarch64") == "arm64"


def test_resolve_profile_checks_its_input():
    from vessel.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="archMap"):
        defaults.resolve_profile({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
                                  "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, set())
    with pytest.raises(InvalidArgument, match="defaultAction"):
        defaults.resolve_profile({"syscalls": []}, set())
    single = defaults.resolve_profile({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                       "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO"}]}, set(),
                                      kernel=KERNEL)
    assert single.syscalls[0].names == ["mkdir"] and single.architectures == ["SCMP_ARCH_X86_64"]


def test_example_spec_is_what_runc_spec_writes():
    assert defaults.example_spec().to_json() == json.loads((HERE / "runc_spec.json").read_text())
    rootless = defaults.example_spec(rootless=True, uid=0, gid=0).to_json()
    assert rootless == json.loads((HERE / "runc_spec_rootless.json").read_text())
    assert defaults.example_spec(rootless=True, uid=1000, gid=100).linux.uid_mappings[0].host_id == 1000
    parse_spec(defaults.example_spec().to_json())  # valid by our own checks
