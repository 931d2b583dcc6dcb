"""Parsed nodes -> typed, validated instructions grouped into stages.

This is Docker's ``instructions`` layer: flags are parsed and checked per
instruction (unknown flag -> error), argument counts are checked, FROM
starts a stage, ARGs before the first FROM become meta ARGs, HEALTHCHECK is
turned into the image-config shape.  Nothing is expanded yet: words still
hold ``$VAR`` and quotes, which the planner expands with the stage's
variables at the point Docker does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vessel.build import values
from vessel.build.errors import DockerfileError, suggest
from vessel.build.mounts import parse_mount
from vessel.build.parser import Dockerfile, Heredoc, Node, parse, parse_heredoc

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class Instr:
    """What every instruction carries: where it is and how it was written."""

    keyword: str
    line: int
    end_line: int
    original: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FromInstr(Instr):
    base: str
    name: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellDependent(Instr):
    """RUN, CMD, ENTRYPOINT: JSON items, or the shell-form text as one item."""

    cmd: tuple[str, ...] = ()
    json: bool = False
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInstr(ShellDependent):
    mounts: tuple[str, ...] = ()
    network: str | None = None
    security: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CmdInstr(ShellDependent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class EntrypointInstr(ShellDependent):
    pass


@dataclass(frozen=True, slots=True)
class InlineSource:
    """A heredoc used as a COPY/ADD source: the file ``name`` with ``data``."""

    name: str
    data: str
    expand: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyInstr(Instr):
    """COPY and ADD (``is_add``)."""

    is_add: bool = False
    sources: tuple[str, ...] = ()
    inline: tuple[InlineSource, ...] = ()
    dest: str = ""
    from_: str | None = None
    chown: str = ""
    chmod: str = ""
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()
    keep_git_dir: bool = False
    checksum: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyValueInstr(Instr):
    """ENV and LABEL: (key, value) pairs as written."""

    pairs: tuple[tuple[str, str], ...] = ()
    legacy: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvInstr(KeyValueInstr):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelInstr(KeyValueInstr):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgInstr(Instr):
    pairs: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WordsInstr(Instr):
    """EXPOSE, VOLUME: a list of words."""

    words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposeInstr(WordsInstr):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeInstr(WordsInstr):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class TextInstr(Instr):
    """WORKDIR, USER, STOPSIGNAL, MAINTAINER: one text argument."""

    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkdirInstr(TextInstr):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class UserInstr(TextInstr):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class StopSignalInstr(TextInstr):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintainerInstr(TextInstr):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellInstr(Instr):
    shell: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthcheckInstr(Instr):
    """``config`` is the image-config Healthcheck object (durations in ns, zeros omitted)."""

    config: tuple[tuple[str, object], ...] = ()

    def as_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in self.config}


@dataclass(frozen=True, slots=True, kw_only=True)
class OnbuildInstr(Instr):
    """``expression`` is what is stored in the image config (heredoc bodies appended)."""

    expression: str = ""
    trigger: Instr | None = None


@dataclass(frozen=True, slots=True)
class Stage:
    index: int
    from_: FromInstr
    instructions: tuple[Instr, ...] = ()

    @property
    def name(self) -> str | None:
        return self.from_.name


@dataclass(frozen=True, slots=True)
class Instructions:
    """The whole Dockerfile as meta ARGs (before the first FROM) and stages."""

    path: str
    escape: str
    meta_args: tuple[ArgInstr, ...]
    stages: tuple[Stage, ...]
    warnings: tuple[str, ...] = field(default=())


class _Flags:
    """Docker's BFlags: declared flags, then Parse() of the raw ``--x=y`` words."""

    def __init__(self, raw: tuple[str, ...]) -> None:
        self.raw = raw
        self.kinds: dict[str, str] = {}
        self.values: dict[str, object] = {}

    def declare(self, name: str, kind: str, default: object = None) -> None:
        self.kinds[name] = kind
        self.values[name] = [] if kind == "strings" else default

    def parse(self) -> dict[str, object]:
        used: set[str] = set()
        for arg in self.raw:
            if not arg.startswith("--"):
                raise ValueError(f"arg should start with -- : {arg}")
            if arg == "--":
                break
            name, eq, value = arg[2:].partition("=")
            kind = self.kinds.get(name)
            if kind is None:
                close = suggest(name, list(self.kinds))
                raise ValueError(f"unknown flag: {name}" + (f" (did you mean {close}?)" if close else ""))
            if name in used and kind != "strings":
                raise ValueError(f"duplicate flag specified: {name}")
            used.add(name)
            self.values[name] = self._value(name, kind, eq, value)
        return self.values

    def _value(self, name: str, kind: str, eq: str, value: str) -> object:
        if kind == "bool":
            if eq and value == "":
                raise ValueError(f"missing a value on flag: {name}")
            if value.lower() in ("", "true"):
                return True
            if value.lower() == "false":
                return False
            raise ValueError(f"expecting boolean value for flag {name}, not: {value}")
        if not eq:
            raise ValueError(f"missing a value on flag: {name}")
        if kind == "strings":
            return [*self.values[name], value]  # type: ignore[misc]
        return value


_FLAGS: dict[str, tuple[tuple[str, str, object], ...]] = {
    "from": (("platform", "string", ""),),
    "run": (("mount", "strings", None), ("network", "string", ""), ("security", "string", "")),
    "copy": (("from", "string", ""), ("chown", "string", ""), ("chmod", "string", ""), ("link", "bool", False),
             ("parents", "bool", False), ("exclude", "strings", None)),
    "add": (("chown", "string", ""), ("chmod", "string", ""), ("link", "bool", False),
            ("keep-git-dir", "bool", False), ("checksum", "string", ""), ("exclude", "strings", None)),
    "healthcheck": (("interval", "string", ""), ("timeout", "string", ""), ("start-period", "string", ""),
                    ("start-interval", "string", ""), ("retries", "string", "")),
}


def _flags(node: Node) -> dict[str, object]:
    flags = _Flags(node.flags)
    for name, kind, default in _FLAGS.get(node.cmd, ()):
        flags.declare(name, kind, default)
    return flags.parse()


def _common(node: Node) -> dict:
    return {"keyword": node.keyword, "line": node.start_line, "end_line": node.end_line,
            "original": node.original}


def _need(node: Node, count: str) -> None:
    n = len(node.args)
    name = node.keyword.upper()
    if count == "1+" and n == 0:
        raise ValueError(f"{name} requires at least one argument")
    if count == "1" and n != 1:
        raise ValueError(f"{name} requires exactly one argument")


def _from(node: Node, _f: dict) -> Instr:
    args, name = node.args, None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise ValueError(f'invalid name for build stage: "{args[2]}", '
                             "name can't start with a number or contain symbols")
    elif len(args) != 1:
        raise ValueError("FROM requires either one or three arguments")
    return FromInstr(**_common(node), base=args[0], name=name, platform=_f["platform"] or None)


def _shell_dependent(cls: type, node: Node, f: dict) -> Instr:
    extra = {}
    if cls is RunInstr:
        mounts = tuple(f["mount"])
        for raw in mounts:
            parse_mount(raw, None)  # syntax check now, values are expanded when planned
        extra = {"mounts": mounts, "network": f["network"] or None, "security": f["security"] or None}
        if extra["network"] is not None and extra["network"] not in ("default", "none", "host"):
            raise ValueError(f'unsupported network mode "{extra["network"]}"')
        if extra["security"] is not None and extra["security"] not in ("sandbox", "insecure"):
            raise ValueError(f'unsupported security mode "{extra["security"]}"')
    return cls(**_common(node), cmd=node.args, json=node.json, heredocs=node.heredocs, **extra)


def _copy(node: Node, f: dict) -> Instr:
    is_add = node.cmd == "add"
    if len(node.args) < 2:
        raise ValueError(f"{node.keyword.upper()} requires at least two arguments, but only one was provided. "
                         "Destination could not be determined.")
    *srcs, dest = node.args
    if parse_heredoc(dest) is not None:
        raise ValueError(f"{node.keyword.upper()} cannot accept a heredoc as a destination")
    bodies = {doc.name: doc for doc in node.heredocs}
    sources, inline = [], []
    for src in srcs:
        doc = None if node.json else parse_heredoc(src)
        if doc is not None and doc.name in bodies:
            inline.append(InlineSource(doc.name, bodies[doc.name].body(), doc.expand))
        else:
            sources.append(src)
    return CopyInstr(**_common(node), is_add=is_add, sources=tuple(sources), inline=tuple(inline), dest=dest,
                     from_=(f.get("from") or None), chown=f["chown"], chmod=f["chmod"], link=f["link"],
                     parents=bool(f.get("parents")), excludes=tuple(f["exclude"]),
                     keep_git_dir=bool(f.get("keep-git-dir")), checksum=str(f.get("checksum") or ""))


def _pairs(node: Node) -> tuple[tuple[str, str], ...]:
    if not node.args:
        raise ValueError(f"{node.keyword.upper()} requires at least one argument")
    return tuple(zip(node.args[::2], node.args[1::2]))


def _arg(node: Node, _f: dict) -> Instr:
    _need(node, "1+")
    pairs: list[tuple[str, str | None]] = []
    for word in node.args:
        key, eq, value = word.partition("=")
        if eq and key == "":
            raise ValueError("ARG names can not be blank")
        pairs.append((key, value if eq else None))
    return ArgInstr(**_common(node), pairs=tuple(pairs))


def _healthcheck(node: Node) -> Instr:
    _need(node, "1+")
    kind, args = node.args[0].upper(), node.args[1:]
    if kind == "NONE":
        if args:
            raise ValueError("HEALTHCHECK NONE takes no arguments")
        return HealthcheckInstr(**_common(node), config=(("Test", ("NONE",)),))
    f = _flags(node)
    if kind != "CMD":
        raise ValueError(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    if not args:
        raise ValueError("Missing command after HEALTHCHECK CMD")
    test = ("CMD", *args) if node.json else ("CMD-SHELL", " ".join(args))
    config: list[tuple[str, object]] = [("Test", test)]
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        value = _interval(flag, str(f[flag]))
        if value:
            config.append((key, value))
    if f["retries"]:
        try:
            retries = int(str(f["retries"]), 10)
        except ValueError:
            raise ValueError(f'strconv.ParseInt: parsing "{f["retries"]}": invalid syntax') from None
        if retries < 0:
            raise ValueError(f"--retries cannot be negative ({retries})")
        if retries:
            config.append(("Retries", retries))
    return HealthcheckInstr(**_common(node), config=tuple(config))


def _interval(flag: str, text: str) -> int:
    if text == "":
        return 0
    value = values.parse_duration(text)
    if value != 0 and value < 1_000_000:
        raise ValueError(f'Interval "{flag}" cannot be less than 1ms')
    return value


def _onbuild(node: Node, _f: dict, escape: str) -> Instr:
    _need(node, "1+")
    trigger = node.args[0].upper()
    if trigger == "ONBUILD":
        raise ValueError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise ValueError(f"{trigger} isn't allowed as an ONBUILD trigger")
    assert node.sub is not None
    sub = Node(node.sub.keyword, node.sub.args, node.sub.flags, node.sub.json, node.sub.legacy_kv,
               node.sub.original, node.start_line, node.end_line, node.heredocs)
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original, count=1)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    return OnbuildInstr(**_common(node), expression=expression, trigger=instruction(sub, escape))


def instruction(node: Node, escape: str = "\\") -> Instr:
    """One node as a typed instruction; ValueError with Docker's message when invalid."""
    cmd = node.cmd
    if cmd == "healthcheck":
        return _healthcheck(node)
    f = _flags(node)
    if cmd == "from":
        return _from(node, f)
    if cmd in ("run", "cmd", "entrypoint"):
        return _shell_dependent({"run": RunInstr, "cmd": CmdInstr, "entrypoint": EntrypointInstr}[cmd], node, f)
    if cmd in ("copy", "add"):
        return _copy(node, f)
    if cmd in ("env", "label"):
        cls = EnvInstr if cmd == "env" else LabelInstr
        return cls(**_common(node), pairs=_pairs(node), legacy=node.legacy_kv)
    if cmd == "arg":
        return _arg(node, f)
    if cmd in ("expose", "volume"):
        _need(node, "1+")
        return (ExposeInstr if cmd == "expose" else VolumeInstr)(**_common(node), words=node.args)
    if cmd in ("workdir", "user", "stopsignal", "maintainer"):
        _need(node, "1")
        cls = {"workdir": WorkdirInstr, "user": UserInstr, "stopsignal": StopSignalInstr,
               "maintainer": MaintainerInstr}[cmd]
        return cls(**_common(node), text=node.args[0])
    if cmd == "shell":
        if not node.args:
            raise ValueError("SHELL requires at least one argument")
        if not node.json:
            raise ValueError("SHELL requires the arguments to be in JSON form")
        return ShellInstr(**_common(node), shell=node.args)
    if cmd == "onbuild":
        return _onbuild(node, f, escape)
    raise ValueError(f"unknown instruction: {node.keyword}")


def load(dockerfile: Dockerfile) -> Instructions:
    """Group a parsed Dockerfile into meta ARGs and stages, validating every instruction."""
    meta: list[ArgInstr] = []
    stages: list[tuple[FromInstr, list[Instr]]] = []
    for node in dockerfile.nodes:
        try:
            instr = instruction(node, dockerfile.escape)
        except ValueError as err:
            raise DockerfileError(dockerfile.path, node.start_line, str(err)) from None
        if isinstance(instr, FromInstr):
            stages.append((instr, []))
        elif not stages and isinstance(instr, ArgInstr):
            meta.append(instr)
        elif not stages:
            raise DockerfileError(dockerfile.path, node.start_line, "no build stage in current context",
                                  hint="only ARG may come before the first FROM")
        else:
            stages[-1][1].append(instr)
    if not stages:
        raise DockerfileError(dockerfile.path, 0, "dockerfile contains no stages to build",
                              hint="add a FROM instruction")
    built = tuple(Stage(i, frm, tuple(body)) for i, (frm, body) in enumerate(stages))
    return Instructions(dockerfile.path, dockerfile.escape, tuple(meta), built,
                        dockerfile.warnings + _stage_warnings(dockerfile.path, built))


def _stage_warnings(path: str, stages: tuple[Stage, ...]) -> tuple[str, ...]:
    out, seen = [], set()
    for stage in stages:
        name = stage.name
        if name is None:
            continue
        if name in ("context", "scratch"):
            out.append(f"{path}:{stage.from_.line}: stage name '{name}' is reserved")
        if name in seen:
            out.append(f"{path}:{stage.from_.line}: duplicate stage name '{name}', stage names should be unique")
        seen.add(name)
    return tuple(out)


def parse_trigger(expression: str) -> Instr:
    """An ONBUILD trigger stored in an image config, parsed back into an instruction."""
    df = parse(expression, "ONBUILD")
    if len(df.nodes) != 1:
        raise ValueError("onbuild trigger should be a single expression")
    node = df.nodes[0]
    if node.cmd in ("onbuild", "from", "maintainer"):
        raise ValueError(f"{node.keyword.upper()} isn't allowed as an ONBUILD trigger")
    return instruction(node, df.escape)


__all__ = ["Instr", "FromInstr", "RunInstr", "CmdInstr", "EntrypointInstr", "CopyInstr", "InlineSource",
           "EnvInstr", "LabelInstr", "ArgInstr", "ExposeInstr", "VolumeInstr", "WorkdirInstr", "UserInstr",
           "StopSignalInstr", "MaintainerInstr", "ShellInstr", "HealthcheckInstr", "OnbuildInstr", "Stage",
           "Instructions", "load", "instruction", "parse_trigger"]
