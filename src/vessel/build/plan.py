"""The build plan: which stages to build, in which order, with which steps.

``plan()`` is pure apart from the injected ``base_config_lookup`` (the
executor's way to read a base image's config, pulling it if it wants).  It
follows Docker's BuildKit frontend:

* meta ARGs (before the first FROM) are resolved with the automatic platform
  args and ``--build-arg`` overrides; they are visible in FROM lines only;
* every FROM is expanded with them; ``FROM <earlier stage name>`` builds on
  that stage, ``scratch`` on nothing, anything else is an image reference;
* only the target stage (the last by default) and the stages it needs
  (FROM, ``COPY --from``, ``RUN --mount from=``, ONBUILD triggers) are
  planned, in Dockerfile order, which is a dependency order because a stage
  may only use earlier ones;
* each stage starts from its base's config (PATH added if missing), fires
  the base's ONBUILD triggers first, then plans its own instructions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from vessel.build import instructions as ins
from vessel.build import values
from vessel.build.config import ImageConfig, with_default_path
from vessel.build.dispatch import PROXY_ARGS, Context, StageState, dispatch, normalize_workdir
from vessel.build.errors import DockerfileError, ExpansionError
from vessel.build.expand import Lexer
from vessel.build.mounts import mount_from
from vessel.build.parser import Dockerfile
from vessel.build.steps import AnyStep, Location

BaseConfigLookup = Callable[[str, "str | None"], "Mapping | None"]
PLATFORM_ARGS = ("BUILDPLATFORM", "BUILDOS", "BUILDOSVERSION", "BUILDARCH", "BUILDVARIANT", "TARGETPLATFORM",
                 "TARGETOS", "TARGETOSVERSION", "TARGETARCH", "TARGETVARIANT", "TARGETSTAGE")


@dataclass(frozen=True, slots=True)
class StagePlan:
    """One stage to build.

    ``base`` is an image reference, ``"scratch"``, or the ``index`` of an
    earlier StagePlan.  The first ``triggers`` steps come from the base's
    ONBUILD triggers.  ``config`` is the image config after the last step;
    ``env`` the build environment then (image ENV plus ARG values), which a
    stage built on this one inherits.
    """

    index: int
    name: str | None
    base: str | int
    platform: str | None
    loc: Location
    original: str
    steps: tuple[AnyStep, ...]
    base_config: ImageConfig
    config: ImageConfig
    env: tuple[str, ...] = ()
    args: tuple[tuple[str, str | None], ...] = ()
    triggers: int = 0

    @property
    def display_name(self) -> str:
        return self.name or f"stage-{self.index}"


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """Stages in build order, the target last."""

    stages: tuple[StagePlan, ...]
    warnings: tuple[str, ...] = ()
    global_args: tuple[tuple[str, str], ...] = ()
    escape: str = "\\"
    file: str = "Dockerfile"

    @property
    def target(self) -> StagePlan:
        return self.stages[-1]

    def stage(self, index: int) -> StagePlan:
        for st in self.stages:
            if st.index == index:
                return st
        raise KeyError(index)

    def step_count(self) -> int:
        """Steps as the classic builder numbers them (each FROM counts)."""
        return sum(1 + len(st.steps) for st in self.stages)


def plan(dockerfile: Dockerfile, build_args: Mapping[str, str] | None = None, target: str | None = None, *,
         base_config_lookup: BaseConfigLookup | None = None, context_ignore: object | None = None,
         platform: str = "linux/amd64", build_platform: str | None = None) -> BuildPlan:
    """Plan a build of ``dockerfile`` (see module doc).

    ``base_config_lookup(ref, platform)`` returns an image's config JSON (the
    whole image config, or just its ``config`` object) or None when unknown
    (treated as empty).  ``context_ignore`` is a dockerignore Matcher: COPY
    sources it excludes give a warning.
    """
    return _Planner(dockerfile, dict(build_args or {}), target, base_config_lookup, context_ignore,
                    platform, build_platform or platform).run()


@dataclass
class _StageInfo:
    stage: ins.Stage
    base: str | int = ""
    platform: str | None = None
    triggers: tuple[ins.Instr, ...] | None = None
    base_config: ImageConfig | None = None
    deps: list[int] = field(default_factory=list)


class _Planner:
    def __init__(self, df: Dockerfile, build_args: dict[str, str], target: str | None,
                 lookup: BaseConfigLookup | None, ignore: object | None, platform: str, build_platform: str) -> None:
        self.instrs = ins.load(df)
        self.file = df.path
        self.lexer = Lexer(df.escape)
        self.build_args = build_args
        self.lookup = lookup
        self.target_name = target
        self.platform = values.normalize_platform(platform)
        self.build_platform = values.normalize_platform(build_platform)
        self.names: dict[str, int] = {}
        for stage in self.instrs.stages:
            if stage.name:
                self.names[stage.name] = stage.index
        excluded = getattr(ignore, "excluded", None)
        self.ctx = Context(self.file, self.lexer, build_args, {}, self.resolve_from,
                           (lambda rel: excluded(rel, False)) if excluded else None)
        self.ctx.warnings.extend(self.instrs.warnings)
        self.infos = [_StageInfo(stage) for stage in self.instrs.stages]

    def fail(self, line: int, reason: str, hint: str | None = None) -> DockerfileError:
        return DockerfileError(self.file, line, reason, hint=hint)

    def run(self) -> BuildPlan:
        self.ctx.global_args = self.meta_args()
        for info in self.infos:
            self.resolve_base(info)
        target = self.target_index()
        needed: set[int] = set()
        self.visit(target, needed)
        plans: dict[int, StagePlan] = {}
        for index in sorted(needed):
            plans[index] = self.plan_stage(self.infos[index], plans)
        self.warn_unused_args()
        return BuildPlan(tuple(plans[i] for i in sorted(needed)), tuple(self.ctx.warnings),
                         tuple(self.ctx.global_args.items()), self.instrs.escape, self.file)

    def meta_args(self) -> dict[str, str]:
        target = self.target_name or (self.instrs.stages[-1].name or "")
        os_name, arch, variant = (self.platform.split("/") + ["", ""])[:3]
        b_os, b_arch, b_variant = (self.build_platform.split("/") + ["", ""])[:3]
        defaults = {"BUILDPLATFORM": self.build_platform, "BUILDOS": b_os, "BUILDOSVERSION": "", "BUILDARCH": b_arch,
                    "BUILDVARIANT": b_variant, "TARGETPLATFORM": self.platform, "TARGETOS": os_name,
                    "TARGETOSVERSION": "", "TARGETARCH": arch, "TARGETVARIANT": variant, "TARGETSTAGE": target}
        env = {k: self.build_args.get(k, v) for k, v in defaults.items()}
        for arg in self.instrs.meta_args:
            for key, default in arg.pairs:
                self.ctx.used_args.add(key)
                if key in self.build_args:
                    env[key] = self.build_args[key]
                elif default is not None:
                    env[key] = self.expand(default, env, arg.line)
        return env

    def expand(self, text: str, env: Mapping[str, str], line: int) -> str:
        try:
            return self.lexer.process_word(text, env)
        except ExpansionError as err:
            raise self.fail(line, err.message, err.hint) from None

    def resolve_base(self, info: _StageInfo) -> None:
        frm = info.stage.from_
        base = self.expand(frm.base, self.ctx.global_args, frm.line)
        if base == "":
            raise self.fail(frm.line, f"base name ({frm.base}) should not be blank",
                            hint="give the ARG used in FROM a default or pass --build-arg")
        if frm.platform:
            text = self.expand(frm.platform, self.ctx.global_args, frm.line)
            if text == "":
                raise self.fail(frm.line, f"empty platform value from expression {frm.platform}")
            try:
                info.platform = values.normalize_platform(text)
            except ValueError as err:
                raise self.fail(frm.line, f"failed to parse platform {frm.platform}: {err}") from None
        earlier = [s.index for s in self.instrs.stages[:info.stage.index] if s.name == base.lower()]
        if earlier:
            info.base = earlier[-1]
        elif base.lower() == "scratch":
            info.base = "scratch"
        else:
            try:
                values.check_reference(base)
            except ValueError as err:
                raise self.fail(frm.line, f'failed to parse stage name "{base}": {err}') from None
            info.base = base

    def target_index(self) -> int:
        if self.target_name is None:
            return len(self.instrs.stages) - 1
        index = self.names.get(self.target_name.lower())
        if index is None:
            names = ", ".join(sorted(self.names)) or "none"
            raise DockerfileError(self.file, 0, f'target stage "{self.target_name}" could not be found',
                                  hint=f"stages with names: {names}")
        return index

    def resolve_from(self, ref: str, current: int) -> tuple[int | None, str | None]:
        """``--from`` value -> (stage index, None) or (None, image reference)."""
        if ref.isdigit():
            index = int(ref)
            if index >= len(self.instrs.stages):
                raise ValueError(f"invalid stage index {index}")
        elif ref.lower() in self.names:
            index = self.names[ref.lower()]
        else:
            if "$" in ref:
                raise ValueError(f"'from' doesn't support variable expansion, define alias stage instead: {ref}")
            try:
                values.check_reference(ref)
            except ValueError as err:
                raise ValueError(f"invalid from flag value {ref}: {err}") from None
            return None, ref
        if index == current:
            name = self.instrs.stages[current].name or f"stage-{current}"
            raise ValueError(f"circular dependency detected on stage: {name}")
        if index > current:
            name = self.instrs.stages[index].name or str(index)
            here = self.instrs.stages[current].name or f"stage-{current}"
            raise ValueError(f'cannot copy from stage "{name}", it needs to be defined before current stage "{here}"')
        return index, None

    def visit(self, index: int, needed: set[int]) -> None:
        if index in needed:
            return
        needed.add(index)
        info = self.infos[index]
        if isinstance(info.base, int):
            self.visit(info.base, needed)
        for instr in (*self.triggers(info), *info.stage.instructions):
            for ref, line in _from_refs(instr):
                try:
                    dep, _ = self.resolve_from(ref, index)
                except ValueError as err:
                    raise self.fail(line, str(err)) from None
                if dep is not None:
                    info.deps.append(dep)
                    self.visit(dep, needed)

    def base_config(self, info: _StageInfo) -> ImageConfig:
        if info.base_config is None:
            if isinstance(info.base, int):
                raise AssertionError("stage bases are taken from their plan")
            info.base_config = ImageConfig() if info.base == "scratch" else self.lookup_config(info)
        return info.base_config

    def lookup_config(self, info: _StageInfo) -> ImageConfig:
        if self.lookup is None:
            return ImageConfig()
        found = self.lookup(str(info.base), info.platform)
        if not found:
            return ImageConfig()
        if "config" in found or "rootfs" in found or "architecture" in found:
            return ImageConfig.from_dict(found.get("config"), found.get("author", ""))
        return ImageConfig.from_dict(dict(found))

    def triggers(self, info: _StageInfo) -> tuple[ins.Instr, ...]:
        if info.triggers is None:
            if isinstance(info.base, int):
                base_stage = self.instrs.stages[info.base]
                exprs = [i.expression for i in base_stage.instructions if isinstance(i, ins.OnbuildInstr)]
            else:
                exprs = list(self.base_config(info).onbuild)
            parsed = []
            for expr in exprs:
                try:
                    trig = ins.parse_trigger(expr)
                    parsed.append(replace(trig, line=info.stage.from_.line, end_line=info.stage.from_.end_line))
                except (ValueError, DockerfileError) as err:
                    reason = err.reason if isinstance(err, DockerfileError) else str(err)
                    raise self.fail(info.stage.from_.line, f"onbuild trigger {expr!r}: {reason}") from None
            info.triggers = tuple(parsed)
        return info.triggers

    def plan_stage(self, info: _StageInfo, plans: dict[int, StagePlan]) -> StagePlan:
        frm = info.stage.from_
        if isinstance(info.base, int):
            parent = plans[info.base]
            config, env, args = parent.config, dict(_split_env(parent.env)), list(parent.args)
        else:
            config, env, args = self.base_config(info), {}, []
        config = replace(with_default_path(config), onbuild=())
        for key, value in _split_env(config.env):
            env[key] = value
        workdir = normalize_workdir("/", config.working_dir) if config.working_dir else "/"
        st = StageState(config=config, env=env, workdir=workdir, user=config.user, args=args)
        loc = Location(self.file, frm.line, frm.end_line)
        steps = []
        for trig in self.triggers(info):
            steps.append(dispatch(trig, st, self.ctx, info.stage.index, True, loc))
        for instr in info.stage.instructions:
            steps.append(dispatch(instr, st, self.ctx, info.stage.index, False,
                                  Location(self.file, instr.line, instr.end_line)))
        return StagePlan(info.stage.index, info.stage.name, info.base, info.platform, loc, frm.original,
                         tuple(steps), config, st.config, tuple(f"{k}={v}" for k, v in st.env.items()),
                         tuple(st.args), len(self.triggers(info)))

    def warn_unused_args(self) -> None:
        builtin = set(PROXY_ARGS) | set(PLATFORM_ARGS)
        unused = sorted(k for k in self.build_args if k not in self.ctx.used_args and k.upper() not in builtin)
        if unused:
            self.ctx.warnings.append(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")


def _split_env(env: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for item in env:
        key, _, value = item.partition("=")
        out.append((key, value))
    return out


def _from_refs(instr: ins.Instr) -> list[tuple[str, int]]:
    """Stage references of an instruction: COPY --from and RUN --mount from=."""
    line = instr.line
    if isinstance(instr, ins.CopyInstr) and instr.from_:
        return [(instr.from_, line)]
    if isinstance(instr, ins.RunInstr):
        refs = [mount_from(raw) for raw in instr.mounts]
        return [(ref, line) for ref in refs if ref]
    return []
