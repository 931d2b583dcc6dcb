"""The steps of a build plan: one frozen dataclass per instruction kind.

Everything Docker expands is expanded; paths are absolute; RUN carries its
final argv (SHELL applied), environment, user and working directory.  An
executor walks ``StagePlan.steps`` in order: RunStep and CopyStep (and a
WorkdirStep other than ``/``) produce a layer, the others only change the
image config (``vessel.build.config.apply_step``).

``cache_key_material()`` is the canonical bytes of what makes a step's
result: the executor hashes it together with the parent layer's id and, for
COPY/ADD, the content hashes and modes of the sources.  It leaves out what
Docker keeps out of the cache: line numbers and proxy variables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

from vessel.build.mounts import Mount


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int
    end_line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """Common to every step: where it came from and whether an ONBUILD trigger made it."""

    loc: Location = field(metadata={"key": False})
    original: str = field(metadata={"key": False})
    trigger: bool = field(default=False, metadata={"key": False})

    kind = "step"

    @property
    def creates_layer(self) -> bool:
        return False

    def cache_key_material(self) -> bytes:
        body = {"kind": self.kind}
        for f in fields(self):
            if f.metadata.get("key", True):
                body[f.name] = _plain(getattr(self, f.name))
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def created_by(self) -> str:
        """The history entry Docker's BuildKit frontend records."""
        return self.original


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mount):
        return value.as_dict()
    if isinstance(value, InlineFile):
        return {"name": value.name, "data": value.data, "mode": value.mode}
    if isinstance(value, Source):
        return {"path": value.path, "kind": value.kind}
    return value


def _go_q(items: tuple[str, ...]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


@dataclass(frozen=True, slots=True)
class InlineFile:
    """A file the executor creates from a heredoc (RUN script or COPY source)."""

    name: str
    data: str
    mode: int = 0o644


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStep(Step):
    """Run ``argv`` in a container of the current rootfs.

    ``env`` is the full build environment (image ENV plus ARG values, in
    order); ``proxy_env`` holds the predefined proxy build args, given to
    the process but kept out of the cache key and history.  ``files`` are
    mounted read-only under ``/dev/pipes/`` (a heredoc script with a shebang).
    """

    argv: tuple[str, ...]
    shell_form: bool
    env: tuple[str, ...]
    workdir: str
    user: str = ""
    mounts: tuple[Mount, ...] = ()
    network: str = "default"
    security: str = "sandbox"
    files: tuple[InlineFile, ...] = ()
    build_args: tuple[str, ...] = field(default=(), metadata={"key": False})
    proxy_env: tuple[str, ...] = field(default=(), metadata={"key": False})

    kind = "RUN"

    @property
    def creates_layer(self) -> bool:
        return True

    def created_by(self) -> str:
        prefix = f"|{len(self.build_args)} " + " ".join(self.build_args) + " " if self.build_args else ""
        return "RUN " + prefix + " ".join(self.argv) + " # buildkit"


@dataclass(frozen=True, slots=True)
class Source:
    """A COPY/ADD source: ``kind`` is context, stage, image, url or git."""

    path: str
    kind: str = "context"


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyStep(Step):
    """COPY or ADD (``is_add``) of ``sources`` and heredoc ``inline`` files to ``dest``.

    ``dest`` is absolute; ``dest_is_dir`` when it ends with ``/`` (or was
    ``.``).  Sources come from the build context, or from ``from_stage``
    (index into BuildPlan.stages' original numbering) or ``from_image``.
    """

    is_add: bool
    sources: tuple[Source, ...]
    inline: tuple[InlineFile, ...]
    dest: str
    dest_is_dir: bool
    from_stage: int | None = None
    from_image: str | None = None
    chown: str = ""
    chmod: str = ""
    mode: int | None = None
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()
    keep_git_dir: bool = False
    checksum: str = ""
    user: str = ""

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "ADD" if self.is_add else "COPY"

    @property
    def creates_layer(self) -> bool:
        return True

    def created_by(self) -> str:
        parts = [self.kind]
        if self.parents:
            parts.append("--parents")
        if self.chown:
            parts.append("--chown=" + self.chown)
        if self.chmod:
            parts.append("--chmod=" + self.chmod)
        parts += [s.path for s in self.sources] + ["<<" + f.name for f in self.inline] + [self.dest]
        return " ".join(parts) + " # buildkit"


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvStep(Step):
    pairs: tuple[tuple[str, str], ...]
    kind = "ENV"

    def created_by(self) -> str:
        return "ENV " + " ".join(f"{k}={v}" for k, v in self.pairs)


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgStep(Step):
    """ARG: each pair's value is None when the ARG has neither default nor value."""

    pairs: tuple[tuple[str, str | None], ...]
    kind = "ARG"

    def created_by(self) -> str:
        return "ARG " + " ".join(k if v is None else f"{k}={v}" for k, v in self.pairs)


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelStep(Step):
    pairs: tuple[tuple[str, str], ...]
    kind = "LABEL"

    def created_by(self) -> str:
        return "LABEL " + " ".join(f"{k}={v}" for k, v in self.pairs)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposeStep(Step):
    ports: tuple[str, ...]  # "80/tcp", ranges already expanded
    kind = "EXPOSE"

    def created_by(self) -> str:
        return "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(set(self.ports))) + "]"


@dataclass(frozen=True, slots=True, kw_only=True)
class CmdStep(Step):
    cmd: tuple[str, ...]
    kind = "CMD"

    def created_by(self) -> str:
        return "CMD " + _go_q(self.cmd)


@dataclass(frozen=True, slots=True, kw_only=True)
class EntrypointStep(Step):
    """ENTRYPOINT; ``clears_cmd`` when no CMD was set earlier in this stage (Docker resets it)."""

    entrypoint: tuple[str, ...]
    clears_cmd: bool = True
    kind = "ENTRYPOINT"

    def created_by(self) -> str:
        return "ENTRYPOINT " + _go_q(self.entrypoint)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkdirStep(Step):
    """WORKDIR: ``path`` is absolute; the executor creates it (owned by ``user``) unless it is ``/``."""

    path: str
    user: str = ""
    kind = "WORKDIR"

    @property
    def creates_layer(self) -> bool:
        return self.path != "/"

    def created_by(self) -> str:
        return "WORKDIR " + self.path


@dataclass(frozen=True, slots=True, kw_only=True)
class UserStep(Step):
    user: str
    kind = "USER"

    def created_by(self) -> str:
        return "USER " + self.user


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeStep(Step):
    paths: tuple[str, ...]
    kind = "VOLUME"

    def created_by(self) -> str:
        return "VOLUME [" + " ".join(self.paths) + "]"


@dataclass(frozen=True, slots=True, kw_only=True)
class StopSignalStep(Step):
    signal: str
    kind = "STOPSIGNAL"

    def created_by(self) -> str:
        return "STOPSIGNAL " + self.signal


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthcheckStep(Step):
    """``healthcheck`` as (key, value) pairs of the image-config object."""

    healthcheck: tuple[tuple[str, object], ...]
    kind = "HEALTHCHECK"

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.healthcheck}

    def created_by(self) -> str:
        return "HEALTHCHECK " + json.dumps(self.as_dict(), sort_keys=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellStep(Step):
    shell: tuple[str, ...]
    kind = "SHELL"

    def created_by(self) -> str:
        return "SHELL [" + " ".join(self.shell) + "]"


@dataclass(frozen=True, slots=True, kw_only=True)
class OnbuildStep(Step):
    """ONBUILD: ``expression`` is stored in the image config, fired by child builds."""

    expression: str
    kind = "ONBUILD"

    def created_by(self) -> str:
        return "ONBUILD " + self.expression


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintainerStep(Step):
    """MAINTAINER (deprecated): sets the image's ``author`` field, no label."""

    author: str
    kind = "MAINTAINER"

    def created_by(self) -> str:
        return "MAINTAINER " + self.author


AnyStep = (RunStep | CopyStep | EnvStep | ArgStep | LabelStep | ExposeStep | CmdStep | EntrypointStep
           | WorkdirStep | UserStep | VolumeStep | StopSignalStep | HealthcheckStep | ShellStep | OnbuildStep
           | MaintainerStep)
