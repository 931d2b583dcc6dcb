"""The planner: ARG scoping, expansion per instruction, stages, ONBUILD, steps and cache keys."""

from __future__ import annotations

import pytest

from vessel.build import steps as s
from vessel.build.dockerignore import matcher
from vessel.build.errors import DockerfileError
from vessel.build.parser import parse
from vessel.build.plan import BuildPlan, plan

pytestmark = pytest.mark.unit

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _plan(text: str, args: dict | None = None, target: str | None = None, **kw) -> BuildPlan:
    return plan(parse(text), args, target, **kw)


def _steps(text: str, args: dict | None = None, **kw) -> tuple:
    return _plan(text, args, **kw).target.steps


def _run_env(step: s.Step) -> dict[str, str]:
    assert isinstance(step, s.RunStep)
    return dict(item.split("=", 1) for item in step.env)


# ----- ARG scoping (Dockerfile reference examples) -----

def test_arg_before_from_only_in_from() -> None:
    bp = _plan("ARG CODE_VERSION=latest\nFROM base:${CODE_VERSION}\nCMD /code/run-app\n"
               "FROM extras:${CODE_VERSION}\nCMD /code/run-extras\n")
    assert bp.target.base == "extras:latest"
    assert [st.index for st in bp.stages] == [1]  # stage 0 is not needed by the target


def test_arg_redeclared_inside_stage_gets_global_default() -> None:
    steps = _steps("ARG VERSION=latest\nFROM busybox:$VERSION\nARG VERSION\nRUN echo $VERSION > image_version\n"
                   "ENV V1=$VERSION\n")
    assert steps[0].pairs == (("VERSION", "latest"),)
    assert _run_env(steps[1])["VERSION"] == "latest"
    assert steps[2].pairs == (("V1", "latest"),)


def test_global_arg_not_visible_without_redeclaring() -> None:
    steps = _steps("ARG VERSION=1\nFROM busybox\nENV V=${VERSION:-unset}\n")
    assert steps[0].pairs == (("V", "unset"),)


def test_build_arg_overrides_default_in_both_scopes() -> None:
    bp = _plan("ARG VERSION=1\nFROM busybox:$VERSION\nARG VERSION\nARG USER=some_user\nENV U=$USER V=$VERSION\n",
               {"VERSION": "2", "USER": "what_user"})
    assert bp.target.base == "busybox:2"
    assert bp.target.steps[2].pairs == (("U", "what_user"), ("V", "2"))


def test_arg_used_before_its_declaration_is_empty() -> None:
    steps = _steps("FROM busybox\nUSER ${username:-some_user}\nARG username\nUSER $username\n",
                   {"username": "what_user"})
    assert [st.user for st in steps if isinstance(st, s.UserStep)] == ["some_user", "what_user"]


def test_env_after_arg_wins() -> None:
    steps = _steps("FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\nRUN echo $CONT_IMG_VER\n",
                   {"CONT_IMG_VER": "v2.0.1"})
    assert _run_env(steps[2])["CONT_IMG_VER"] == "v1.0.0"


def test_env_from_arg_with_default() -> None:
    text = "FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\nRUN echo $CONT_IMG_VER\n"
    assert _run_env(_steps(text)[2])["CONT_IMG_VER"] == "v1.0.0"
    assert _run_env(_steps(text, {"CONT_IMG_VER": "v2.0.1"})[2])["CONT_IMG_VER"] == "v2.0.1"


def test_arg_values_are_in_run_env_but_not_in_image_config() -> None:
    bp = _plan("FROM busybox\nARG A=1\nRUN true\n")
    assert _run_env(bp.target.steps[1])["A"] == "1"
    assert bp.target.config.env == (PATH,)
    assert bp.target.steps[1].build_args == ("A=1",)
    assert bp.target.steps[1].created_by() == "RUN |1 A=1 /bin/sh -c true # buildkit"


def test_arg_default_expands_earlier_args_and_env() -> None:
    steps = _steps("FROM busybox\nENV BASE=/opt\nARG DIR=$BASE/app OTHER=\"x y\"\nWORKDIR $DIR\n")
    assert steps[1].pairs == (("DIR", "/opt/app"), ("OTHER", "x y"))
    assert steps[2].path == "/opt/app"


def test_arg_without_value_stays_unset() -> None:
    steps = _steps("FROM busybox\nARG NOVALUE\nENV X=${NOVALUE-unset}\n")
    assert steps[0].pairs == (("NOVALUE", None),)
    assert steps[1].pairs == (("X", "unset"),)


def test_platform_args_global_and_redeclared() -> None:
    bp = _plan("FROM --platform=$BUILDPLATFORM golang:$TARGETARCH AS b\nARG TARGETPLATFORM TARGETOS TARGETARCH "
               "TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH\nRUN echo\n")
    assert bp.target.base == "golang:amd64" and bp.target.platform == "linux/amd64"
    env = _run_env(bp.target.steps[1])
    assert {k: env[k] for k in ("TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", "BUILDPLATFORM",
                                "BUILDOS", "BUILDARCH")} == {
        "TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64", "TARGETVARIANT": "",
        "BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux", "BUILDARCH": "amd64"}
    steps = _steps("FROM busybox\nENV T=${TARGETARCH:-none}\n")
    assert steps[0].pairs == (("T", "none"),)


def test_proxy_args_reach_run_without_declaration_but_not_history_or_cache() -> None:
    text = "FROM busybox\nRUN wget x\n"
    plain = _steps(text)[0]
    proxied = _steps(text, {"HTTP_PROXY": "http://proxy:3128", "no_proxy": "localhost"})[0]
    assert "HTTP_PROXY=http://proxy:3128" in proxied.proxy_env and "http_proxy=http://proxy:3128" in proxied.proxy_env
    assert "NO_PROXY=localhost" in proxied.proxy_env
    assert "HTTP_PROXY" not in _run_env(proxied)
    assert proxied.cache_key_material() == plain.cache_key_material()
    assert proxied.created_by() == plain.created_by()
    assert _plan(text, {"HTTP_PROXY": "x"}).warnings == ()


def test_unused_build_arg_warns() -> None:
    bp = _plan("ARG USED_IN_FROM=x\nFROM busybox\nARG USED\n", {"USED": "1", "USED_IN_FROM": "2", "ZZZ": "3",
                                                                "AAA": "4"})
    assert bp.warnings == ("[Warning] One or more build-args [AAA ZZZ] were not consumed",)


def test_stage_inherits_env_and_args_from_stage_base() -> None:
    bp = _plan("FROM busybox AS base\nARG A=1\nENV E=2\nFROM base\nRUN echo\n")
    env = _run_env(bp.target.steps[0])
    assert env["A"] == "1" and env["E"] == "2"
    assert bp.target.base == 0


# ----- per-instruction expansion -----

def test_env_both_syntaxes_and_config() -> None:
    bp = _plan('FROM busybox\nENV MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog MY_CAT=fluffy\nENV LEGACY value with "quotes"\n'
               "ENV ABC=hello\nENV ABC=bye DEF=$ABC\nENV GHI=$ABC\n")
    steps = bp.target.steps
    assert steps[0].pairs == (("MY_NAME", "John Doe"), ("MY_DOG", "Rex The Dog"), ("MY_CAT", "fluffy"))
    assert steps[1].pairs == (("LEGACY", "value with quotes"),)
    assert steps[3].pairs == (("ABC", "bye"), ("DEF", "hello"))  # same-line values use the old value
    assert steps[4].pairs == (("GHI", "bye"),)
    assert bp.target.config.env == (PATH, "MY_NAME=John Doe", "MY_DOG=Rex The Dog", "MY_CAT=fluffy",
                                    "LEGACY=value with quotes", "ABC=bye", "DEF=hello", "GHI=bye")


def test_run_cmd_entrypoint_are_not_expanded_and_use_shell() -> None:
    bp = _plan('FROM busybox\nENV X=1\nRUN echo $X\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN echo $X | cat\n'
               'RUN ["echo", "$X"]\nCMD echo $X\nENTRYPOINT ["/bin/app", "$X"]\n')
    steps = bp.target.steps
    assert steps[1].argv == ("/bin/sh", "-c", "echo $X")
    assert steps[3].argv == ("/bin/bash", "-o", "pipefail", "-c", "echo $X | cat")
    assert steps[4].argv == ("echo", "$X") and not steps[4].shell_form
    assert bp.target.config.cmd == steps[5].cmd  # CMD set in this stage survives a later ENTRYPOINT
    assert steps[5].cmd == ("/bin/bash", "-o", "pipefail", "-c", "echo $X")


def test_entrypoint_resets_inherited_cmd_only() -> None:
    lookup = {"img": {"config": {"Cmd": ["sh"], "Env": ["A=1"]}}}
    bp = _plan("FROM img\nENTRYPOINT [\"/e\"]\n", base_config_lookup=lambda ref, _p: lookup.get(ref))
    assert bp.target.config.cmd is None and bp.target.config.entrypoint == ("/e",)
    bp = _plan("FROM img\nCMD [\"c\"]\nENTRYPOINT [\"/e\"]\n", base_config_lookup=lambda ref, _p: lookup.get(ref))
    assert bp.target.config.cmd == ("c",)


def test_workdir_relative_and_expanded() -> None:
    steps = _steps("FROM busybox\nWORKDIR /a\nWORKDIR b\nWORKDIR c\nRUN pwd\nENV DIRPATH=/path\n"
                   "WORKDIR $DIRPATH/$DIRNAME\n")
    assert [st.path for st in steps if isinstance(st, s.WorkdirStep)] == ["/a", "/a/b", "/a/b/c", "/path/"]
    assert steps[3].workdir == "/a/b/c"
    assert steps[0].creates_layer and not s.WorkdirStep(loc=steps[0].loc, original="", path="/").creates_layer


def test_workdir_from_base_image() -> None:
    bp = _plan("FROM golang\nWORKDIR src\nCOPY . .\n",
               base_config_lookup=lambda ref, p: {"WorkingDir": "/go", "Env": ["GOPATH=/go", "PATH=/go/bin"]})
    assert bp.target.steps[0].path == "/go/src"
    assert (bp.target.steps[1].dest, bp.target.steps[1].dest_is_dir) == ("/go/src/", True)
    assert bp.target.config.env == ("GOPATH=/go", "PATH=/go/bin")  # PATH kept from the base


COPY_CASES = [
    # (workdir, instruction, dest, dest_is_dir, sources)
    ("/", "COPY test.txt relativeDir/", "/relativeDir/", True, ("test.txt",)),
    ("/app", "COPY test.txt relativeDir/", "/app/relativeDir/", True, ("test.txt",)),
    ("/app", "COPY test.txt /absoluteDir/", "/absoluteDir/", True, ("test.txt",)),
    ("/app", "COPY a.txt renamed", "/app/renamed", False, ("a.txt",)),
    ("/app", "COPY hom* /mydir/", "/mydir/", True, ("hom*",)),
    ("/app", "COPY hom?.txt .", "/app/", True, ("hom?.txt",)),
    ("/app", 'COPY ["file with space", "/dst dir/"]', "/dst dir/", True, ("file with space",)),
    ("/app", "COPY $SRC ${DST}/", "/srv/", True, ("src.txt",)),
    ("/app", "COPY arr[[]0].txt /mydir/", "/mydir/", True, ("arr[[]0].txt",)),
    ("/app", "COPY a ../up/", "/up/", True, ("a",)),
]


@pytest.mark.parametrize(("workdir", "line", "dest", "is_dir", "sources"), COPY_CASES)
def test_copy_destinations(workdir: str, line: str, dest: str, is_dir: bool, sources: tuple) -> None:
    step = _steps(f"FROM busybox\nENV SRC=src.txt DST=/srv\nWORKDIR {workdir}\n{line}\n")[2]
    assert isinstance(step, s.CopyStep)
    assert (step.dest, step.dest_is_dir) == (dest, is_dir)
    assert tuple(src.path for src in step.sources) == sources


def test_copy_flags_expanded() -> None:
    step = _steps("FROM busybox\nARG U=app CH=0755 EX=*.md\nCOPY --chown=$U:$U --chmod=$CH --exclude=$EX . /app/\n")[1]
    assert (step.chown, step.chmod, step.mode, step.excludes) == ("app:app", "0755", 0o755, ("*.md",))
    sym = _steps("FROM busybox\nCOPY --chmod=u+x,g=rx a /a\n")[0]
    assert (sym.chmod, sym.mode) == ("u+x,g=rx", None)


def test_copy_heredoc_expansion() -> None:
    step = _steps("FROM busybox\nARG NAME=world\nCOPY <<EOF <<'RAW' /dst/\nhello \"$NAME\" \\$HOME\nEOF\n"
                  "hello $NAME\nRAW\n")[1]
    assert step.inline == (s.InlineFile("EOF", 'hello "world" $HOME\n'), s.InlineFile("RAW", "hello $NAME\n"))
    assert step.created_by() == "COPY <<EOF <<RAW /dst/ # buildkit"


def test_add_sources_classified() -> None:
    step = _steps("FROM busybox\nADD https://example.com/big.tar.xz https://github.com/moby/buildkit.git#v0.10.1 "
                  "git@github.com:user/repo.git local.tar.gz /dst/\n")[0]
    assert [src.kind for src in step.sources] == ["url", "git", "git", "context"]
    checked = _steps("FROM busybox\nADD --checksum=sha256:" + "a" * 64 + " https://x.org/f.tgz /\n")[0]
    assert checked.checksum.startswith("sha256:")


@pytest.mark.parametrize(("line", "reason"), [
    ("COPY https://example.com/x /x", "source can't be a URL for COPY"),
    ("COPY git@github.com:a/b.git /x", "source can't be a git ref for COPY"),
    ("COPY a b /dir", "When using COPY with more than one source file, the destination must be a directory"),
    ("ADD --checksum=sha256:" + "a" * 64 + " local.tar /", "checksum can't be specified for non-HTTP(S) sources"),
    ("ADD --checksum=sha256:abc https://x/f /", "invalid checksum digest length"),
    ("ADD --checksum=md5:abc https://x/f /", "unsupported digest algorithm"),
    ("COPY --chmod=8888 a /a", "invalid chmod parameter: '8888'"),
    ("ENV =x", "ENV names can not be blank"),
    ("LABEL \"\"=x", "LABEL names can not be blank"),
    ("VOLUME $NOPE", "VOLUME specified can not be an empty string"),
    ("STOPSIGNAL SIGBOGUS", "Invalid signal: SIGBOGUS"),
    ("STOPSIGNAL 0", "Invalid signal: 0"),
    ("EXPOSE 80/ftp", "invalid proto: ftp"),
    ("EXPOSE abc", "invalid containerPort: abc"),
    ("ENV X=${NOPE:?required}", "NOPE: required"),
    ("WORKDIR \"unterminated", "unexpected end of statement while looking for matching double-quote"),
    ("RUN --mount=type=nfs,target=/x x", 'unsupported mount type "nfs"'),
    ("RUN --mount=type=cache x", "mount target required"),
    ("COPY --from=nonexistent-$X a b", "'from' doesn't support variable expansion"),
    ("COPY --from=Bad:Ref a b", "invalid from flag value Bad:Ref: invalid reference format"),
    ("COPY --from=9 a b", "invalid stage index 9"),
])
def test_plan_errors_point_at_the_line(line: str, reason: str) -> None:
    with pytest.raises(DockerfileError) as err:
        _plan(f"FROM busybox\n{line}\n")
    assert err.value.line == 2
    assert reason in err.value.reason
    assert str(err.value).startswith("Dockerfile:2: ")


def test_expose_label_volume_user_stopsignal() -> None:
    bp = _plan("FROM busybox\nARG P=8080\nEXPOSE 80/tcp 53/udp $P 7000-7002/sctp 127.0.0.1:9000:90\n"
               'LABEL "com.example.vendor"="ACME Incorporated" version=1.0 multi.label1="value1"\n'
               'VOLUME ["/data"]\nVOLUME /var/log /var/db\nUSER patrick:staff\nSTOPSIGNAL SIGKILL\n')
    cfg = bp.target.config.to_dict()
    assert cfg["ExposedPorts"] == {p: {} for p in ["53/udp", "7000/sctp", "7001/sctp", "7002/sctp", "80/tcp",
                                                   "8080/tcp", "90/tcp"]}
    assert cfg["Labels"] == {"com.example.vendor": "ACME Incorporated", "version": "1.0", "multi.label1": "value1"}
    assert cfg["Volumes"] == {"/data": {}, "/var/db": {}, "/var/log": {}}
    assert (cfg["User"], cfg["StopSignal"]) == ("patrick:staff", "SIGKILL")


def test_expose_splits_expanded_words() -> None:
    step = _steps("FROM busybox\nENV PORTS=\"80 443\"\nEXPOSE $PORTS\n")[1]
    assert step.ports == ("80/tcp", "443/tcp")


def test_healthcheck_shell_maintainer_onbuild_stored() -> None:
    bp = _plan('FROM busybox\nMAINTAINER Jane <j@x.org>\nHEALTHCHECK --interval=30s CMD true\n'
               'SHELL ["powershell", "-command"]\nONBUILD ADD . /app/src\nONBUILD RUN /usr/local/bin/build --dir /app\n')
    cfg = bp.target.config
    assert cfg.author == "Jane <j@x.org>" and not cfg.labels
    assert cfg.to_dict()["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000}
    assert cfg.shell == ("powershell", "-command")
    assert cfg.onbuild == ("ADD . /app/src", "RUN /usr/local/bin/build --dir /app")


def test_run_heredoc_forms() -> None:
    steps = _steps("FROM busybox\nRUN <<EOF\napt-get update\nEOF\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n"
                   "RUN python3 <<EOF\nprint(2)\nEOF\nRUN <<-EOF\n\techo tab\n\tEOF\n")
    assert steps[0].argv == ("/bin/sh", "-c", "apt-get update\n")
    assert steps[1].argv == ("/bin/sh", "-c", "/dev/pipes/EOF")
    assert steps[1].files == (s.InlineFile("EOF", "#!/usr/bin/env python3\nprint(1)\n", 0o755),)
    assert steps[2].argv == ("/bin/sh", "-c", "python3 <<EOF\nprint(2)\nEOF")
    assert steps[3].argv == ("/bin/sh", "-c", "echo tab\n")


def test_run_mounts_network_security() -> None:
    bp = _plan("FROM busybox AS deps\nRUN true\nFROM busybox\nWORKDIR /src\nARG CACHE=/root/.cache\n"
               "RUN --network=none --security=insecure --mount=type=cache,target=$CACHE "
               "--mount=type=bind,from=deps,source=/x,target=in --mount=type=secret,id=tok true\n")
    run = bp.target.steps[2]
    assert (run.network, run.security) == ("none", "insecure")
    cache, bind, secret = run.mounts
    assert (cache.type, cache.target, cache.id) == ("cache", "/root/.cache", "/root/.cache")
    assert (bind.target, bind.from_stage, bind.readonly) == ("/src/in", 0, True)
    assert (secret.target, secret.id) == ("/run/secrets/tok", "tok")
    assert [st.index for st in bp.stages] == [0, 1]


# ----- stages -----

MULTI = """\
FROM golang:1.22 AS build
WORKDIR /src
RUN go build -o /bin/hello ./main.go

FROM alpine AS unused
RUN echo never

FROM build AS test
RUN go test ./...

FROM scratch
COPY --from=build /bin/hello /bin/hello
CMD ["/bin/hello"]
"""


def test_only_needed_stages_in_order() -> None:
    bp = _plan(MULTI)
    assert [(st.index, st.name, st.base) for st in bp.stages] == [(0, "build", "golang:1.22"), (3, None, "scratch")]
    assert bp.target.steps[0].from_stage == 0
    assert bp.step_count() == 3 + 3  # each FROM counts as a step


def test_target_selects_stage_and_its_base() -> None:
    bp = _plan(MULTI, target="TEST")
    assert [(st.index, st.base) for st in bp.stages] == [(0, "golang:1.22"), (2, 0)]
    assert bp.target.name == "test"


def test_copy_from_index_and_image() -> None:
    bp = _plan("FROM alpine\nRUN a\nFROM alpine\nCOPY --from=0 /a /a\nCOPY --from=nginx:latest /etc/nginx/nginx.conf "
               "/nginx.conf\n")
    copy0, copy_img = bp.target.steps
    assert (copy0.from_stage, copy0.sources[0].kind) == (0, "stage")
    assert (copy_img.from_image, copy_img.sources[0].kind) == ("nginx:latest", "image")


@pytest.mark.parametrize(("text", "target", "line", "reason"), [
    ("FROM a AS x\nCOPY --from=x /a /a\n", None, 2, "circular dependency detected on stage: x"),
    ("FROM a AS x\nCOPY --from=y /a /a\nFROM b AS y\n", "x", 2,
     'cannot copy from stage "y", it needs to be defined before current stage "x"'),
    ("FROM a\n", "nope", 0, 'target stage "nope" could not be found'),
    ("ARG IMG\nFROM $IMG\n", None, 2, "base name ($IMG) should not be blank"),
    ("FROM Alpine\n", None, 1, "repository name must be lowercase"),
    ("FROM --platform=bogus/os/x/y a\n", None, 1, "failed to parse platform"),
    ("ARG X=${Y:?no}\nFROM a\n", None, 1, "Y: no"),
])
def test_stage_errors(text: str, target: str | None, line: int, reason: str) -> None:
    with pytest.raises(DockerfileError) as err:
        _plan(text, target=target)
    assert err.value.line == line
    assert reason in err.value.reason


def test_errors_in_unneeded_stages_do_not_matter() -> None:
    bp = _plan("FROM a AS broken\nENV X=${NOPE:?boom}\nFROM b\nRUN ok\n")
    assert [st.index for st in bp.stages] == [1]


def test_from_scratch_and_stage_name_case() -> None:
    bp = _plan("FROM scratch AS Base\nENV A=1\nFROM base\nRUN x\n")
    assert [st.base for st in bp.stages] == ["scratch", 0]
    assert bp.stages[0].config.env == (PATH, "A=1")


# ----- ONBUILD -----

def test_onbuild_triggers_from_image_run_first() -> None:
    configs = {"parent:1": {"config": {"OnBuild": ["ADD . /app/src", "RUN /usr/local/bin/python-build --dir $DIR"],
                                       "Env": ["DIR=/app/src"]}}}
    bp = _plan("FROM parent:1\nRUN own\n", base_config_lookup=lambda ref, _p: configs.get(ref))
    steps = bp.target.steps
    assert bp.target.triggers == 2
    assert [type(st).__name__ for st in steps] == ["CopyStep", "RunStep", "RunStep"]
    assert steps[0].trigger and steps[1].trigger and not steps[2].trigger
    assert steps[0].dest == "/app/src" and steps[0].loc.line == 1
    assert steps[1].argv == ("/bin/sh", "-c", "/usr/local/bin/python-build --dir $DIR")
    assert bp.target.config.onbuild == ()  # triggers are not inherited further


def test_onbuild_triggers_from_stage_and_expanded_in_child() -> None:
    bp = _plan("FROM busybox AS base\nONBUILD COPY $SRC /x/\nFROM base\n", {})
    child = bp.target
    assert child.triggers == 1 and child.steps[0].sources[0].path == ""
    bp = _plan("FROM busybox AS base\nENV SRC=app\nONBUILD COPY $SRC /x/\nFROM base\n")
    assert bp.target.steps[0].sources[0].path == "app"


def test_onbuild_trigger_dependencies_pull_in_stages() -> None:
    configs = {"parent": {"config": {"OnBuild": ["COPY --from=assets /a /a"]}}}
    bp = _plan("FROM busybox AS assets\nRUN make\nFROM busybox AS other\nFROM parent\n",
               base_config_lookup=lambda ref, _p: configs.get(ref))
    assert [st.index for st in bp.stages] == [0, 2]


def test_bad_onbuild_trigger_in_image() -> None:
    configs = {"parent": {"OnBuild": ["FROM x"]}}
    with pytest.raises(DockerfileError) as err:
        _plan("ARG X\nFROM parent\n", base_config_lookup=lambda ref, _p: configs.get(ref))
    assert err.value.line == 2 and "onbuild trigger" in err.value.reason


# ----- cache keys, history, ignore warnings -----

def test_cache_key_material_tracks_what_matters() -> None:
    text = "FROM busybox\nARG V\nRUN make\nCOPY a /a\n"
    one = _plan(text, {"V": "1"}).target.steps
    two = _plan(text, {"V": "2"}).target.steps
    moved = _plan("FROM busybox\n\n\nARG V\nRUN make\nCOPY a /a\n", {"V": "1"}).target.steps
    assert one[1].cache_key_material() != two[1].cache_key_material()  # ARG values are in RUN's env
    assert one[2].cache_key_material() == two[2].cache_key_material()
    assert [st.cache_key_material() for st in one] == [st.cache_key_material() for st in moved]
    assert b'"kind":"RUN"' in one[1].cache_key_material()


def test_created_by_like_buildkit() -> None:
    steps = _steps('FROM busybox\nENV A=1 B="x y"\nCMD ["sh"]\nEXPOSE 80\nWORKDIR /w\nUSER u\n'
                   "COPY --chown=1:1 a b /d/\n")
    assert [st.created_by() for st in steps] == [
        "ENV A=1 B=x y", 'CMD ["sh"]', "EXPOSE map[80/tcp:{}]", "WORKDIR /w", "USER u",
        "COPY --chown=1:1 a b /d/ # buildkit"]


def test_copy_of_ignored_file_warns() -> None:
    ignore = matcher(["*.md", "secret/"])
    bp = _plan("FROM busybox\nCOPY README.md secret/key ok.txt /dst/\n", context_ignore=ignore)
    assert [w for w in bp.warnings if "excluded by .dockerignore" in w] == [
        "Dockerfile:2: COPY source 'README.md' is excluded by .dockerignore",
        "Dockerfile:2: COPY source 'secret/key' is excluded by .dockerignore"]
