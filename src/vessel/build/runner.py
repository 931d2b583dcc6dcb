"""RUN steps: the command in a container of the step's root filesystem, run by ``vessel-runtime``.

    cid = new_container_id()
    run_step(step, root, tools, work, output, container_id=cid)     # raises RunFailed on a non-zero exit

The step's overlay (``workspace.StepRoot``) is the container's root; the
bundle (config.json, hosts, resolv.conf, heredoc scripts) lives in ``work``.
The container's network (``network.py``): an endpoint on the default bridge
for the duration of the step (released however the step ends), the host's,
or none.
``vessel-runtime run`` creates, starts, waits and deletes the container; its
output (stdout and stderr together, as docker shows them) is streamed to
``output``.  Mount points the runtime had to create in the root (``/proc``,
``/etc/hosts`` on an image without them, RUN mount targets) are removed from
the upper dir afterwards, as BuildKit removes its mount stubs, so they do not
end up in the layer.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import secrets
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from vessel.build.network import BuildNetwork, SandboxNet, network_for
from vessel.build.runmounts import MountPreparer, MountSources
from vessel.build.runspec import Sandbox, bind, sandbox_spec
from vessel.build.steps import RunStep
from vessel.build.users import user_in_root
from vessel.build.workspace import StepRoot
from vessel.errors import Unsupported, VesselError
from vessel.oci.spec import Seccomp
from vessel.runtime.paths import secure_join

KILL_GRACE = 10.0


class RunFailed(VesselError):
    """A RUN command exited non-zero; the message is the classic builder's."""

    def __init__(self, argv: Sequence[str], code: int) -> None:
        super().__init__(f"The command '{' '.join(argv)}' returned a non-zero code: {code}", exit_code_of=code)
        self.code = code


def new_container_id() -> str:
    """A RUN container's id: 64 hex digits, as docker's (``Running in`` shows the first 12)."""
    return secrets.token_hex(32)


@dataclass
class RunTools:
    """What RUN steps share during a build."""

    runtime: tuple[str, ...]  # the vessel-runtime command
    state_root: Path  # its --root
    sources: MountSources
    network: str = "default"  # the build's --network
    seccomp: Seccomp | None = None
    net: BuildNetwork = field(default_factory=lambda: BuildNetwork(None))  # give it the root for bridge RUNs
    cgroup_parent: str = "/vessel-build"


@dataclass
class MountStubs:
    """Mount points the runtime will create in the root, found before the run and removed after it.

    ``created``: paths missing from the root (``/proc`` on busybox, ``/etc/hosts``...);
    ``parents``: existing directories that hold them (overlayfs copies them up when a stub is
    made inside), with the (mode, uid, gid) they had, so an untouched copy-up can be dropped too.
    """

    created: list[str]
    parents: dict[str, tuple[int, int, int]]

    @classmethod
    def find(cls, root: Path, targets: Sequence[str]) -> "MountStubs":
        created: list[str] = []
        parents: dict[str, tuple[int, int, int]] = {}
        for target in targets:
            current = "/"
            existing: list[str] = []
            for comp in [c for c in target.split("/") if c]:
                current = posixpath.join(current, comp)
                if current in created:
                    continue
                if os.path.lexists(secure_join(str(root), current)):
                    existing.append(current)
                    continue
                created.append(current)
                for parent in existing:  # overlayfs copies every existing ancestor up
                    st = os.lstat(secure_join(str(root), parent))
                    parents[parent] = (st.st_mode, st.st_uid, st.st_gid)
                existing = []
        return cls(created, parents)

    def remove(self, upper: Path, opaque_xattr: str = "trusted.overlay.opaque") -> None:
        """Remove still-empty stubs from the upper dir, deepest first, then untouched copied-up parents."""
        for path in sorted(self.created, key=lambda p: p.count("/"), reverse=True):
            real = upper / path.lstrip("/")
            try:
                st = os.lstat(real)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                with contextlib.suppress(OSError):  # not empty: the command put something there; keep it
                    os.rmdir(real)
            elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.unlink(real)
        for path in sorted(self.parents, key=lambda p: p.count("/"), reverse=True):
            real = upper / path.lstrip("/")
            try:
                st = os.lstat(real)
            except FileNotFoundError:
                continue
            if (stat.S_ISDIR(st.st_mode) and (st.st_mode, st.st_uid, st.st_gid) == self.parents[path]
                    and not os.listdir(real) and not _has_xattr(real, opaque_xattr)):
                os.rmdir(real)


def _has_xattr(path: Path, name: str) -> bool:
    try:
        os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return False
    return True


def run_step(step: RunStep, root: StepRoot, tools: RunTools, work: Path, output: Callable[[bytes], None], *,
             container_id: str | None = None) -> None:
    """Run ``step`` in ``root.merged``; its changes stay in ``root.upper``."""
    if step.security == "insecure":
        raise Unsupported("RUN --security=insecure is not allowed", hint="vessel build has no insecure entitlement")
    mode = network_for(step.network, tools.network)
    user = user_in_root(step.user, root.merged)
    cid = container_id or new_container_id()
    work.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        prepared = MountPreparer(tools.sources, work, stack).prepare(step.mounts)
        _make_cwd(root.merged, step.workdir)
        net = stack.enter_context(tools.net.setup(mode, cid))
        mounts = [*_etc_mounts(work, net), *_pipe_mounts(step, work), *prepared.mounts]
        stubs = MountStubs.find(root.merged, ["/proc", "/sys", "/dev", *(m.destination for m in mounts)])
        box = Sandbox(argv=step.argv, env=(*step.env, *step.proxy_env, *prepared.env), cwd=step.workdir or "/",
                      uid=user.uid, gid=user.gid, additional_gids=user.additional_gids, home=user.home,
                      network=net.mode, netns_path=net.netns_path, extra_mounts=tuple(mounts),
                      seccomp=tools.seccomp, rootfs=str(root.merged), cgroups_path=f"{tools.cgroup_parent}/{cid}")
        bundle = work / "bundle"
        bundle.mkdir(exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(sandbox_spec(box).to_json()))
        try:
            code = _run_runtime(tools, bundle, cid, output)
        finally:
            root.unmount()
            stubs.remove(root.upper)
    if code != 0:
        raise RunFailed(step.argv, code)


def _etc_mounts(work: Path, net: SandboxNet) -> list:
    etc = work / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "hosts").write_text(net.hosts)
    (etc / "resolv.conf").write_text(net.resolv_conf)
    return [bind(str(etc / "resolv.conf"), "/etc/resolv.conf", readonly=False),
            bind(str(etc / "hosts"), "/etc/hosts", readonly=False)]


def _pipe_mounts(step: RunStep, work: Path) -> list:
    """Heredoc scripts with a shebang, as files under /dev/pipes/ (BuildKit's place for them)."""
    out = []
    for n, f in enumerate(step.files):
        path = work / f"pipe-{n}"
        path.write_text(f.data)
        os.chmod(path, f.mode)
        out.append(bind(str(path), "/dev/pipes/" + f.name, readonly=True))
    return out


def _make_cwd(merged: Path, cwd: str) -> None:
    """runc creates a missing working directory; so do we (it stays in the layer, as with docker)."""
    if cwd and cwd != "/":
        path = secure_join(str(merged), cwd)
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o755, exist_ok=True)


def _run_runtime(tools: RunTools, bundle: Path, cid: str, output: Callable[[bytes], None]) -> int:
    argv = [*tools.runtime, "--root", str(tools.state_root), "run", "--bundle", str(bundle), cid]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            output(chunk)
        return proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: kill the container (a shell as pid 1 ignores TERM), then wait
            subprocess.run([*tools.runtime, "--root", str(tools.state_root), "kill", cid, "KILL"],
                           stdin=subprocess.DEVNULL, capture_output=True, check=False)
            try:
                proc.wait(KILL_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if (tools.state_root / cid).exists():
            subprocess.run([*tools.runtime, "--root", str(tools.state_root), "delete", "--force", cid],
                           stdin=subprocess.DEVNULL, capture_output=True, check=False)
