"""The back half of ``vessel build``: walk a BuildPlan, run and cache its steps, name the image.

    builder = Builder(store, root, progress)
    result = builder.build(text, "Dockerfile", context_dir, BuildOptions(tags=("app:1",)),
                           dockerfile_path=Path("Dockerfile"))

Per stage: start from the base (an image of the store, bootstrapped for
``busybox`` and ``debian:<suite>``; ``scratch``; or an earlier stage's
result), then for each step compute its cache key (``cache.py``); on a hit
reuse the recorded layer; otherwise RUN (``runner.py``), COPY/ADD
(``copystep.py``) or WORKDIR in an overlay of the current layers and commit
the upper dir as a layer (nothing changed: no layer, as BuildKit).  Config
steps only change the config.  Every step adds a history entry.  The target
stage's result is stored and tagged last, so a failed build tags nothing.

Progress is reported as the classic builder shows it (``Step 2/5 : COPY ...``,
`` ---> Using cache``, `` ---> Running in ...``, `` ---> <id>``); the caller
prints ``Successfully built/tagged`` (``progress.built``) once it has the
result.  The id after a step is its intermediate state's (its cache key),
after the last one the image's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from vessel.build import memo
from vessel.build.cache import CacheRecord, LayerCache, LayerRef, base_key, step_key
from vessel.build.context import SourceTree, sources_digest
from vessel.build.copystep import CopyTrees, content_digest, copy_step
from vessel.build.dockerignore import load_ignore, matcher
from vessel.build.errors import DockerfileError
from vessel.build.options import BuildOptions, BuildResult, check_network, parse_tags
from vessel.build.parser import parse
from vessel.build.plan import BuildPlan, StagePlan, plan
from vessel.build.progress import Progress, StepView
from vessel.build.state import RootState
from vessel.build.steps import CopyStep, RunStep, Step, WorkdirStep
from vessel.errors import InvalidArgument, NotFound, VesselError
from vessel.image.changes import format_time
from vessel.image.reference import parse_reference
from vessel.image.store import Image, Store
from vessel.runtime.paths import secure_join

if TYPE_CHECKING:
    from vessel.build.runner import RunTools

# What only runs when a step is executed (runner, mounts, overlays) is imported when it is
# needed: a fully cached rebuild loads none of it.


class BuildError(VesselError):
    """A step failed: the message starts with the Dockerfile and line (``Dockerfile:3: ...``)."""

    cli_exit_code = 1

    def __init__(self, where: str, message: str, *, hint: str | None = None, **fields: object) -> None:
        super().__init__(f"{where}: {message}", hint=hint, where=where, **fields)


def default_runtime() -> tuple[str, ...]:
    exe = Path(sys.executable).with_name("vessel-runtime")
    return (str(exe),) if exe.exists() else (sys.executable, "-m", "vessel.runtime.cli")


class Builder:
    """Builds Dockerfiles into ``store``; build state lives under ``<root>/build``."""

    def __init__(self, store: Store, root: Path, progress: Progress, *, runtime: tuple[str, ...] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.root = Path(root)
        self.dir = self.root / "build"
        self.cache = LayerCache(self.dir / "steps")
        self.progress = progress
        self.runtime = runtime or default_runtime()
        self.clock = clock
        self._images: dict[str, Image] = {}
        self.recorder = memo.Recorder()

    # -- entry point ----------------------------------------------------------------------------

    def build(self, text: str, name: str, context_dir: Path, opts: BuildOptions,
              dockerfile_path: Path | None = None, *, use_memo: bool = True) -> BuildResult:
        """Build, or answer from the build memo when nothing changed (``use_memo``, not with --no-cache)."""
        tags = parse_tags(opts.tags)
        check_network(opts.network)
        if not Path(context_dir).is_dir():
            raise NotFound(f"unable to prepare context: path {str(context_dir)!r} not found", path=str(context_dir))
        key = memo.memo_key(text, name, context_dir, dockerfile_path, opts.build_args, opts.target, opts.labels,
                            opts.platform)
        if use_memo and not opts.no_cache:
            hit = memo.replay(self.store, self.dir, key, context_dir, dockerfile_path, tags, self.progress)
            if hit is not None:
                return BuildResult(hit.image, tuple(str(t) for t in tags), hit.cached, 0, hit.warnings,
                                   from_memo=True)
        self.recorder = memo.Recorder()
        self._images.clear()  # references are resolved again for each build
        df = parse(text, name)
        patterns, source = load_ignore(context_dir, dockerfile_path)
        ignore = matcher(patterns)
        self.recorder.ignore, self.recorder.ignore_file = patterns, str(source) if source else None
        bp = plan(df, dict(opts.build_args), opts.target, base_config_lookup=self._lookup, context_ignore=ignore,
                  platform=opts.platform)
        for warning in bp.warnings:
            self.progress.warn(warning)
        run = _Run(self, bp, SourceTree(context_dir, ignore), opts)
        with self.store.using_blobs(), run:
            state = run.build_all()
            image = self.store.commit_image(state.image_config(dict(opts.labels)), list(state.layers), tags)
            run.finish(image.id)
        memo.save(self.dir, key, image.id, self.recorder, run.shown, list(bp.warnings))
        return BuildResult(image, tuple(str(t) for t in tags), run.cached, run.executed, bp.warnings)

    # -- base images ----------------------------------------------------------------------------

    def image(self, ref: str) -> Image:
        """The image ``ref`` names, bootstrapping busybox and debian:<suite> on first use."""
        if ref not in self._images:
            found = self.store.find(ref)
            self._images[ref] = found if found is not None else self._bootstrap(ref)
        image = self._images[ref]
        self.recorder.base(ref, image.id)
        return image

    def _bootstrap(self, ref: str) -> Image:
        parsed = parse_reference(ref)
        if parsed.name == "docker.io/library/debian" and parsed.tag and not parsed.digest:
            return self.store.ensure_base(f"debian:{parsed.tag}")
        return self.store.get(ref, bootstrap=True)

    def _lookup(self, ref: str, platform: str | None) -> dict:
        return self.store.config_dict(self.image(ref).id)


class _Run:
    """One build in progress: stage results, mounted views, temp dirs."""

    def __init__(self, builder: Builder, bp: BuildPlan, context: SourceTree, opts: BuildOptions) -> None:
        self.b = builder
        self.bp = bp
        self.context = context
        self.opts = opts
        self.states: dict[int, RootState] = {}
        self.views: dict[str, Path] = {}
        self.stack = contextlib.ExitStack()
        self.work = builder.dir / "tmp"  # replaced by this build's own dir on enter
        self._lock_fd = -1
        self.cached = 0
        self.executed = 0
        self.steps = 0
        self._tools: RunTools | None = None
        # what was shown (the build memo replays it): [{"n", "total", "text", "base", "ids", "notes"}]
        self.shown: list[dict] = []
        self.total = sum(1 + len(st.steps) - st.triggers for st in bp.stages)  # Step N/total
        self.number = 0
        self.pending: tuple[StepView, dict] | None = None  # the last step: its id is the image's
        self.trees = CopyTrees(context, self.stage_tree, self.image_tree, lambda i: self.states[i].identity,
                               lambda ref: builder.image(ref).id, self.scratch, builder.recorder.query)
        self.epoch = _source_date_epoch(opts.build_args)

    def __enter__(self) -> "_Run":
        from vessel.build.workspace import claim_workdir

        self.work, self._lock_fd = claim_workdir(self.b.dir / "tmp")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stack.close()
        finally:
            if self._tools is not None:
                self._tools.net.close()  # the network manager, if a bridge RUN made one
            shutil.rmtree(self.work, ignore_errors=True)
            os.close(self._lock_fd)

    # -- views and scratch dirs -----------------------------------------------------------------

    def scratch(self, name: str) -> Path:
        self.steps += 1
        path = self.work / f"{name}-{self.steps}"
        path.mkdir(parents=True)
        return path

    def lowers(self, state: RootState) -> list[Path]:
        if state.chain is None:
            return [self.b.store.snapshots.empty()]
        from vessel.image.layers import chain_ids

        return [self.b.store.snapshots.fs(c) for c in reversed(chain_ids(list(state.diff_ids)))]

    def _view(self, key: str, lowers: list[Path]) -> Path:
        empty = self.b.store.snapshots.empty()
        if all(p == empty for p in lowers):
            return empty  # no layer: nothing to mount
        if key not in self.views:
            from vessel.build.workspace import ReadOnlyView

            target = self.work / "views" / key
            self.stack.enter_context(ReadOnlyView(lowers, target, empty))
            self.views[key] = target
        return self.views[key]

    def stage_root(self, index: int) -> Path:
        return self._view(f"stage-{index}", self.lowers(self.states[index]))

    def image_root(self, ref: str) -> Path:
        image = self.b.image(ref)
        return self._view("image-" + image.id.removeprefix("sha256:")[:16], self.b.store.rootfs_layers(image))

    def stage_tree(self, index: int) -> SourceTree:
        return SourceTree(self.stage_root(index), None, what=f"stage {self.bp.stage(index).display_name}")

    def image_tree(self, ref: str) -> SourceTree:
        return SourceTree(self.image_root(ref), None, what=f"image {ref}")

    @property
    def tools(self) -> "RunTools":
        """What RUN steps share, made on the first RUN (Docker's seccomp profile resolved once)."""
        if self._tools is None:
            from vessel.build.network import BuildNetwork
            from vessel.build.runmounts import MountSources
            from vessel.build.runner import RunTools
            from vessel.oci.defaults import default_seccomp

            sources = MountSources(self.b.dir / "cache", self.context, self.stage_root, self.image_root,
                                   self.opts.secrets)
            self._tools = RunTools(self.b.runtime, self.b.dir / "runtime", sources, self.opts.network,
                                   seccomp=default_seccomp(), net=BuildNetwork(self.b.root))
        return self._tools

    # -- stages and steps -------------------------------------------------------------------------

    def build_all(self) -> RootState:
        for stage in self.bp.stages:
            self.states[stage.index] = self.build_stage(stage)
        return self.states[self.bp.target.index]

    def base_state(self, stage: StagePlan) -> RootState:
        if isinstance(stage.base, int):
            parent = self.states[stage.base]
            return RootState(parent.key, stage.base_config, parent.layers, parent.diff_ids, parent.history,
                             parent.created, parent.architecture, parent.os, parent.variant)
        if stage.base == "scratch":
            return RootState(base_key("scratch", ""), stage.base_config)
        image = self.b.image(stage.base)
        self.b.store.rootfs_layers(image)  # unpacks snapshots the store lacks
        cfg = image.config
        return RootState(base_key("image", image.id), stage.base_config, tuple(image.manifest.layers),
                         tuple(image.diff_ids), tuple(cfg.history), cfg.created, cfg.architecture or "amd64",
                         cfg.os or "linux", cfg.variant)

    def show_step(self, text: str, base: bool) -> tuple[StepView, dict]:
        self.number += 1
        entry = {"n": self.number, "total": self.total, "text": text, "base": base, "ids": [], "notes": []}
        self.shown.append(entry)
        return self.b.progress.step(self.number, self.total, text), entry

    def show_done(self, view: StepView, entry: dict, ident: str, last: bool) -> None:
        """`` ---> id``; for the build's last step it waits for the image ID (``finish``)."""
        if last:
            self.pending = (view, entry)
            return
        entry["ids"].append(ident)
        view.done(ident)

    def finish(self, image_id: str) -> None:
        if self.pending is not None:
            view, entry = self.pending
            self.pending = None
            self.show_done(view, entry, image_id, last=False)

    def build_stage(self, stage: StagePlan) -> RootState:
        if stage.platform and stage.platform != self.opts.platform:
            self.b.progress.warn(f"stage {stage.display_name}: platform {stage.platform} is not emulated, "
                                 f"building for {self.opts.platform}")
        final = stage is self.bp.target
        view, entry = self.show_step(stage.original, base=True)
        try:
            state = self.base_state(stage)
        except VesselError as err:
            view.failed(err.message)
            raise
        if isinstance(stage.base, int):
            base_id = self.states[stage.base].key
        else:
            base_id = "" if stage.base == "scratch" else self.b.image(stage.base).id
        self.show_done(view, entry, base_id, last=final and not stage.steps)
        if stage.triggers:
            note = f"# Executing {stage.triggers} build trigger{'s' if stage.triggers > 1 else ''}"
            entry["notes"].append(note)
            view.note(note)
        for n, step in enumerate(stage.steps):
            if n >= stage.triggers:
                view, entry = self.show_step(step.original, base=False)
            state = self.step(step, state, view)
            self.show_done(view, entry, state.key, last=final and n == len(stage.steps) - 1)
        return state

    def step(self, step: Step, state: RootState, view: StepView) -> RootState:
        try:
            content = self.content(step)
            key = step_key(state.key, step.cache_key_material(), content)
            record = None if self.opts.no_cache else self.valid_record(key, state)
            if record is not None:
                self.cached += 1
                view.cached()
                return state.advance(step, key, record.layer, record.created)
            created = format_time(self.b.clock())
            layer = self.execute(step, state, view) if step.creates_layer else None
        except VesselError as err:
            view.failed(err.message)
            raise _located(step, err) from err
        self.b.cache.put(key, CacheRecord(created, layer))
        self.executed += 1
        return state.advance(step, key, layer, created)

    def content(self, step: Step) -> str:
        """What, besides the instruction, a step's result depends on: its COPY sources or RUN bind mounts."""
        if isinstance(step, CopyStep):
            return content_digest(step, self.trees)
        if not isinstance(step, RunStep):
            return ""
        parts = []
        for m in step.mounts:
            if m.type != "bind":
                continue  # cache, tmpfs and secret contents are not part of the key (as in BuildKit)
            if m.from_stage is not None:
                parts.append("stage:" + self.states[m.from_stage].identity)
            elif m.from_image is not None:
                parts.append("image:" + self.b.image(m.from_image).id)
            else:
                digest = sources_digest(self.context, [m.source or "."])
                self.b.recorder.query([m.source or "."], False, [], digest)
                parts.append(digest)
        return " ".join(parts)

    def valid_record(self, key: str, state: RootState) -> CacheRecord | None:
        record = self.b.cache.get(key)
        if record is None or record.layer is None:
            return record
        from vessel.image.layers import next_chain_id

        store = self.b.store
        if not store.blobs.has(record.layer.digest):
            return None
        if store.snapshots.meta(next_chain_id(state.chain, record.layer.diff_id)) is None:
            return None
        return record

    def execute(self, step: Step, state: RootState, view: StepView) -> LayerRef | None:
        from vessel.build.runner import new_container_id, run_step
        from vessel.build.workspace import StepRoot, commit_layer

        lowers = self.lowers(state)
        root = StepRoot(lowers, self.scratch("step"))
        try:
            with root:
                if isinstance(step, RunStep):
                    cid = new_container_id()
                    view.running(cid)
                    run_step(step, root, self.tools, root.base / "run", view.output, container_id=cid)
                    view.removed(cid)
                elif isinstance(step, CopyStep):
                    copy_step(step, root.merged, self.trees, int(self.b.clock() * 1e9))
                elif isinstance(step, WorkdirStep):
                    make_workdir(root.merged, step.path, step.user)
            return commit_layer(self.b.store, root.upper, state.chain, lowers, mtime=self.epoch)
        finally:
            root.cleanup()


def _located(step: Step, err: VesselError) -> VesselError:
    if isinstance(err, DockerfileError):
        return err
    return BuildError(str(step.loc), err.message, hint=err.hint, line=step.loc.line, cause=type(err).__name__)


def make_workdir(merged: Path, path: str, user: str) -> None:
    """WORKDIR: ``mkdir -p``, new directories owned by the stage's USER (BuildKit)."""
    from vessel.build.users import user_in_root

    ids = user_in_root(user, merged) if user else None
    current = "/"
    for comp in [c for c in path.split("/") if c]:
        current = current.rstrip("/") + "/" + comp
        real = secure_join(str(merged), current)
        if os.path.isdir(real):
            continue
        if os.path.lexists(real):
            raise InvalidArgument(f"WORKDIR {path}: {current} exists and is not a directory", path=path)
        os.mkdir(real, 0o755)
        if ids is not None:
            os.chown(real, ids.uid, ids.gid)


def _source_date_epoch(build_args: Mapping[str, str]) -> int | None:
    value = build_args.get("SOURCE_DATE_EPOCH")
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidArgument(f"SOURCE_DATE_EPOCH must be a number of seconds, got {value!r}", value=value)
    return int(value)
