"""One instruction + the stage's state -> one expanded step.

The stage state is what Docker's frontend tracks while it walks a stage: the
build environment used for expansion and for RUN (image ENV and ARG values,
the later definition winning), the working directory, the user, the
declared ARGs and the image config.  Instructions Docker expands (ENV, ADD,
COPY, WORKDIR, EXPOSE, VOLUME, USER, LABEL, STOPSIGNAL, ARG and ONBUILD
triggers when they fire) are expanded here; RUN, CMD and ENTRYPOINT are not:
their shell does it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from vessel.build import instructions as ins
from vessel.build import steps as s
from vessel.build import values
from vessel.build.config import ImageConfig, apply_step
from vessel.build.errors import DockerfileError, ExpansionError
from vessel.build.expand import Lexer
from vessel.build.mounts import parse_mount, resolve_mount
from vessel.build.parser import parse_heredoc

PROXY_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
_GIT_URL = re.compile(r"^(?:git://|ssh://|git@[^:/]+:|https?://[^#]+\.git(?:#.*)?$)")
_RAW_LEXER = Lexer("\\", skip_process_quotes=True)


@dataclass
class StageState:
    """Mutable while one stage is planned; frozen into a StagePlan at the end."""

    config: ImageConfig
    env: dict[str, str]
    workdir: str = "/"
    user: str = ""
    args: list[tuple[str, str | None]] = field(default_factory=list)
    cmd_set: bool = False


@dataclass
class Context:
    """What stays the same across a build: lexer, args, how to name stages."""

    file: str
    lexer: Lexer
    build_args: dict[str, str]
    global_args: dict[str, str]
    resolve_from: Callable[[str, int], tuple[int | None, str | None]]
    excluded: Callable[[str], bool] | None = None
    used_args: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def _fail(ctx: Context, line: int, reason: str, hint: str | None = None) -> DockerfileError:
    return DockerfileError(ctx.file, line, reason, hint=hint)


def word(ctx: Context, st: StageState, text: str, line: int) -> str:
    try:
        return ctx.lexer.process_word(text, st.env)
    except ExpansionError as err:
        raise _fail(ctx, line, err.message, err.hint) from None


def words(ctx: Context, st: StageState, text: str, line: int) -> list[str]:
    try:
        return ctx.lexer.process_words(text, st.env)
    except ExpansionError as err:
        raise _fail(ctx, line, err.message, err.hint) from None


def dispatch(instr: ins.Instr, st: StageState, ctx: Context, index: int, trigger: bool, loc: s.Location) -> s.Step:
    """Plan one instruction; updates ``st`` (env, workdir, user, config) and returns its step."""
    common = {"loc": loc, "original": instr.original, "trigger": trigger}
    handler = _HANDLERS[type(instr)]
    try:
        step = handler(instr, st, ctx, index, common)
    except ValueError as err:
        raise _fail(ctx, loc.line, str(err)) from None
    st.config = apply_step(st.config, step)
    return step


def _env(instr: ins.EnvInstr, st: StageState, ctx: Context, _i: int, common: dict) -> s.Step:
    # every word is expanded before any is set: ``ENV a=bye b=$a`` gives b the old a
    pairs = [(word(ctx, st, key, instr.line), word(ctx, st, value, instr.line)) for key, value in instr.pairs]
    for key, value in pairs:
        if key == "":
            raise ValueError("ENV names can not be blank")
        st.env[key] = value
    return s.EnvStep(**common, pairs=tuple(pairs))


def _label(instr: ins.LabelInstr, st: StageState, ctx: Context, _i: int, common: dict) -> s.Step:
    pairs = []
    for key, value in instr.pairs:
        key, value = word(ctx, st, key, instr.line), word(ctx, st, value, instr.line)
        if key == "":
            raise ValueError("LABEL names can not be blank")
        pairs.append((key, value))
    return s.LabelStep(**common, pairs=tuple(pairs))


def _arg(instr: ins.ArgInstr, st: StageState, ctx: Context, _i: int, common: dict) -> s.Step:
    pairs: list[tuple[str, str | None]] = []
    for key, default in instr.pairs:
        value: str | None
        if key in ctx.build_args:
            value = ctx.build_args[key]
        elif default is not None:
            value = word(ctx, st, default, instr.line)
        else:
            value = ctx.global_args.get(key)
        ctx.used_args.add(key)
        if value is not None:
            st.env[key] = value
        st.args.append((key, value))
        pairs.append((key, value))
    return s.ArgStep(**common, pairs=tuple(pairs))


def _run(instr: ins.RunInstr, st: StageState, ctx: Context, index: int, common: dict) -> s.Step:
    args, files = _run_args(instr)
    if instr.json:
        argv = tuple(args)
        if not argv:
            raise ValueError("RUN requires a command: the JSON array is empty")
    else:
        argv = (*st.config.shell_or_default(), " ".join(args))
    mounts = []
    for n, raw in enumerate(instr.mounts):
        mount = parse_mount(raw, lambda v: word(ctx, st, v, instr.line))
        if mount.from_:
            stage, image = ctx.resolve_from(mount.from_, index)
            mount = replace(mount, from_stage=stage, from_image=image)
        mounts.append(resolve_mount(mount, st.workdir, n))
    return s.RunStep(**common, argv=argv, shell_form=not instr.json, env=_env_list(st.env), workdir=st.workdir,
                     user=st.user, mounts=tuple(mounts), network=instr.network or "default",
                     security=instr.security or "sandbox", files=tuple(files), build_args=_run_args_history(st),
                     proxy_env=_proxy_env(ctx.build_args))


def _run_args(instr: ins.RunInstr) -> tuple[list[str], list[s.InlineFile]]:
    """The command as BuildKit rewrites heredocs: a script, a file to run, or shell heredoc text."""
    args = list(instr.cmd)
    if not instr.heredocs:
        return args, []
    if len(args) != 1 or instr.json:
        raise ValueError(f"parsing produced an invalid run command: {args}")
    first = instr.heredocs[0]
    if parse_heredoc(args[0]) is not None:
        data = first.body()
        if data.startswith("#!"):
            return ["/dev/pipes/" + first.name], [s.InlineFile(first.name, data, 0o755)]
        return [data], []
    full = args[0]
    for doc in instr.heredocs:
        full += "\n" + doc.content + doc.name
    return [full], []


def _env_list(env: dict[str, str]) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in env.items())


def _run_args_history(st: StageState) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for key, value in st.args:
        out[key] = st.env.get(key, value or "")
    return tuple(f"{k}={v}" for k, v in out.items())


def _proxy_env(build_args: dict[str, str]) -> tuple[str, ...]:
    out = []
    for name in PROXY_ARGS:
        for key, value in build_args.items():
            if key.upper() == name:
                out += [f"{name}={value}", f"{name.lower()}={value}"]
                break
    return tuple(out)


def _shell_cmd(instr: ins.ShellDependent, st: StageState) -> tuple[str, ...]:
    if instr.json:
        return tuple(instr.cmd)
    return (*st.config.shell_or_default(), " ".join(instr.cmd))


def _cmd(instr: ins.CmdInstr, st: StageState, _ctx: Context, _i: int, common: dict) -> s.Step:
    st.cmd_set = True
    return s.CmdStep(**common, cmd=_shell_cmd(instr, st))


def _entrypoint(instr: ins.EntrypointInstr, st: StageState, _ctx: Context, _i: int, common: dict) -> s.Step:
    return s.EntrypointStep(**common, entrypoint=_shell_cmd(instr, st), clears_cmd=not st.cmd_set)


def _copy(instr: ins.CopyInstr, st: StageState, ctx: Context, index: int, common: dict) -> s.Step:
    line = instr.line
    name = "ADD" if instr.is_add else "COPY"
    from_stage, from_image = ctx.resolve_from(instr.from_, index) if instr.from_ else (None, None)
    sources = tuple(_source(name, word(ctx, st, src, line), from_stage, from_image) for src in instr.sources)
    inline = tuple(s.InlineFile(doc.name, _raw_word(ctx, st, doc.data, line) if doc.expand else doc.data)
                   for doc in instr.inline)
    dest_raw = word(ctx, st, instr.dest, line)
    dest, dest_is_dir = resolve_dest(st.workdir, dest_raw)
    chmod = word(ctx, st, instr.chmod, line)
    mode = values.parse_chmod(chmod) if chmod else None
    if instr.checksum:
        _check_checksum(instr.checksum, sources)
    if len(sources) + len(inline) > 1 and not dest_is_dir:
        raise ValueError(f"When using {name} with more than one source file, "
                         "the destination must be a directory and end with a /")
    _warn_ignored(ctx, name, sources, line)
    return s.CopyStep(**common, is_add=instr.is_add, sources=sources, inline=inline, dest=dest,
                      dest_is_dir=dest_is_dir, from_stage=from_stage, from_image=from_image,
                      chown=word(ctx, st, instr.chown, line), chmod=chmod, mode=mode, link=instr.link,
                      parents=instr.parents, excludes=tuple(word(ctx, st, e, line) for e in instr.excludes),
                      keep_git_dir=instr.keep_git_dir, checksum=instr.checksum, user=st.user)


def _raw_word(ctx: Context, st: StageState, text: str, line: int) -> str:
    try:
        return _RAW_LEXER.process_word(text, st.env)
    except ExpansionError as err:
        raise _fail(ctx, line, err.message) from None


def _source(name: str, path: str, from_stage: int | None, from_image: str | None) -> s.Source:
    if from_stage is not None:
        return s.Source(path, "stage")
    if from_image is not None:
        return s.Source(path, "image")
    if _GIT_URL.match(path):
        if name == "COPY":
            raise ValueError("source can't be a git ref for COPY")
        return s.Source(path, "git")
    if path.startswith(("http://", "https://")):
        if name == "COPY":
            raise ValueError("source can't be a URL for COPY")
        return s.Source(path, "url")
    return s.Source(path, "context")


def _check_checksum(checksum: str, sources: tuple[s.Source, ...]) -> None:
    if len(sources) != 1:
        raise ValueError("checksum can't be specified for multiple sources")
    if sources[0].kind != "url":
        raise ValueError("checksum can't be specified for non-HTTP(S) sources")
    values.check_digest(checksum)


def _warn_ignored(ctx: Context, name: str, sources: tuple[s.Source, ...], line: int) -> None:
    if ctx.excluded is None:
        return
    for src in sources:
        if src.kind != "context":
            continue
        rel = posixpath.normpath(posixpath.join("/", src.path)).lstrip("/")
        if rel and ctx.excluded(rel):
            ctx.warnings.append(f"{ctx.file}:{line}: {name} source {src.path!r} is excluded by .dockerignore")


def resolve_dest(workdir: str, dest: str) -> tuple[str, bool]:
    """COPY/ADD destination made absolute against the workdir; trailing slash means a directory."""
    if dest in ("", "."):
        dest = "./"
    is_dir = dest.endswith("/") or dest.endswith("/.")
    joined = posixpath.normpath(dest if dest.startswith("/") else posixpath.join(workdir, dest))
    if joined.startswith("//"):
        joined = "/" + joined.lstrip("/")
    if is_dir and joined != "/":
        joined += "/"
    return joined, is_dir


def normalize_workdir(current: str, path: str) -> str:
    """Docker's NormalizeWorkdir: relative paths are joined to the current workdir."""
    if path == "":
        raise ValueError("cannot normalize nothing")
    if path.startswith("/"):
        return path
    joined = posixpath.normpath(posixpath.join("/", current, path))
    return "/" + joined.lstrip("/")


def _workdir(instr: ins.WorkdirInstr, st: StageState, ctx: Context, _i: int, common: dict) -> s.Step:
    st.workdir = normalize_workdir(st.config.working_dir or "/", word(ctx, st, instr.text, instr.line))
    return s.WorkdirStep(**common, path=st.workdir, user=st.user)


def _user(instr: ins.UserInstr, st: StageState, ctx: Context, _i: int, common: dict) -> s.Step:
    st.user = word(ctx, st, instr.text, instr.line)
    return s.UserStep(**common, user=st.user)


def _expose(instr: ins.ExposeInstr, st: StageState, ctx: Context, _i: int, common: dict) -> s.Step:
    ports: list[str] = []
    for raw in instr.words:
        for spec in words(ctx, st, raw, instr.line):
            ports += values.parse_port_spec(spec)
    return s.ExposeStep(**common, ports=tuple(dict.fromkeys(ports)))


def _volume(instr: ins.VolumeInstr, st: StageState, ctx: Context, _i: int, common: dict) -> s.Step:
    paths = tuple(word(ctx, st, raw, instr.line) for raw in instr.words)
    if "" in paths:
        raise ValueError("VOLUME specified can not be an empty string")
    return s.VolumeStep(**common, paths=paths)


def _stopsignal(instr: ins.StopSignalInstr, st: StageState, ctx: Context, _i: int, common: dict) -> s.Step:
    signal = word(ctx, st, instr.text, instr.line)
    values.check_signal(signal)
    return s.StopSignalStep(**common, signal=signal)


def _healthcheck(instr: ins.HealthcheckInstr, _st: StageState, _c: Context, _i: int, common: dict) -> s.Step:
    return s.HealthcheckStep(**common, healthcheck=instr.config)


def _shell(instr: ins.ShellInstr, _st: StageState, _c: Context, _i: int, common: dict) -> s.Step:
    return s.ShellStep(**common, shell=instr.shell)


def _onbuild(instr: ins.OnbuildInstr, _st: StageState, _c: Context, _i: int, common: dict) -> s.Step:
    return s.OnbuildStep(**common, expression=instr.expression)


def _maintainer(instr: ins.MaintainerInstr, _st: StageState, _c: Context, _i: int, common: dict) -> s.Step:
    return s.MaintainerStep(**common, author=instr.text)


_HANDLERS: dict[type, Callable[..., s.Step]] = {
    ins.EnvInstr: _env, ins.LabelInstr: _label, ins.ArgInstr: _arg, ins.RunInstr: _run, ins.CmdInstr: _cmd,
    ins.EntrypointInstr: _entrypoint, ins.CopyInstr: _copy, ins.WorkdirInstr: _workdir, ins.UserInstr: _user,
    ins.ExposeInstr: _expose, ins.VolumeInstr: _volume, ins.StopSignalInstr: _stopsignal,
    ins.HealthcheckInstr: _healthcheck, ins.ShellInstr: _shell, ins.OnbuildInstr: _onbuild,
    ins.MaintainerInstr: _maintainer,
}
