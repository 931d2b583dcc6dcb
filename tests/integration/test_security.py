"""Seccomp filters, capabilities and rlimits against the real kernel (root).

Each test forks a child of the (single-threaded) test process, applies the
restriction there, reports what it saw as JSON through a pipe and leaves with
os._exit: the test process itself is never restricted.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import signal
from pathlib import Path

import pytest

from vessel.errors import InvalidArgument, SystemFailure
from vessel.oci.defaults import DEFAULT_CAPS, default_seccomp
from vessel.oci.spec import Capabilities, Rlimit, Seccomp, SeccompArg, SeccompSyscall
from vessel.runtime import seccomp as sc
from vessel.runtime.linux import caps, libc, rlimits

pytestmark = pytest.mark.integration

NOBODY = 65534
SYS_clone3 = 435
SIGSYS = signal.SIGSYS


def in_child(body, *, timeout: float = 30.0) -> tuple[int, object]:
    """Run `body()` in a forked child; returns (wait status, what it returned, JSON)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(read_fd)
            libc.prctl(libc.PR_SET_DUMPABLE, 0)  # a SIGSYS death leaves no core file behind
            resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
            result = body()
            os.write(write_fd, json.dumps({"ok": result}).encode())
        except BaseException as err:  # report everything to the parent, whatever it is
            os.write(write_fd, json.dumps({"error": type(err).__name__, "message": str(err),
                                           "hint": getattr(err, "hint", None)}).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    with os.fdopen(read_fd, "rb") as reader:
        while chunk := reader.read(65536):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    return status, (json.loads(data) if data else None)


def ok(status: int, report) -> object:
    assert report is not None and "ok" in report, f"child failed: {report} (status {status:#x})"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return report["ok"]


def try_errno(call) -> int:
    """0 if call() worked, else its errno."""
    try:
        call()
    except OSError as err:
        return err.errno
    return 0


def private_mount_ns() -> None:
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)


def rule(names, action="SCMP_ACT_ERRNO", errno_ret=None, args=()):
    return SeccompSyscall(names=list(names), action=action, errno_ret=errno_ret, args=list(args))


# ---- seccomp --------------------------------------------------------------------------------------------


def test_errno_rule_denies_mkdir_and_nothing_else(tmp_path):
    spec = Seccomp("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                   syscalls=[rule(["mkdir", "mkdirat"]), rule(["rmdir"], errno_ret=errno.ENOSYS)])
    (tmp_path / "existing").mkdir()

    def body():
        warnings = sc.load(spec)
        return {"warnings": warnings, "mkdir": try_errno(lambda: os.mkdir(tmp_path / "new")),
                "rmdir": try_errno(lambda: os.rmdir(tmp_path / "existing")),
                "write": try_errno(lambda: (tmp_path / "file").write_text("still works")),
                "pid": os.getpid() > 0}

    got = ok(*in_child(body))
    assert got == {"warnings": [], "mkdir": errno.EPERM, "rmdir": errno.ENOSYS, "write": 0, "pid": True}
    assert not (tmp_path / "new").exists() and (tmp_path / "existing").is_dir()
    assert (tmp_path / "file").read_text() == "still works"


def test_argument_conditions():
    personality = libc.libc().personality
    personality.restype = ctypes.c_int
    ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC = 0x0040000, 0x0400000
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[
        # the same argument twice: either value is denied (runc splits the rule)
        rule(["personality"], errno_ret=errno.EACCES,
             args=[SeccompArg(0, ADDR_NO_RANDOMIZE, "SCMP_CMP_EQ"), SeccompArg(0, READ_IMPLIES_EXEC, "SCMP_CMP_EQ")]),
        # (type & 0xf) == SOCK_DGRAM, on AF_UNIX only: both conditions must hold
        rule(["socket"], args=[SeccompArg(0, 1, "SCMP_CMP_EQ"), SeccompArg(1, 0xF, "SCMP_CMP_MASKED_EQ", 2)]),
    ])

    def call(persona):
        res = personality(ctypes.c_ulong(persona))
        return 0 if res != -1 else ctypes.get_errno()

    def sock(family, kind):
        def make():
            import socket
            socket.socket(family, kind).close()
        return try_errno(make)

    def body():
        import socket

        sc.load(spec)
        return {"query": call(0xFFFFFFFF), "no_randomize": call(ADDR_NO_RANDOMIZE),
                "implies_exec": call(READ_IMPLIES_EXEC), "linux": call(0),
                "unix_dgram": sock(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC),
                "unix_stream": sock(socket.AF_UNIX, socket.SOCK_STREAM),
                "inet_dgram": sock(socket.AF_INET, socket.SOCK_DGRAM)}

    got = ok(*in_child(body))
    assert got == {"query": 0, "no_randomize": errno.EACCES, "implies_exec": errno.EACCES, "linux": 0,
                   "unix_dgram": errno.EPERM, "unix_stream": 0, "inet_dgram": 0}


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"])
def test_kill_and_trap_actions_end_the_process_with_sigsys(action):
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["getppid"], action)])

    def body():
        sc.load(spec)
        os.getppid()
        return "survived"

    status, report = in_child(body)
    assert report is None
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == SIGSYS


def spawn_status() -> int:
    """Exit code of `sh -c 'exit 7'` started by posix_spawn (glibc tries clone3, then clone on ENOSYS)."""
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 7"], {})
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_docker_default_profile(tmp_path):
    profile = default_seccomp()  # Docker's capabilities: no CAP_SYS_ADMIN

    def body():
        private_mount_ns()  # belt and braces: a mount that got through would stay in this namespace
        warnings = sc.load(profile)
        clone3 = libc.libc().syscall(ctypes.c_long(SYS_clone3), None, ctypes.c_size_t(0))
        clone3 = ctypes.get_errno() if clone3 == -1 else 0  # before another ctypes call overwrites errno
        return {
            "warnings": warnings,
            "mkdir": try_errno(lambda: os.mkdir(tmp_path / "d")),
            "mount": try_errno(lambda: libc.mount("tmpfs", str(tmp_path), "tmpfs")),
            "unshare": try_errno(lambda: libc.unshare(libc.CLONE_NEWUTS)),
            "clone3": clone3,
            "spawn": spawn_status(),
        }

    got = ok(*in_child(body))
    assert got == {"warnings": [], "mkdir": 0, "mount": errno.EPERM, "unshare": errno.EPERM,
                   "clone3": errno.ENOSYS, "spawn": 7}


def test_loading_after_the_user_switch_needs_no_new_privs():
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["mkdir", "mkdirat"])])

    def body():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        try:
            sc.load(spec)
            first = None
        except SystemFailure as err:
            first = [str(err.message), err.hint]
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
        sc.load(spec)
        return {"first": first, "mkdir": try_errno(lambda: os.mkdir("/tmp/vessel-never-made"))}

    got = ok(*in_child(body))
    assert got["first"] is not None and "EACCES" in got["first"][0]
    assert "before setuid" in got["first"][1]
    assert got["mkdir"] == errno.EPERM


def test_a_cached_program_filters_the_same(tmp_path):
    cache = tmp_path / "seccomp-cache"
    cache.mkdir(mode=0o700)
    spec = Seccomp("SCMP_ACT_ALLOW", flags=["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                   syscalls=[rule(["mkdir", "mkdirat", "not_a_syscall_2049"], errno_ret=errno.EROFS)])

    def body():
        warnings = sc.load(spec, cache_dir=cache)
        return {"warnings": len(warnings), "mkdir": try_errno(lambda: os.mkdir(tmp_path / "no")),
                "write": try_errno(lambda: (tmp_path / "yes").write_text("ok"))}

    first = ok(*in_child(body))  # miss: libseccomp generates and stores the program
    assert len(list(cache.iterdir())) == 1
    second = ok(*in_child(body))  # hit: loaded with seccomp(2) directly
    assert first == second == {"warnings": 1, "mkdir": errno.EROFS, "write": 0}

    cache.chmod(0o777)  # anyone could plant a filter here: not used
    got = ok(*in_child(lambda: sc.load(spec, cache_dir=cache)))
    assert any("writable by others" in w for w in got)


# ---- capabilities ---------------------------------------------------------------------------------------


def test_dropped_capabilities_make_mount_fail(tmp_path):
    docker = list(DEFAULT_CAPS)

    def control():
        private_mount_ns()
        libc.mount("tmpfs", str(tmp_path), "tmpfs")
        libc.umount2(str(tmp_path))
        return "mounted"

    def body():
        private_mount_ns()
        warnings = caps.apply(Capabilities(bounding=docker, effective=docker, permitted=docker, inheritable=docker))
        return {"warnings": warnings, "sets": caps.current(),
                "mount": try_errno(lambda: libc.mount("tmpfs", str(tmp_path), "tmpfs"))}

    assert ok(*in_child(control)) == "mounted"  # the same mount works with all capabilities
    got = ok(*in_child(body))
    want = caps.mask(docker)
    assert got["warnings"] == []
    assert got["sets"] == {"inheritable": want, "permitted": want, "effective": want, "bounding": want, "ambient": 0}
    assert got["mount"] == errno.EPERM


def test_ambient_capabilities_survive_execve_for_a_non_root_user():
    keep = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    spec = Capabilities(bounding=[*keep, "CAP_CHOWN"], effective=[*keep, "CAP_CHOWN"],
                        permitted=[*keep, "CAP_CHOWN"], inheritable=keep, ambient=keep)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            os.dup2(write_fd, 1)
            libc.prctl(libc.PR_SET_KEEPCAPS, 1)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            libc.prctl(libc.PR_SET_KEEPCAPS, 0)
            caps.apply(spec)
            os.execv("/bin/cat", ["cat", "/proc/self/status"])
        finally:
            os._exit(127)
    os.close(write_fd)
    with os.fdopen(read_fd) as reader:
        status_text = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status_text
    sets = caps.parse_status(status_text)
    assert "Uid:\t65534" in status_text
    assert sets["ambient"] == caps.mask(keep)
    assert sets["effective"] == sets["permitted"] == caps.mask(keep)  # CAP_CHOWN was not ambient: gone
    assert sets["inheritable"] == caps.mask(keep)
    assert sets["bounding"] == caps.mask([*keep, "CAP_CHOWN"])


# ---- rlimits --------------------------------------------------------------------------------------------


def test_rlimits_are_applied_and_read_back():
    host_core_hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    wanted = [Rlimit("RLIMIT_NOFILE", 1024, 512), Rlimit("RLIMIT_NPROC", 4096, 2048),
              Rlimit("RLIMIT_CORE", host_core_hard if host_core_hard >= 0 else rlimits.RLIM_INFINITY, 0)]

    def body():
        rlimits.apply(wanted)
        return {name: list(resource.getrlimit(getattr(resource, name)))
                for name in ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE")}

    got = ok(*in_child(body))
    assert got == {"RLIMIT_NOFILE": [512, 1024], "RLIMIT_NPROC": [2048, 4096], "RLIMIT_CORE": [0, host_core_hard]}


def test_a_hard_limit_above_the_host_is_a_clear_error_and_nothing_is_set():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.fail("this host has no hard limit on RLIMIT_NOFILE; the test needs one")
    too_high = hard + 1

    def body():
        before = resource.getrlimit(resource.RLIMIT_STACK)
        try:
            rlimits.apply([Rlimit("RLIMIT_STACK", before[1], 1 << 20), Rlimit("RLIMIT_NOFILE", too_high, 1024)],
                          can_raise=False)
        except InvalidArgument as err:
            return {"message": err.message, "hint": err.hint,
                    "stack_unchanged": resource.getrlimit(resource.RLIMIT_STACK) == before}
        return "applied"

    got = ok(*in_child(body))
    assert f"RLIMIT_NOFILE: hard limit {too_high} is above the host's hard limit {hard}" in got["message"]
    assert f"the host's hard limit for RLIMIT_NOFILE is {hard}" in got["hint"]
    assert got["stack_unchanged"] is True


def test_the_kernel_refusing_a_limit_is_a_clear_error():
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())  # never allowed, whatever the capabilities

    def body():
        try:
            rlimits.apply([Rlimit("RLIMIT_NOFILE", nr_open + 1, 1024)], can_raise=True)
        except SystemFailure as err:
            return {"message": err.message, "hint": err.hint}
        return "applied"

    got = ok(*in_child(body))
    assert f"setting RLIMIT_NOFILE to soft 1024 hard {nr_open + 1} failed" in got["message"]
    assert "nr_open" in got["hint"]


def test_an_unknown_capability_changes_nothing():
    def body():
        before = caps.current()
        try:
            caps.apply(Capabilities(bounding=["CAP_NOT_A_CAP"]))
        except InvalidArgument as err:
            return {"message": err.message, "unchanged": caps.current() == before}
        return "applied"

    got = ok(*in_child(body))
    assert got == {"message": "unknown capability 'CAP_NOT_A_CAP'", "unchanged": True}
