"""The shell: one container's cgroup directories, and the kernel calls on them."""

from __future__ import annotations

import errno
import os
import signal
import time

from vessel.errors import Conflict, InvalidArgument, SystemFailure, Unsupported
from vessel.oci.resources import Resources
from vessel.runtime.cgroups import fs, tree
from vessel.runtime.cgroups.convert import as_limit
from vessel.runtime.cgroups.layout import UNIFIED, Layout
from vessel.runtime.cgroups.model import Current, Target, Write
from vessel.runtime.cgroups.paths import cgroup_paths
from vessel.runtime.cgroups.plan import plan_target
from vessel.runtime.cgroups.stats import read_stats


def _sleep_step(step: float) -> float:
    time.sleep(step)
    return min(step * 2, 0.02)


class Manager:
    """A container's cgroups: `paths` maps each v1 controller (and "unified") to its directory.

    `paths` is all the state there is: it is saved with the container and
    `from_paths` re-opens it in a later process (update, pause, kill, delete).
    """

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths: dict[str, str] = dict(paths)
        self._created: list[str] = []  # directories this instance made, parents included, top-down
        self._foreign = False  # create() found someone else's processes here: never kill or remove them

    @classmethod
    def open(cls, layout: Layout, path: str) -> "Manager":
        return cls(cgroup_paths(layout, path))

    @classmethod
    def from_paths(cls, paths: dict[str, str]) -> "Manager":
        if not isinstance(paths, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.startswith("/")
                                                  for k, v in paths.items()):
            raise InvalidArgument(f"saved cgroup paths are not a map of names to absolute directories: {paths!r}",
                                  hint="the container's state file is damaged; delete --force removes it")
        return cls(paths)

    def __repr__(self) -> str:
        return f"Manager({self.paths!r})"

    # -- where things are -------------------------------------------------------------------------------------

    def directories(self) -> list[str]:
        """Each distinct directory once: v1 hierarchies by name, the unified one last."""
        seen: list[str] = []
        for key in sorted(self.paths, key=lambda k: (k == UNIFIED, k)):
            if self.paths[key] not in seen:
                seen.append(self.paths[key])
        return seen

    def unified_controllers(self) -> frozenset[str]:
        """Controllers usable in the unified directory (its cgroup.controllers, minus v1-bound ones)."""
        u = self.paths.get(UNIFIED)
        if u is None:
            return frozenset()
        text = fs.read_or(os.path.join(u, "cgroup.controllers"))
        if text is None:  # not created yet: what the parent hands down
            text = fs.read_or(os.path.join(os.path.dirname(u), "cgroup.subtree_control")) or ""
        return frozenset(text.split()) - set(self.paths)

    def _memory_v1(self) -> str | None:
        return self.paths.get("memory")

    # -- create, apply, add -----------------------------------------------------------------------------------

    def create(self) -> list[str]:
        """mkdir the container's directory in every hierarchy (parents too); returns warnings.

        A cgroup that already holds processes belongs to someone else: Conflict, and this Manager
        then refuses to kill or remove anything (so a caller's clean-up cannot hit the other user).
        """
        if not self.paths:
            return []
        probe = self.paths.get(UNIFIED) or self.directories()[0]  # another container would be in all of them
        busy = (fs.read_or(os.path.join(probe, "cgroup.procs")) or "").split()
        if busy:
            self._foreign = True
            raise Conflict(f"cgroup {probe} already holds processes ({' '.join(busy[:10])})", path=probe,
                           hint="another container uses this cgroupsPath; give each container its own")
        warnings: list[str] = []
        done: set[str] = set()
        for key in sorted(self.paths, key=lambda k: (k == UNIFIED, k)):
            d = self.paths[key]
            marker = "cgroup.controllers" if key == UNIFIED else "cgroup.procs"
            levels = tree.chain(tree.hierarchy_top(d, marker), d)
            if d not in done:
                self._created.extend(tree.make_dirs(levels[1:]))
                done.add(d)
            if key == "cpuset":
                tree.init_cpuset(levels)
            if key == UNIFIED:
                warnings.extend(tree.enable_controllers(levels, None))
        return warnings

    def target(self, resources: Resources | None = None) -> Target:
        """What `apply` plans against: the live layout of this container's cgroups."""
        mem = self._memory_v1()
        memsw = mem is not None and os.path.exists(os.path.join(mem, "memory.memsw.limit_in_bytes"))
        current = Current()
        wants = resources is not None and resources.memory is not None and (
            resources.memory.limit or resources.memory.swap)
        if mem is not None and wants:
            current = Current(memory_limit=as_limit(fs.read_int(os.path.join(mem, "memory.limit_in_bytes"))),
                              memsw_limit=as_limit(fs.read_int(os.path.join(mem, "memory.memsw.limit_in_bytes")))
                              if memsw else None)
        return Target(paths=dict(self.paths), unified_controllers=self.unified_controllers(), memsw=memsw,
                      current=current)

    def apply(self, resources: Resources) -> list[str]:
        """Plan and write `resources`; returns warnings. A failed write raises SystemFailure."""
        self._check_before_update(resources)
        plan = plan_target(self.target(resources), resources)
        warnings = list(plan.warnings)
        for w in plan.writes:
            self._write(w, warnings)
        return warnings

    def _check_before_update(self, resources: Resources) -> None:
        mem = resources.memory
        if mem is None or not mem.check_before_update or not mem.limit or mem.limit < 0:
            return
        usage = self.stats()["memory"]["usage"]
        if usage is not None and usage > mem.limit:
            raise InvalidArgument(f"memory limit {mem.limit} is below the container's current usage {usage}",
                                  limit=mem.limit, usage=usage, hint="checkBeforeUpdate is set; free memory first")

    def _write(self, w: Write, warnings: list[str]) -> None:
        for file, value in ((w.file, w.value), *w.alternatives):
            path = os.path.join(w.directory, file)
            try:
                fs.write_raw(path, value)
                return
            except FileNotFoundError:
                continue
            except OSError as err:
                raise SystemFailure.from_os_error(f"failed to write {value!r} to {path}", err, path=path,
                                                  value=value, hint=fs.hint_for(err)) from err
        if not os.path.isdir(w.directory):
            raise SystemFailure(f"failed to write {w.value!r} to {w.path}: the cgroup does not exist", path=w.path,
                                value=w.value, hint="the container's cgroup was removed; is the container deleted?")
        if w.if_missing is None:
            tried = ", ".join([w.file, *(f for f, _v in w.alternatives)])
            raise SystemFailure(f"failed to write {w.value!r} to {w.path}: no such file (tried {tried})",
                                path=w.path, value=w.value, hint=fs.hint_for(OSError(errno.ENOENT, "")))
        if w.if_missing:
            warnings.append(w.if_missing)

    def add(self, pid: int) -> None:
        """Move process `pid` into every hierarchy."""
        for d in self.directories():
            fs.write(os.path.join(d, "cgroup.procs"), str(pid))

    # -- processes ----------------------------------------------------------------------------------------------

    def pids(self) -> list[int]:
        """Every process in the container's cgroups, sub-cgroups included, sorted."""
        found: set[int] = set()
        for d in self.directories():
            for root, _dirs, _files in os.walk(d):
                text = fs.read_or(os.path.join(root, "cgroup.procs")) or ""
                found.update(int(p) for p in text.split())
        return sorted(found)

    def kill_all(self, sig: int) -> None:
        """Send `sig` to every process. SIGKILL goes through cgroup.kill where the kernel has it,
        else the cgroup is frozen while signalled so no process forks out of reach."""
        self._refuse_if_foreign("signal")
        u = self.paths.get(UNIFIED)
        used_kill_file = False
        if sig == signal.SIGKILL and u is not None and os.path.exists(os.path.join(u, "cgroup.kill")):
            fs.write(os.path.join(u, "cgroup.kill"), "1")
            used_kill_file = True
        freeze_around = sig == signal.SIGKILL and not used_kill_file and self._freezer() is not None
        was_frozen = self.frozen() if freeze_around else False
        if freeze_around and not was_frozen:
            try:
                self.freeze()
            except SystemFailure:
                freeze_around = False  # signal anyway; a stuck process must not stop the kill
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
                except OSError as err:
                    raise SystemFailure.from_os_error(f"cannot send signal {sig} to pid {pid}", err, pid=pid) from err
        finally:
            if freeze_around:
                self.thaw()

    def _refuse_if_foreign(self, what: str) -> None:
        if self._foreign:
            raise Conflict(f"will not {what} the processes or cgroups in {self.directories()[0]}: they were there "
                           "before this container", hint="they belong to another container or program")

    # -- freezer ------------------------------------------------------------------------------------------------

    def _freezer(self) -> tuple[int, str] | None:
        if "freezer" in self.paths:
            return 1, self.paths["freezer"]
        u = self.paths.get(UNIFIED)
        if u is not None and os.path.exists(os.path.join(u, "cgroup.freeze")):
            return 2, u
        return None

    def _need_freezer(self) -> tuple[int, str]:
        fz = self._freezer()
        if fz is None:
            raise Unsupported(f"no freezer for cgroup {self.paths}: neither a v1 freezer hierarchy nor cgroup.freeze",
                              hint="mount the v1 freezer controller, or use cgroup v2 (Linux 5.2+)")
        return fz

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every process, and return once the kernel reports the cgroup frozen."""
        version, d = self._need_freezer()
        state_file = "freezer.state" if version == 1 else "cgroup.freeze"
        value = "FROZEN" if version == 1 else "1"
        deadline = time.monotonic() + timeout
        step = 0.0005
        fs.write(os.path.join(d, state_file), value)
        while not self._is_frozen(version, d):
            if time.monotonic() > deadline:
                self.thaw()
                raise SystemFailure(f"cgroup {d} did not freeze within {timeout:g}s", path=d,
                                    hint="a process may be stuck in uninterruptible sleep (D state)")
            step = _sleep_step(step)
            if version == 1:
                fs.write(os.path.join(d, state_file), value)  # re-asking retries tasks that were not freezable

    def thaw(self) -> None:
        version, d = self._need_freezer()
        if version == 1:
            fs.write(os.path.join(d, "freezer.state"), "THAWED")
        else:
            fs.write(os.path.join(d, "cgroup.freeze"), "0")

    @staticmethod
    def _is_frozen(version: int, d: str) -> bool:
        if version == 1:
            return (fs.read_or(os.path.join(d, "freezer.state")) or "").strip() == "FROZEN"
        return fs.read_keyed(os.path.join(d, "cgroup.events")).get("frozen") == 1

    def frozen(self) -> bool:
        """True when the container is paused (v1 FROZEN; v2 freeze requested). False when there is no freezer
        or the cgroup is gone."""
        fz = self._freezer()
        if fz is None:
            return False
        version, d = fz
        if version == 1:
            return self._is_frozen(1, d)
        return (fs.read_or(os.path.join(d, "cgroup.freeze")) or "0").strip() == "1"

    # -- stats, destroy ------------------------------------------------------------------------------------------

    def stats(self) -> dict:
        """memory (usage, max_usage, limit, oom_kills), cpu (usage_ns...), pids (current, limit), in bytes/ns."""
        return read_stats(self.paths, self.unified_controllers())

    def destroy(self, timeout: float = 5.0) -> None:
        """rmdir the container's directories (sub-cgroups first), waiting while exiting tasks drain,
        then the parents this instance created if nothing else uses them."""
        self._refuse_if_foreign("remove")
        deadline = time.monotonic() + timeout
        for d in self.directories():
            subtree = [root for root, _dirs, _files in os.walk(d, topdown=False)]
            for x in subtree or [d]:
                self._rmdir_wait(x, deadline)
        leaves = set(self.directories())
        for d in reversed(self._created):
            if d in leaves:
                continue
            try:
                os.rmdir(d)
            except OSError as err:
                if err.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
                    raise SystemFailure.from_os_error(f"cannot remove cgroup {d}", err, path=d) from err
        self._created = []

    def _rmdir_wait(self, d: str, deadline: float) -> None:
        step = 0.0005
        while True:
            try:
                os.rmdir(d)
                return
            except FileNotFoundError:
                return
            except OSError as err:
                if err.errno not in (errno.EBUSY, errno.ENOTEMPTY) or time.monotonic() > deadline:
                    left = (fs.read_or(os.path.join(d, "cgroup.procs")) or "").split()
                    raise SystemFailure.from_os_error(
                        f"cannot remove cgroup {d}", err, path=d, pids=" ".join(left),
                        hint=f"processes still inside: {' '.join(left[:10])}; kill them first" if left else None,
                    ) from err
            step = _sleep_step(step)

