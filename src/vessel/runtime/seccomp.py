"""`linux.seccomp` of an OCI spec -> a libseccomp filter, loaded into this process.

Two steps, as runc's libcontainer/seccomp does them:

* `plan(spec)` (pure, no libseccomp): check every action, operator,
  architecture and flag name, resolve each action's errno, drop rules whose
  action equals the default action (libseccomp refuses them), and split a rule
  whose conditions name the same argument index twice into one rule per
  condition (runc's "old behaviour": such conditions are ORed, all others on
  one rule are ANDed).  Unit-tested without root.
* `compile_filter(spec)` builds a `seccomp.SyscallFilter` from the plan with
  Debian's libseccomp binding (python3-seccomp); `load(spec)` also loads it.
  Syscall names that this libseccomp does not know are skipped with a warning
  (profiles name syscalls newer than the kernel or the library).

Ordering, for the runtime's init (same rule as runc's standard_init_linux.go):
loading a filter needs either no_new_privs or CAP_SYS_ADMIN.  The filter is
loaded with libseccomp's own NO_NEW_PRIVS attribute off, so that
`process.noNewPrivileges` alone decides it:

* noNewPrivileges true: set PR_SET_NO_NEW_PRIVS, apply user and capabilities,
  then `load()` as the very last step before execve;
* noNewPrivileges false: `load()` *before* setuid and `caps.apply()`, while
  CAP_SYS_ADMIN is still effective; otherwise the kernel answers EACCES and
  `load()` raises SystemFailure saying so.

Whatever runs after `load()` (setuid, capset, prctl, execve...) is subject to
the filter: a profile must allow them (Docker's does).  That is the profile's
business, not the runtime's.  SCMP_ACT_NOTIFY (seccomp user notification,
`listenerPath`) is not implemented: it raises Unsupported.

`seccomp` (the binding) is imported inside the functions: this module is on
the runtime's start-up path and most containers have no filter.  libseccomp
takes ~15 ms to turn Docker's profile into BPF; `load(spec, cache_dir=...)`
keeps the generated program and loads it with seccomp(2) directly next time
(~4 ms, no libseccomp at all), as crun does.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vessel.errors import InvalidArgument, SystemFailure, Unsupported
from vessel.oci.spec import Seccomp, SeccompSyscall
from vessel.runtime.linux import libc

if TYPE_CHECKING:  # pragma: no cover
    import seccomp as _binding

# OCI action name -> canonical action (SCMP_ACT_KILL is libseccomp's KILL_THREAD)
ACTIONS = {
    "SCMP_ACT_KILL": "KILL_THREAD",
    "SCMP_ACT_KILL_THREAD": "KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS": "KILL_PROCESS",
    "SCMP_ACT_TRAP": "TRAP",
    "SCMP_ACT_ERRNO": "ERRNO",
    "SCMP_ACT_TRACE": "TRACE",
    "SCMP_ACT_ALLOW": "ALLOW",
    "SCMP_ACT_LOG": "LOG",
    "SCMP_ACT_NOTIFY": "NOTIFY",
}
# OCI operator -> attribute of the binding
OPS = {
    "SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE", "SCMP_CMP_EQ": "EQ",
    "SCMP_CMP_GE": "GE", "SCMP_CMP_GT": "GT", "SCMP_CMP_MASKED_EQ": "MASKED_EQ",
}
# OCI architecture -> attribute of seccomp.Arch (None: valid in the spec, unknown to libseccomp 2.5)
ARCHES = {
    "SCMP_ARCH_X86": "X86", "SCMP_ARCH_X86_64": "X86_64", "SCMP_ARCH_X32": "X32",
    "SCMP_ARCH_ARM": "ARM", "SCMP_ARCH_AARCH64": "AARCH64",
    "SCMP_ARCH_MIPS": "MIPS", "SCMP_ARCH_MIPS64": "MIPS64", "SCMP_ARCH_MIPS64N32": "MIPS64N32",
    "SCMP_ARCH_MIPSEL": "MIPSEL", "SCMP_ARCH_MIPSEL64": "MIPSEL64", "SCMP_ARCH_MIPSEL64N32": "MIPSEL64N32",
    "SCMP_ARCH_PPC": "PPC", "SCMP_ARCH_PPC64": "PPC64", "SCMP_ARCH_PPC64LE": "PPC64LE",
    "SCMP_ARCH_S390": "S390", "SCMP_ARCH_S390X": "S390X",
    "SCMP_ARCH_PARISC": "PARISC", "SCMP_ARCH_PARISC64": "PARISC64",
    "SCMP_ARCH_RISCV64": "RISCV64", "SCMP_ARCH_LOONGARCH64": None, "SCMP_ARCH_M68K": None,
    "SCMP_ARCH_SH": None, "SCMP_ARCH_SHEB": None,
}
# seccomp(2) flag -> filter attribute of the binding (None: not settable through libseccomp 2.5)
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": "CTL_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG": "CTL_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": "CTL_SSB",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": None,
}
MAX_ARGS = 6
_NR_SCMP_ERROR = -1  # what seccomp_syscall_resolve_name answers for an unknown name


@dataclass(frozen=True, slots=True)
class Condition:
    index: int
    op: str  # attribute name in the binding: "EQ", "MASKED_EQ", ...
    value: int
    value_two: int = 0


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # canonical: ALLOW, ERRNO, KILL_THREAD, ...
    errno: int | None = None  # ERRNO and TRACE only


@dataclass(frozen=True, slots=True)
class Rule:
    syscall: str
    action: Action
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class FilterPlan:
    default: Action
    architectures: tuple[str, ...]  # binding Arch attribute names
    attributes: tuple[str, ...]  # binding Attr names to set to 1
    rules: tuple[Rule, ...]
    warnings: tuple[str, ...] = ()


def _action(name: str, errno_ret: int | None, where: str) -> Action:
    kind = ACTIONS.get(name)
    if kind is None:
        raise InvalidArgument(f"{where}: unknown seccomp action {name!r}", value=name,
                              hint=f"known actions: {', '.join(ACTIONS)}")
    if kind == "NOTIFY":
        raise Unsupported(f"{where}: seccomp action {name} (user notification, listenerPath) is not supported "
                          "by vessel-runtime", value=name, hint="use SCMP_ACT_ERRNO or SCMP_ACT_TRACE instead")
    if kind in ("ERRNO", "TRACE"):
        ret = _errno.EPERM if errno_ret is None else errno_ret
        if not 0 <= ret <= 0xFFFF:
            raise InvalidArgument(f"{where}: errno {ret} for {name} is outside 0..65535", value=ret)
        return Action(kind, ret)
    return Action(kind)


def _condition(arg, where: str) -> Condition:
    op = OPS.get(arg.op)
    if op is None:
        raise InvalidArgument(f"{where}: unknown seccomp operator {arg.op!r}", value=arg.op,
                              hint=f"known operators: {', '.join(OPS)}")
    if not 0 <= arg.index < MAX_ARGS:
        raise InvalidArgument(f"{where}: argument index {arg.index} is outside 0..{MAX_ARGS - 1}", value=arg.index)
    for value in (arg.value, arg.value_two or 0):
        if not 0 <= value < 1 << 64:
            raise InvalidArgument(f"{where}: value {value} is not an unsigned 64-bit integer", value=value)
    return Condition(arg.index, op, arg.value, arg.value_two or 0)


def _rules(call: SeccompSyscall, where: str, default: Action) -> list[Rule]:
    if not call.names:
        raise InvalidArgument(f"{where}.names must name at least one syscall")
    action = _action(call.action, call.errno_ret, where)
    if action == default:  # libseccomp refuses a rule equal to the default (runc skips it too)
        return []
    conds = [_condition(arg, f"{where}.args[{i}]") for i, arg in enumerate(call.args)]
    indexes = [c.index for c in conds]
    if len(set(indexes)) < len(indexes):  # same argument twice: one rule per condition (ORed), as runc
        groups = [(c,) for c in conds]
    else:
        groups = [tuple(conds)]
    return [Rule(name, action, group) for name in call.names for group in groups]


def plan(spec: Seccomp) -> FilterPlan:
    """Check and normalise a spec's seccomp section (pure; no libseccomp)."""
    warnings: list[str] = []
    default = _action(spec.default_action, spec.default_errno_ret, "linux.seccomp.defaultAction")
    arches: list[str] = []
    for name in spec.architectures:
        if name not in ARCHES:
            raise InvalidArgument(f"linux.seccomp.architectures: unknown architecture {name!r}", value=name,
                                  hint=f"known architectures: {', '.join(ARCHES)}")
        attr = ARCHES[name]
        if attr is None:
            warnings.append(f"seccomp architecture {name} is not supported by this libseccomp; skipped")
        elif attr not in arches:
            arches.append(attr)
    attributes: list[str] = []
    for flag in spec.flags:
        if flag not in FLAGS:
            raise InvalidArgument(f"linux.seccomp.flags: unknown flag {flag!r}", value=flag,
                                  hint=f"known flags: {', '.join(FLAGS)}")
        if FLAGS[flag] is None:
            warnings.append(f"seccomp flag {flag} is not supported by this libseccomp; ignored")
        elif FLAGS[flag] not in attributes:
            attributes.append(FLAGS[flag])
    if spec.listener_path:
        raise Unsupported(f"linux.seccomp.listenerPath {spec.listener_path!r}: seccomp user notification is not "
                          "supported by vessel-runtime", path=spec.listener_path)
    rules: list[Rule] = []
    for i, call in enumerate(spec.syscalls):
        rules.extend(_rules(call, f"linux.seccomp.syscalls[{i}]", default))
    return FilterPlan(default, tuple(arches), tuple(attributes), tuple(rules), tuple(warnings))


def _binding_action(binding: "_binding", action: Action) -> int:
    if action.kind == "ERRNO":
        return binding.ERRNO(action.errno)
    if action.kind == "TRACE":
        return binding.TRACE(action.errno)
    if action.kind == "KILL_THREAD":
        return binding.KILL
    return getattr(binding, action.kind)


def _library_errno(err: Exception) -> int | None:
    """The errno in the binding's "Library error (errno = -22)" messages."""
    if isinstance(err, OSError) and err.errno:
        return err.errno
    match = re.search(r"errno = -?(\d+)", str(err))
    return int(match.group(1)) if match else None


def _reason(code: int | None, err: Exception) -> str:
    if not code:
        return str(err)
    return f"{_errno.errorcode.get(code, code)} ({os.strerror(code)})"


def _describe(rule: Rule) -> str:
    conds = " && ".join(f"arg{c.index} {c.op} {c.value:#x}" + (f"/{c.value_two:#x}" if c.op == "MASKED_EQ" else "")
                        for c in rule.conditions)
    errno = f"({rule.action.errno})" if rule.action.errno is not None else ""
    return f"{rule.syscall} -> {rule.action.kind}{errno}" + (f" if {conds}" if conds else "")


def build(filter_plan: FilterPlan, warnings: list[str] | None = None) -> "_binding.SyscallFilter":
    """A libseccomp filter from a plan; unknown syscall names are skipped with a warning."""
    import seccomp as binding

    notes = warnings if warnings is not None else []
    notes.extend(filter_plan.warnings)
    flt = binding.SyscallFilter(_binding_action(binding, filter_plan.default))
    flt.set_attr(binding.Attr.CTL_NNP, 0)  # noNewPrivileges is the runtime's decision, not libseccomp's
    flt.set_attr(binding.Attr.API_SYSRAWRC, 1)  # the kernel's errno on load, not a blanket ECANCELED
    for attr in filter_plan.attributes:
        flt.set_attr(getattr(binding.Attr, attr), 1)
    for name in filter_plan.architectures:
        arch = getattr(binding.Arch, name)
        if not flt.exist_arch(arch):
            flt.add_arch(arch)
    unknown: set[str] = set()
    for rule in filter_plan.rules:
        if rule.syscall in unknown:
            continue
        if binding.resolve_syscall(binding.Arch.NATIVE, rule.syscall) == _NR_SCMP_ERROR:
            unknown.add(rule.syscall)
            notes.append(f"seccomp: syscall {rule.syscall!r} is unknown to this libseccomp/kernel; rule skipped")
            continue
        args = [binding.Arg(c.index, getattr(binding, c.op), c.value, c.value_two) for c in rule.conditions]
        try:
            flt.add_rule(_binding_action(binding, rule.action), rule.syscall, *args)
        except (RuntimeError, OSError, ValueError) as err:
            code = _library_errno(err)
            raise InvalidArgument(f"seccomp rule {_describe(rule)} was refused by libseccomp: {_reason(code, err)}",
                                  syscall=rule.syscall) from None
    return flt


def compile_filter(spec: Seccomp, warnings: list[str] | None = None) -> "_binding.SyscallFilter":
    """Compile `linux.seccomp` into a `seccomp.SyscallFilter` (not loaded); warnings go to `warnings`."""
    return build(plan(spec), warnings)


def _kernel_call(call) -> None:
    """Run a filter load, turning the kernel's refusal into a SystemFailure with a hint."""
    try:
        call()
    except (RuntimeError, OSError, ValueError) as err:
        code = _library_errno(err)
        hint = None
        if code == _errno.EACCES:
            hint = ("loading a seccomp filter needs no_new_privs or CAP_SYS_ADMIN: with noNewPrivileges false, "
                    "load it before setuid and dropping capabilities")
        elif code == _errno.EINVAL:
            hint = "the kernel refused the filter: check the flags and the architectures"
        raise SystemFailure(f"loading the seccomp filter failed: {_reason(code, err)}", hint=hint,
                            errno=code) from None


def load(spec: Seccomp, *, cache_dir: Path | None = None) -> list[str]:
    """Compile and load the filter into the calling process; returns the warnings.

    See the module docstring for where in the init sequence to call it.  With
    `cache_dir` (a directory owned by the runtime's user, writable by nobody
    else, e.g. under the runtime's --root), the generated BPF program is kept
    there, keyed by the plan, the libseccomp build and the kernel, and later
    loads of the same profile skip libseccomp (Docker's profile: ~12 ms ->
    ~1 ms).  A cache directory that others could write is not used (warning).
    """
    filter_plan = plan(spec)
    nr = _SECCOMP_NR.get(os.uname().machine)
    notes: list[str] = []
    if cache_dir is not None and nr is not None and _trusted(cache_dir, notes):
        warnings, program = _cached_program(filter_plan, cache_dir / f"{_cache_key(filter_plan)}.bpf")
        flags = sum(_FLAG_BITS[attr] for attr in filter_plan.attributes)
        _kernel_call(lambda: _load_program(nr, flags, program))
        return notes + warnings
    warnings = notes
    flt = build(filter_plan, warnings)
    _kernel_call(flt.load)
    return warnings


# ---- compiled-program cache -----------------------------------------------------------------------------

_SECCOMP_NR = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "i686": 354, "i386": 354, "s390x": 348,
               "ppc64le": 358, "armv7l": 383}  # seccomp(2)
_SECCOMP_SET_MODE_FILTER = 1
_FLAG_BITS = {"CTL_TSYNC": 1, "CTL_LOG": 2, "CTL_SSB": 4}  # SECCOMP_FILTER_FLAG_*


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _trusted(directory: Path, notes: list[str]) -> bool:
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        return False
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        notes.append(f"seccomp cache {directory} is not owned by uid {os.geteuid()} or is writable by others; "
                     "not used")
        return False
    return True


def _cache_key(filter_plan: FilterPlan) -> str:
    import importlib.machinery  # lighter than importlib.util

    try:
        from _sha256 import sha256  # CPython 3.11's builtin: ~0.05 ms to import against ~3 ms for hashlib
    except ImportError:  # pragma: no cover - other interpreters
        from hashlib import sha256
    spec = importlib.machinery.PathFinder.find_spec("seccomp")
    origin = spec.origin if spec and spec.origin else "?"
    try:
        st = os.stat(origin)  # the binding is rebuilt with every libseccomp package update
        build_id = f"{origin}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        build_id = origin
    text = f"{filter_plan!r}|{build_id}|{os.uname().release}|{os.uname().machine}"
    return sha256(text.encode()).hexdigest()


def _cached_program(filter_plan: FilterPlan, path: Path) -> tuple[list[str], bytes]:
    """(warnings, BPF program) from the cache file `path`, generating and storing it on a miss."""
    import json

    try:
        header, _, program = path.read_bytes().partition(b"\n")
        return json.loads(header), program
    except (FileNotFoundError, ValueError):
        pass
    warnings: list[str] = []
    flt = build(filter_plan, warnings)
    import tempfile

    with tempfile.TemporaryFile() as out:
        flt.export_bpf(out)
        out.seek(0)
        program = out.read()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(json.dumps(warnings).encode() + b"\n" + program)
    os.replace(tmp, path)
    return list(warnings), program


def _load_program(nr: int, flags: int, program: bytes) -> None:
    if not program or len(program) % 8:
        raise InvalidArgument(f"seccomp program of {len(program)} bytes is not a whole number of BPF instructions")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    res = libc.libc().syscall(ctypes.c_long(nr), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags),
                              ctypes.byref(prog))
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
