"""The pure front half of ``vessel build``: parse -> expand -> plan.

    df = parse_file("Dockerfile")                      # parser.py
    ignore = matcher(load_ignore(ctx, "Dockerfile")[0])  # dockerignore.py
    bp = plan(df, {"VERSION": "1.2"}, target=None,
              base_config_lookup=store_lookup, context_ignore=ignore)
    for stage in bp.stages:                            # dependency order
        for step in stage.steps:                       # RunStep, CopyStep, EnvStep...
            key = hash(parent, step.cache_key_material(), sources...)

Nothing here touches the engine or the image store; see docs/build.md.

The names below are imported on first use (PEP 562), so that importing one
submodule (``vessel.build.memo`` on a fully cached rebuild) does not load
the parser and planner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "ImageConfig": "config", "apply_step": "config",
    "Matcher": "dockerignore", "context_files": "dockerignore", "load_ignore": "dockerignore",
    "matcher": "dockerignore", "read_patterns": "dockerignore",
    "DockerfileError": "errors", "ExpansionError": "errors",
    "Lexer": "expand",
    "Instructions": "instructions", "load": "instructions",
    "Mount": "mounts",
    "Dockerfile": "parser", "Heredoc": "parser", "Node": "parser", "parse": "parser", "parse_file": "parser",
    "BuildPlan": "plan", "StagePlan": "plan", "plan": "plan",
    **{name: "steps" for name in (
        "ArgStep", "CmdStep", "CopyStep", "EntrypointStep", "EnvStep", "ExposeStep", "HealthcheckStep", "InlineFile",
        "LabelStep", "Location", "MaintainerStep", "OnbuildStep", "RunStep", "ShellStep", "Source", "Step",
        "StopSignalStep", "UserStep", "VolumeStep", "WorkdirStep")},
}

__all__ = [
    "ArgStep", "BuildPlan", "CmdStep", "CopyStep", "Dockerfile", "DockerfileError", "EntrypointStep", "EnvStep",
    "ExpansionError", "ExposeStep", "HealthcheckStep", "Heredoc", "ImageConfig", "InlineFile", "Instructions",
    "LabelStep", "Lexer", "Location", "MaintainerStep", "Matcher", "Mount", "Node", "OnbuildStep", "RunStep",
    "ShellStep", "Source", "StagePlan", "Step", "StopSignalStep", "UserStep", "VolumeStep", "WorkdirStep",
    "apply_step", "context_files", "load", "load_ignore", "matcher", "parse", "parse_file", "plan",
    "read_patterns",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vessel.build' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vessel.build.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from vessel.build.config import ImageConfig, apply_step
    from vessel.build.dockerignore import Matcher, context_files, load_ignore, matcher, read_patterns
    from vessel.build.errors import DockerfileError, ExpansionError
    from vessel.build.expand import Lexer
    from vessel.build.instructions import Instructions, load
    from vessel.build.mounts import Mount
    from vessel.build.parser import Dockerfile, Heredoc, Node, parse, parse_file
    from vessel.build.plan import BuildPlan, StagePlan, plan
    from vessel.build.steps import (
        ArgStep, CmdStep, CopyStep, EntrypointStep, EnvStep, ExposeStep, HealthcheckStep, InlineFile, LabelStep,
        Location, MaintainerStep, OnbuildStep, RunStep, ShellStep, Source, Step, StopSignalStep, UserStep,
        VolumeStep, WorkdirStep,
    )
