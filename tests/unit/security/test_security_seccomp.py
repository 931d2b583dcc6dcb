"""Seccomp planning (pure) and compiling through libseccomp (no root, nothing loaded)."""

from __future__ import annotations

import errno
import tempfile

import pytest

from vessel.errors import InvalidArgument, Unsupported
from vessel.oci.spec import Seccomp, SeccompArg, SeccompSyscall
from vessel.runtime import seccomp as sc

pytestmark = pytest.mark.unit


def rule(names, action="SCMP_ACT_ERRNO", errno_ret=None, args=()):
    return SeccompSyscall(names=list(names), action=action, errno_ret=errno_ret, args=list(args))


def pfc(flt) -> str:
    with tempfile.TemporaryFile("w+") as fh:
        flt.export_pfc(fh)
        fh.seek(0)
        return fh.read()


def test_actions_and_errno_defaults():
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[
        rule(["mkdir"]), rule(["rmdir"], errno_ret=errno.ENOSYS), rule(["kill"], "SCMP_ACT_KILL"),
        rule(["tkill"], "SCMP_ACT_KILL_PROCESS"), rule(["tgkill"], "SCMP_ACT_KILL_THREAD"),
        rule(["uname"], "SCMP_ACT_TRAP"), rule(["chdir"], "SCMP_ACT_TRACE"), rule(["getcwd"], "SCMP_ACT_LOG"),
    ])
    got = {r.syscall: r.action for r in sc.plan(spec).rules}
    assert got == {
        "mkdir": sc.Action("ERRNO", errno.EPERM), "rmdir": sc.Action("ERRNO", errno.ENOSYS),
        "kill": sc.Action("KILL_THREAD"), "tkill": sc.Action("KILL_PROCESS"), "tgkill": sc.Action("KILL_THREAD"),
        "uname": sc.Action("TRAP"), "chdir": sc.Action("TRACE", errno.EPERM), "getcwd": sc.Action("LOG"),
    }


def test_default_errno_ret():
    plan = sc.plan(Seccomp("SCMP_ACT_ERRNO", default_errno_ret=errno.ENOSYS))
    assert plan.default == sc.Action("ERRNO", errno.ENOSYS)
    assert sc.plan(Seccomp("SCMP_ACT_ERRNO")).default == sc.Action("ERRNO", errno.EPERM)


def test_rules_equal_to_the_default_are_dropped():
    spec = Seccomp("SCMP_ACT_ERRNO", syscalls=[rule(["mkdir"]), rule(["clone3"], errno_ret=38),
                                              rule(["read"], "SCMP_ACT_ALLOW")])
    assert [r.syscall for r in sc.plan(spec).rules] == ["clone3", "read"]


def test_conditions_on_distinct_args_are_anded_on_one_rule():
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["socket"], args=[
        SeccompArg(0, 1, "SCMP_CMP_EQ"), SeccompArg(1, 0xF, "SCMP_CMP_MASKED_EQ", 2)])])
    (only,) = sc.plan(spec).rules
    assert only.conditions == (sc.Condition(0, "EQ", 1), sc.Condition(1, "MASKED_EQ", 0xF, 2))


def test_the_same_arg_twice_splits_into_one_rule_per_condition():
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["personality", "uname"], args=[
        SeccompArg(0, 8, "SCMP_CMP_EQ"), SeccompArg(0, 16, "SCMP_CMP_EQ"), SeccompArg(1, 3, "SCMP_CMP_GE")])])
    rules = sc.plan(spec).rules
    assert len(rules) == 6
    assert [r.conditions for r in rules if r.syscall == "personality"] == [
        (sc.Condition(0, "EQ", 8),), (sc.Condition(0, "EQ", 16),), (sc.Condition(1, "GE", 3),)]


def test_all_operators():
    ops = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
           "SCMP_CMP_MASKED_EQ"]
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["read"], args=[SeccompArg(i, 1, op)]) for i, op in
                                               enumerate(ops[:6])] + [rule(["write"], args=[SeccompArg(0, 1, ops[6])])])
    assert [r.conditions[0].op for r in sc.plan(spec).rules] == ["NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"]


@pytest.mark.parametrize("spec, word", [
    (Seccomp("SCMP_ACT_NOPE"), "SCMP_ACT_NOPE"),
    (Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["read"], "SCMP_ACT_MAYBE")]), "SCMP_ACT_MAYBE"),
    (Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["read"], args=[SeccompArg(0, 1, "SCMP_CMP_ABOUT")])]),
     "SCMP_CMP_ABOUT"),
    (Seccomp("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_Z80"]), "SCMP_ARCH_Z80"),
    (Seccomp("SCMP_ACT_ALLOW", flags=["SECCOMP_FILTER_FLAG_FAST"]), "SECCOMP_FILTER_FLAG_FAST"),
    (Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["read"], args=[SeccompArg(6, 1, "SCMP_CMP_EQ")])]), "index 6"),
    (Seccomp("SCMP_ACT_ALLOW", syscalls=[rule([])]), "names"),
    (Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["read"], errno_ret=70000)]), "70000"),
])
def test_invalid_names_are_named(spec, word):
    with pytest.raises(InvalidArgument) as info:
        sc.plan(spec)
    assert word in str(info.value)


def test_notify_is_unsupported():
    with pytest.raises(Unsupported, match="SCMP_ACT_NOTIFY"):
        sc.plan(Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["mkdir"], "SCMP_ACT_NOTIFY")]))
    with pytest.raises(Unsupported, match="listenerPath"):
        sc.plan(Seccomp("SCMP_ACT_ALLOW", listener_path="/run/agent.sock"))


def test_architectures_and_flags():
    spec = Seccomp("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                                                    "SCMP_ARCH_X86", "SCMP_ARCH_LOONGARCH64"],
                   flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                          "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    plan = sc.plan(spec)
    assert plan.architectures == ("X86_64", "X86", "X32")
    assert plan.attributes == ("CTL_TSYNC", "CTL_LOG", "CTL_SSB")
    assert any("LOONGARCH64" in w for w in plan.warnings)
    assert any("WAIT_KILLABLE_RECV" in w for w in plan.warnings)


def test_compile_adds_architectures_and_attributes():
    import seccomp

    spec = Seccomp("SCMP_ACT_ERRNO", architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
                   flags=["SECCOMP_FILTER_FLAG_LOG"], syscalls=[rule(["read", "write"], "SCMP_ACT_ALLOW")])
    flt = sc.compile_filter(spec)
    for arch in (seccomp.Arch.X86_64, seccomp.Arch.X86, seccomp.Arch.AARCH64):
        assert flt.exist_arch(arch)
    assert not flt.exist_arch(seccomp.Arch.S390X)
    assert flt.get_attr(seccomp.Attr.CTL_LOG) == 1
    assert flt.get_attr(seccomp.Attr.CTL_NNP) == 0  # noNewPrivileges is the runtime's decision
    assert flt.get_attr(seccomp.Attr.ACT_DEFAULT) == seccomp.ERRNO(errno.EPERM)


def test_compile_skips_unknown_syscalls_with_a_warning():
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["mkdir", "not_a_syscall_2049", "rmdir"])])
    warnings: list[str] = []
    text = pfc(sc.compile_filter(spec, warnings))
    assert warnings == ["seccomp: syscall 'not_a_syscall_2049' is unknown to this libseccomp/kernel; rule skipped"]
    assert '"mkdir"' in text and '"rmdir"' in text


def test_compiled_conditions_and_errno():
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[
        rule(["personality"], errno_ret=errno.EACCES, args=[SeccompArg(0, 8, "SCMP_CMP_EQ")]),
        rule(["socket"], args=[SeccompArg(1, 0xF, "SCMP_CMP_MASKED_EQ", 2)]),
    ])
    text = pfc(sc.compile_filter(spec))
    assert "ERRNO(13)" in text and "== 8" in text
    assert "& 0x0000000f" in text and "== 2" in text


def test_the_default_profile_compiles_without_warnings():
    from vessel.oci.defaults import default_seccomp

    warnings: list[str] = []
    text = pfc(sc.compile_filter(default_seccomp(), warnings))
    assert warnings == []
    assert '"execve"' in text and '"mount"' not in text
    assert "ERRNO(38)" in text  # clone3 -> ENOSYS so that glibc falls back to clone


def test_cache_key_follows_the_plan():
    one = sc.plan(Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["mkdir"])]))
    same = sc.plan(Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["mkdir"])]))
    other = sc.plan(Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["mkdir"], errno_ret=errno.EACCES)]))
    assert sc._cache_key(one) == sc._cache_key(same) != sc._cache_key(other)
    assert len(sc._cache_key(one)) == 64


def test_cache_directory_must_be_private(tmp_path):
    notes: list[str] = []
    tmp_path.chmod(0o700)
    assert sc._trusted(tmp_path, notes) and notes == []
    tmp_path.chmod(0o777)
    assert not sc._trusted(tmp_path, notes) and "writable by others" in notes[0]
    assert not sc._trusted(tmp_path / "missing", notes)


def test_cached_program_is_what_libseccomp_generates(tmp_path):
    spec = Seccomp("SCMP_ACT_ALLOW", syscalls=[rule(["mkdir", "not_a_syscall_2049"])])
    filter_plan = sc.plan(spec)
    path = tmp_path / "x.bpf"
    warnings, program = sc._cached_program(filter_plan, path)
    with tempfile.TemporaryFile() as fh:
        sc.compile_filter(spec).export_bpf(fh)
        fh.seek(0)
        assert program == fh.read()
    assert len(warnings) == 1 and "not_a_syscall_2049" in warnings[0]
    assert sc._cached_program(filter_plan, path) == (warnings, program)  # read back from the file
