"""The image config a stage builds up, and how each step changes it.

``ImageConfig`` mirrors the ``config`` object of an OCI/Docker image config
(``Env``, ``Cmd``, ``Entrypoint``, ``WorkingDir``, ``User``, ``Labels``,
``ExposedPorts``, ``Volumes``, ``StopSignal``, ``Healthcheck``, ``Shell``,
``OnBuild``) plus the top-level ``author``.  ``apply_step`` is pure: the
planner uses it to track the config as it walks a stage, and the executor
can use the final one directly (``StagePlan.config``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vessel.build import steps as s

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True, slots=True)
class ImageConfig:
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""
    healthcheck: tuple[tuple[str, object], ...] | None = None
    shell: tuple[str, ...] = ()
    onbuild: tuple[str, ...] = ()
    author: str = ""
    args_escaped: bool = False

    @classmethod
    def from_dict(cls, config: dict | None, author: str = "") -> "ImageConfig":
        """From an image config's ``config`` object (Docker's capitalised keys)."""
        c = config or {}
        hc = c.get("Healthcheck")
        return cls(
            env=tuple(c.get("Env") or ()), cmd=_opt_tuple(c.get("Cmd")), entrypoint=_opt_tuple(c.get("Entrypoint")),
            working_dir=c.get("WorkingDir") or "", user=c.get("User") or "",
            labels=tuple((c.get("Labels") or {}).items()), exposed_ports=tuple(sorted(c.get("ExposedPorts") or {})),
            volumes=tuple(sorted(c.get("Volumes") or {})), stop_signal=c.get("StopSignal") or "",
            healthcheck=tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in hc.items()) if hc else None,
            shell=tuple(c.get("Shell") or ()), onbuild=tuple(c.get("OnBuild") or ()), author=author,
            args_escaped=bool(c.get("ArgsEscaped")))

    def to_dict(self) -> dict:
        """The ``config`` object, empty fields omitted as Docker does."""
        out: dict = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in sorted(self.exposed_ports)}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.volumes:
            out["Volumes"] = {v: {} for v in sorted(self.volumes)}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.healthcheck is not None:
            out["Healthcheck"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.healthcheck}
        if self.shell:
            out["Shell"] = list(self.shell)
        if self.onbuild:
            out["OnBuild"] = list(self.onbuild)
        return out

    def env_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def shell_or_default(self) -> tuple[str, ...]:
        return self.shell or DEFAULT_SHELL


def _opt_tuple(value: list | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def add_env(env: tuple[str, ...], key: str, value: str) -> tuple[str, ...]:
    """Docker's addEnv: replace KEY=... in place, else append."""
    items = list(env)
    for i, item in enumerate(items):
        if item.partition("=")[0] == key:
            items[i] = f"{key}={value}"
            return tuple(items)
    return (*items, f"{key}={value}")


def with_default_path(config: ImageConfig) -> ImageConfig:
    """Every stage gets PATH in its Env if the base has none, as BuildKit does."""
    if any(item.partition("=")[0] == "PATH" for item in config.env):
        return config
    return replace(config, env=(*config.env, "PATH=" + DEFAULT_PATH))


def apply_step(config: ImageConfig, step: s.Step) -> ImageConfig:
    """The config after ``step`` (RUN, COPY, ADD and ARG leave it unchanged)."""
    if isinstance(step, s.EnvStep):
        env = config.env
        for key, value in step.pairs:
            env = add_env(env, key, value)
        return replace(config, env=env)
    if isinstance(step, s.LabelStep):
        labels = dict(config.labels)
        labels.update(step.pairs)
        return replace(config, labels=tuple(labels.items()))
    if isinstance(step, s.ExposeStep):
        return replace(config, exposed_ports=tuple(sorted(set(config.exposed_ports) | set(step.ports))))
    if isinstance(step, s.VolumeStep):
        return replace(config, volumes=tuple(sorted(set(config.volumes) | set(step.paths))))
    if isinstance(step, s.CmdStep):
        return replace(config, cmd=step.cmd, args_escaped=True)
    if isinstance(step, s.EntrypointStep):
        return replace(config, entrypoint=step.entrypoint, cmd=None if step.clears_cmd else config.cmd)
    if isinstance(step, s.WorkdirStep):
        return replace(config, working_dir=step.path)
    return _apply_simple(config, step)


def _apply_simple(config: ImageConfig, step: s.Step) -> ImageConfig:
    if isinstance(step, s.UserStep):
        return replace(config, user=step.user)
    if isinstance(step, s.StopSignalStep):
        return replace(config, stop_signal=step.signal)
    if isinstance(step, s.HealthcheckStep):
        return replace(config, healthcheck=step.healthcheck)
    if isinstance(step, s.ShellStep):
        return replace(config, shell=step.shell)
    if isinstance(step, s.OnbuildStep):
        return replace(config, onbuild=(*config.onbuild, step.expression))
    if isinstance(step, s.MaintainerStep):
        return replace(config, author=step.author)
    return config
