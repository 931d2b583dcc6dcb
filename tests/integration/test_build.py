"""vessel build against the real kernel: Dockerfiles built from busybox into a store, then run with vessel-runtime.

Each test has its own vessel root under tmp_path; the builder runs in this process (its overlays are
mounted here and always unmounted; a test checks none is left).  RUN steps are on the root's own default
bridge (made by the first RUN, removed with everything the root's network made when the test ends).
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from vessel.build.executor import BuildError, BuildOptions, Builder, BuildResult
from vessel.build.progress import RecordingProgress
from vessel.build.runmounts import MountSources
from vessel.build.runner import RunFailed, RunTools, run_step
from vessel.build.options import Secret
from vessel.build.steps import Location, RunStep
from vessel.build.workspace import StepRoot
from vessel.build.context import SourceTree
from vessel.engine.engine import network_config
from vessel.image import Store
from vessel.network import plan
from vessel.network.manager import NetworkManager
from vessel.oci.defaults import default_seccomp

pytestmark = pytest.mark.integration


class Env:
    """A vessel root, a context directory and helpers to build and run."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "root"
        self.ctx = tmp / "ctx"
        self.ctx.mkdir()
        self.store = Store(self.root)
        self.progress = RecordingProgress()

    def write(self, files: dict[str, str | bytes]) -> None:
        for rel, data in files.items():
            path = self.ctx / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data if isinstance(data, bytes) else data.encode())

    def build(self, dockerfile: str, **opts) -> BuildResult:
        self.progress = RecordingProgress()
        builder = Builder(self.store, self.root, self.progress)
        return builder.build(dockerfile, "Dockerfile", self.ctx, BuildOptions(**opts), self.ctx / "Dockerfile")

    def steps(self) -> list[tuple[str, str]]:
        """(instruction, how it went) for each ``Step N/M : ...`` shown: from, cached, ran."""
        out: list[tuple[str, str]] = []
        for n, line in enumerate(self.progress.lines):
            match = re.match(r"^Step \d+/\d+ : (.*)$", line)
            if match is None:
                continue
            text = match.group(1)
            after = self.progress.lines[n + 1] if n + 1 < len(self.progress.lines) else ""
            how = "from" if text.upper().startswith("FROM ") else "cached" if after == " ---> Using cache" else "ran"
            out.append((text, how))
        return out

    def cached(self) -> list[str]:
        return [text for text, how in self.steps() if how == "cached"]

    def executed(self) -> list[str]:
        return [text for text, how in self.steps() if how == "ran"]

    def headers(self) -> list[str]:
        return [line for line in self.progress.lines if line.startswith("Step ")]

    def run(self, image, argv: list[str] | None = None) -> str:
        """Run the image's command (or ``argv``) with vessel-runtime, like `vessel run --rm`; its output."""
        cfg = image.config.config
        argv = argv if argv is not None else [*(cfg.entrypoint or []), *(cfg.cmd or [])]
        step = RunStep(loc=Location("run", 0, 0), original="run", argv=tuple(argv), shell_form=False,
                       env=tuple(cfg.env or ()), workdir=cfg.working_dir or "/", user=cfg.user or "")
        out = bytearray()
        work = self.root / "run-tmp"
        sources = MountSources(self.root / "cache", SourceTree(self.ctx), lambda i: Path("/"), lambda r: Path("/"), {})
        tools = RunTools(Builder(self.store, self.root, self.progress).runtime, self.root / "rt", sources,
                         network="none", seccomp=default_seccomp())
        root = StepRoot(self.store.rootfs_layers(image), work)
        try:
            with root:
                run_step(step, root, tools, work / "run", out.extend)
        except RunFailed as err:
            raise AssertionError(f"{err}; output:\n{out.decode()}") from err
        finally:
            root.cleanup()
        return out.decode()


@pytest.fixture
def env(tmp_path: Path):
    e = Env(tmp_path)
    yield e
    if (e.root / "network").exists():  # the root's bridge, its nftables table and leases
        with NetworkManager(e.root, config=network_config(e.root)) as mgr:
            leftover = list(mgr.store.read().endpoints)
            mgr.purge()
        assert leftover == [], "the build left network endpoints behind"
    with open("/proc/self/mountinfo") as f:
        leaked = [line for line in f if str(tmp_path) in line]
    assert leaked == [], "the build left mounts behind"


def test_multi_stage_heredoc_and_copy_from_into_scratch(env: Env) -> None:
    env.write({"msg.txt": "hello from the context\n"})
    result = env.build("""\
FROM busybox AS build
WORKDIR /out
COPY msg.txt .
RUN <<EOF
set -e
cat msg.txt > combined
echo "built in $(pwd)" >> combined
EOF
RUN <<EOF
#!/bin/sh
echo "script via shebang" >> /out/combined
EOF

FROM scratch
COPY --from=build /bin/busybox /bin/busybox
COPY --from=build /out/combined /app/
ENTRYPOINT ["/bin/busybox"]
CMD ["cat", "/app/combined"]
""", tags=("multi:1",))
    image = env.store.get("multi:1")
    assert image.id == result.image.id and len(image.diff_ids) == 2  # scratch + two COPY layers
    assert env.run(image) == "hello from the context\nbuilt in /out\nscript via shebang\n"
    history = [h.created_by for h in image.config.history]
    assert history == ["COPY /bin/busybox /bin/busybox # buildkit", "COPY /out/combined /app/ # buildkit",
                       'ENTRYPOINT ["/bin/busybox"]', 'CMD ["cat" "/app/combined"]']
    assert [bool(h.empty_layer) for h in image.config.history] == [False, False, True, True]
    assert env.headers() == [
        "Step 1/10 : FROM busybox AS build", "Step 2/10 : WORKDIR /out", "Step 3/10 : COPY msg.txt .",
        "Step 4/10 : RUN <<EOF", "Step 5/10 : RUN <<EOF", "Step 6/10 : FROM scratch",
        "Step 7/10 : COPY --from=build /bin/busybox /bin/busybox", "Step 8/10 : COPY --from=build /out/combined /app/",
        'Step 9/10 : ENTRYPOINT ["/bin/busybox"]', 'Step 10/10 : CMD ["cat", "/app/combined"]']
    assert env.cached() == [] and env.progress.lines[-1] == f" ---> {image.id[7:19]}"
    running = env.progress.lines[env.progress.lines.index("Step 4/10 : RUN <<EOF") + 1]
    assert running.startswith(" ---> Running in ")
    assert "Removing intermediate container " + running.split()[-1] in env.progress.lines


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o644, 33, 33
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_context_ignore_globs_add_tar_env_workdir_user(env: Env) -> None:
    env.write({"src/a.py": "a", "src/b.py": "b", "src/c.txt": "c", "src/cache/x.pyc": "x", ".env": "SECRET=1",
               "vendor.tar.gz": tar_of({"lib/v.txt": b"vendored"}), ".dockerignore": ".env\n**/*.pyc\n"})
    image = env.build("""\
FROM busybox
ENV APP_ENV=production GREETING="hi there"
WORKDIR /app
COPY src/*.py ./py/
COPY . /ctx/
ADD vendor.tar.gz /opt/vendor/
RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group
COPY --chown=app:app --chmod=600 src/c.txt /app/owned.txt
USER app
WORKDIR data
CMD ["sh", "-c", "pwd; id -u; id -g; echo $APP_ENV $GREETING; ls /app/py; ls -A /ctx; cat /opt/vendor/lib/v.txt"]
""", tags=("ctx:1",)).image
    lines = env.run(image).splitlines()
    assert lines == ["/app/data", "1000", "1000", "production hi there", "a.py", "b.py",
                     ".dockerignore", "src", "vendor.tar.gz", "vendored"]
    listing = env.run(image, ["sh", "-c", "ls /ctx/src /ctx/src/cache; stat -c '%u:%g %a' /app/owned.txt "
                                          "/app/data /opt/vendor/lib/v.txt"]).splitlines()
    assert listing[:4] == ["/ctx/src:", "a.py", "b.py", "c.txt"]  # src/cache only held an ignored file
    assert listing[-3:] == ["1000:1000 600", "1000:1000 755", "33:33 644"]
    cfg = image.config.config
    assert cfg.user == "app" and cfg.working_dir == "/app/data"
    assert cfg.env[-2:] == ["APP_ENV=production", "GREETING=hi there"]


DOCKERFILE_CACHE = """\
FROM busybox AS build
WORKDIR /src
COPY first.txt ./
RUN cat first.txt > out
COPY second.txt ./
RUN cat second.txt >> out
FROM busybox
COPY --from=build /src/out /out
LABEL stage=final
CMD ["cat", "/out"]
"""


def test_cache_hits_then_invalidation_from_the_changed_copy(env: Env) -> None:
    env.write({"first.txt": "1\n", "second.txt": "2\n"})
    cold = env.build(DOCKERFILE_CACHE, tags=("cache:1",))
    assert cold.cached == 0
    started = time.monotonic()
    warm = env.build(DOCKERFILE_CACHE, tags=("cache:1",))
    elapsed = time.monotonic() - started
    assert warm.executed == 0 and warm.image.id == cold.image.id  # same config, same ID
    assert env.cached() == [
        "WORKDIR /src", "COPY first.txt ./", "RUN cat first.txt > out", "COPY second.txt ./",
        "RUN cat second.txt >> out", "COPY --from=build /src/out /out", "LABEL stage=final", 'CMD ["cat", "/out"]']
    assert env.executed() == [] and "Running in" not in "\n".join(env.progress.lines)
    assert elapsed < 1.0, f"a fully cached build took {elapsed:.2f}s"
    os.utime(env.ctx / "second.txt", (1, 1))  # a new mtime alone does not invalidate
    assert env.build(DOCKERFILE_CACHE, tags=("cache:1",)).executed == 0
    (env.ctx / "second.txt").write_text("two\n")
    changed = env.build(DOCKERFILE_CACHE, tags=("cache:1",))
    assert env.executed() == ["COPY second.txt ./", "RUN cat second.txt >> out", "COPY --from=build /src/out /out",
                              "LABEL stage=final", 'CMD ["cat", "/out"]']
    assert env.cached() == ["WORKDIR /src", "COPY first.txt ./", "RUN cat first.txt > out"]
    assert env.run(changed.image) == "1\ntwo\n"
    nocache = env.build(DOCKERFILE_CACHE, no_cache=True)
    assert nocache.cached == 0 and env.cached() == [] and len(env.executed()) == 8


def test_target_and_build_args(env: Env) -> None:
    dockerfile = """\
ARG BASE=busybox
FROM $BASE AS tools
ARG FLAVOR=plain
RUN echo "flavor=$FLAVOR" > /flavor
FROM tools AS test
RUN echo testing > /tested
FROM busybox AS release
COPY --from=tools /flavor /flavor
CMD ["cat", "/flavor"]
"""
    result = env.build(dockerfile, target="tools", build_args={"FLAVOR": "spicy"}, tags=("t:tools",))
    assert env.headers() == ["Step 1/3 : FROM $BASE AS tools", "Step 2/3 : ARG FLAVOR=plain",
                             'Step 3/3 : RUN echo "flavor=$FLAVOR" > /flavor']
    assert env.run(result.image, ["cat", "/flavor"]) == "flavor=spicy\n"
    release = env.build(dockerfile, build_args={"FLAVOR": "spicy"}, tags=("t:release",))
    assert "Step 4/6 : FROM busybox AS release" in env.headers()  # the test stage is not needed: 3 + 3 steps
    assert "FROM tools AS test" not in "\n".join(env.headers())
    assert 'RUN echo "flavor=$FLAVOR" > /flavor' in env.cached()
    assert env.run(release.image) == "flavor=spicy\n"
    env.build(dockerfile, build_args={"FLAVOR": "mild"}, tags=("t:mild",))
    assert 'RUN echo "flavor=$FLAVOR" > /flavor' in env.executed()  # the ARG changed
    assert env.run(env.store.get("t:mild")) == "flavor=mild\n"
    assert env.store.get("t:release").id != env.store.get("t:mild").id


def test_onbuild_fires_in_a_child_build(env: Env) -> None:
    env.build("FROM busybox\nONBUILD RUN echo fired > /onbuild\nONBUILD COPY note.txt /note\n", tags=("parent:1",))
    assert env.store.get("parent:1").config.config.on_build == ["RUN echo fired > /onbuild", "COPY note.txt /note"]
    env.write({"note.txt": "from the child context\n"})
    child = env.build("FROM parent:1\nRUN cat /onbuild /note\n", tags=("child:1",)).image
    assert env.run(child, ["cat", "/onbuild", "/note"]) == "fired\nfrom the child context\n"
    assert not child.config.config.on_build  # triggers are not passed on
    assert "# Executing 2 build triggers" in env.progress.lines
    assert "fired" in env.progress.lines and "from the child context" in env.progress.lines  # RUN output


def test_failing_run_reports_the_command_and_tags_nothing(env: Env) -> None:
    with pytest.raises(BuildError) as err:
        env.build("FROM busybox\nRUN echo visible output\nRUN echo about to fail && exit 3\nCMD [\"sh\"]\n",
                  tags=("broken:1",))
    assert str(err.value) == ("Dockerfile:3: The command '/bin/sh -c echo about to fail && exit 3' returned a "
                              "non-zero code: 3")
    lines = env.progress.lines
    assert lines[lines.index("Step 3/4 : RUN echo about to fail && exit 3"):] == [
        "Step 3/4 : RUN echo about to fail && exit 3", lines[lines.index("about to fail") - 1], "about to fail"]
    assert lines[lines.index("about to fail") - 1].startswith(" ---> Running in ")
    assert sum(line.startswith("Removing intermediate container") for line in lines) == 1  # the first RUN only
    assert env.store.find("broken:1") is None
    assert not any((env.root / "build" / "tmp").iterdir())


def test_run_mounts_network_and_secrets(env: Env) -> None:
    env.write({"data/input.txt": "bound\n", "data/hidden.txt": "no", ".dockerignore": "data/hidden.txt\n"})
    dockerfile = """\
FROM busybox
RUN --mount=type=cache,target=/var/cache/app,id=appcache echo run >> /var/cache/app/runs && wc -l < /var/cache/app/runs > /runs
RUN --mount=type=bind,source=data,target=/mnt ls /mnt > /bound && cat /mnt/input.txt >> /bound
RUN --mount=type=tmpfs,target=/scratch touch /scratch/junk && ls /scratch > /tmpfs
RUN --mount=type=secret,id=token --mount=type=secret,id=token,env=TOKEN cat /run/secrets/token > /secret-copy && echo >> /secret-copy && echo "$TOKEN" >> /secret-copy
RUN --network=none sh -c 'grep -c : /proc/net/dev > /net-none'
RUN grep -c : /proc/net/dev > /net-default
"""
    opts = dict(secrets={"token": Secret("token", b"s3cret")}, tags=("mounts:1",))
    image = env.build(dockerfile, **opts).image
    out = env.run(image, ["sh", "-c", "cat /runs /bound /tmpfs /secret-copy /net-none; ls -A /scratch /mnt "
                                      "/var/cache/app /run/secrets 2>&1; true"])
    lines = out.splitlines()
    assert lines[:6] == ["1", "input.txt", "bound", "junk", "s3cret", "s3cret"]
    assert lines[6] == "1"  # only lo in a new network namespace
    assert int(env.run(image, ["cat", "/net-default"])) == 2  # lo and eth0 on the bridge
    assert out.count("No such file or directory") == 4  # mount points left nothing in the image
    env.build(dockerfile, no_cache=True, **opts)
    assert env.run(env.store.get("mounts:1"), ["cat", "/runs"]) == "2\n"  # the cache mount persisted
    assert (env.root / "build" / "cache" / "appcache" / "runs").read_text() == "run\nrun\n"
    with pytest.raises(BuildError, match="secret token not found"):
        env.build("FROM busybox\nRUN --mount=type=secret,id=token,required=true true\n")


def test_build_memo_answers_unchanged_rebuilds_and_steps_aside_otherwise(env: Env) -> None:
    env.write({"app.txt": "v1\n", "mounted/data.txt": "m1\n", "notes.md": "ignored\n", ".dockerignore": "*.md\n"})
    dockerfile = """\
FROM busybox
COPY app.txt /app.txt
RUN --mount=type=bind,source=mounted,target=/m cat /m/data.txt > /from-mount
CMD ["cat", "/app.txt", "/from-mount"]
"""
    first = env.build(dockerfile, tags=("memo:1",))
    assert not first.from_memo
    again = env.build(dockerfile, tags=("memo:1", "memo:again"))
    assert again.from_memo and again.image.id == first.image.id
    assert sorted(str(t) for t in env.store.get("memo:again").tags) == [
        "docker.io/library/memo:1", "docker.io/library/memo:again"]
    (env.ctx / "notes.md").write_text("still ignored\n")
    assert env.build(dockerfile, tags=("memo:1",)).from_memo
    edited = env.build(dockerfile + "# a comment changes the text, not the steps\n", tags=("memo:1",))
    assert not edited.from_memo and edited.executed == 0 and edited.image.id == first.image.id
    env.store.remove("memo:1")
    env.store.remove("memo:again")  # the store's gc removes the layers too (as docker rmi of a classic build)
    rebuilt = env.build(dockerfile, tags=("memo:1",))
    assert not rebuilt.from_memo and rebuilt.executed == 2  # COPY and RUN again: their layers were collected
    assert env.run(rebuilt.image) == "v1\nm1\n"
    (env.ctx / "mounted" / "data.txt").write_text("m2\n")  # a RUN bind mount's content is part of its key
    changed = env.build(dockerfile, tags=("memo:1",))
    assert not changed.from_memo and env.executed() == [
        "RUN --mount=type=bind,source=mounted,target=/m cat /m/data.txt > /from-mount",
        'CMD ["cat", "/app.txt", "/from-mount"]']
    assert env.run(changed.image) == "v1\nm2\n"


def link_names() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_run_steps_get_the_roots_bridge_and_give_it_back(env: Env) -> None:
    """Default network: an address on the root's default bridge (gateway reachable); host: the builder's
    namespace; afterwards no veth, lease or endpoint is left.  Traffic goes to the bridge's gateway only."""
    before = link_names()
    dockerfile = """\
FROM busybox
RUN ip -o -4 addr show eth0 > /addr && ip route > /route && cat /etc/hosts /etc/resolv.conf > /etc-files
RUN ping -c 1 -W 5 "$(ip route | awk '/^default/ {print $3}')" > /dev/null && echo gateway answered > /ping
RUN --network=host readlink /proc/self/ns/net > /host-ns
"""
    image = env.build(dockerfile, tags=("net:1",)).image
    with NetworkManager(env.root, config=network_config(env.root)) as mgr:
        bridge = mgr.get("bridge")
        endpoints = list(mgr.store.read().endpoints)
    subnet = ipaddress.ip_network(bridge.subnet)
    addr = env.run(image, ["cat", "/addr"]).split()
    assert addr[1] == "eth0" and ipaddress.ip_interface(addr[3]).ip in subnet
    own_ip = str(ipaddress.ip_interface(addr[3]).ip)
    assert f"default via {bridge.gateway} dev eth0" in env.run(image, ["cat", "/route"])
    etc = env.run(image, ["cat", "/etc-files"])
    assert f"{own_ip}\tbuildkitsandbox" in etc and "nameserver" in etc
    assert env.run(image, ["cat", "/ping"]) == "gateway answered\n"
    assert env.run(image, ["cat", "/host-ns"]).strip() == os.readlink("/proc/self/ns/net")
    # nothing left: no endpoint, no veth (the bridge itself stays, as the engine's does)
    assert endpoints == []
    # only this root's links count (tagged with its alias prefix): other roots' veths may still be
    # going away in the kernel while this test runs
    with NetworkManager(env.root, config=network_config(env.root)) as mgr:
        ours = set(mgr.kernel.tagged_links(plan.alias_prefix(mgr.tag)))
    new_links = (link_names() - before) & ours
    assert new_links <= {bridge.bridge}, f"links left behind: {sorted(new_links)}"
    master = subprocess.run(["ip", "-o", "link", "show", "master", bridge.bridge], capture_output=True, text=True,
                            check=True).stdout
    assert master.strip() == "", "a veth is still on the bridge"


def test_build_network_none_and_a_failing_step_release_everything(env: Env) -> None:
    env.build("FROM busybox\nRUN grep -c : /proc/net/dev > /count\n", network="none", tags=("none:1",))
    assert env.run(env.store.get("none:1"), ["cat", "/count"]) == "1\n"  # lo only
    assert not (env.root / "network").exists()  # --network none never touched the bridge
    with pytest.raises(BuildError, match="returned a non-zero code: 9"):
        env.build("FROM busybox\nRUN ip -o addr show eth0 && exit 9\n")
    assert any(re.search(r"inet \d+\.\d+\.\d+\.\d+/\d+", line) for line in env.progress.lines)
    with NetworkManager(env.root, config=network_config(env.root)) as mgr:
        assert list(mgr.store.read().endpoints) == []  # released although the step failed


def test_a_dead_builders_lease_is_swept_by_the_next_build(env: Env) -> None:
    """A builder killed mid-RUN leaves a lease whose /proc/<pid>/fd/<fd> path is gone; the next bridge RUN
    releases it (veth and lease)."""
    from vessel.build.network import ENDPOINT_PREFIX, BuildNetwork, new_netns

    fd = new_netns()
    holder = subprocess.Popen(["sleep", "60"], pass_fds=(fd,))  # stands for the builder that will die
    try:
        with NetworkManager(env.root, config=network_config(env.root)) as mgr:
            ep = mgr.attach("d" * 64, "bridge", f"/proc/{holder.pid}/fd/{fd}", name=ENDPOINT_PREFIX + "d" * 12)
        assert ep.host_veth in link_names()
    finally:
        holder.kill()
        holder.wait()
    net = BuildNetwork(env.root)
    try:
        net.manager  # noqa: B018  (the first bridge RUN of a build makes it, which sweeps)
        assert list(net.manager.store.read().endpoints) == []
        assert ep.host_veth not in link_names()
    finally:
        net.close()
        os.close(fd)
