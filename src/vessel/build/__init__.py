"""The pure front half of ``vessel build``: parse -> expand -> plan.

    df = parse_file("Dockerfile")                      # parser.py
    ignore = matcher(load_ignore(ctx, "Dockerfile")[0])  # dockerignore.py
    bp = plan(df, {"VERSION": "1.2"}, target=None,
              base_config_lookup=store_lookup, context_ignore=ignore)
    for stage in bp.stages:                            # dependency order
        for step in stage.steps:                       # RunStep, CopyStep, EnvStep...
            key = hash(parent, step.cache_key_material(), sources...)

Nothing here touches the engine or the image store; see docs/build.md.
"""

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

__all__ = [
    "ArgStep", "BuildPlan", "CmdStep", "CopyStep", "Dockerfile", "DockerfileError", "EntrypointStep", "EnvStep",
    "ExpansionError", "ExposeStep", "HealthcheckStep", "Heredoc", "ImageConfig", "InlineFile", "Instructions",
    "LabelStep", "Lexer", "Location", "MaintainerStep", "Matcher", "Mount", "Node", "OnbuildStep", "RunStep",
    "ShellStep", "Source", "StagePlan", "Step", "StopSignalStep", "UserStep", "VolumeStep", "WorkdirStep",
    "apply_step", "context_files", "load", "load_ignore", "matcher", "parse", "parse_file", "plan",
    "read_patterns",
]
