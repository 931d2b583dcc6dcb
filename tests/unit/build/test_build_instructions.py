"""Instruction-level validation: flags, argument counts, HEALTHCHECK, ONBUILD, mounts."""

from __future__ import annotations

import pytest

from vessel.build import instructions as ins
from vessel.build.errors import DockerfileError
from vessel.build.mounts import parse_mount, resolve_mount
from vessel.build.parser import parse

pytestmark = pytest.mark.unit


def _load(body: str) -> ins.Instructions:
    return ins.load(parse("FROM alpine\n" + body))


def _one(body: str) -> ins.Instr:
    return _load(body).stages[0].instructions[0]


ERRORS = [
    ("RUN --bogus=1 true", "unknown flag: bogus"),
    ("RUN --mout=type=cache,target=/x true", "unknown flag: mout (did you mean mount?)"),
    ("COPY --keep-git-dir a b", "unknown flag: keep-git-dir"),
    ("ADD --parents a b", "unknown flag: parents"),
    ("ENV --x=1 a=b", "unknown flag: x"),
    ("CMD --help", "unknown flag: help"),
    ("COPY --from=a --from=b x y", "duplicate flag specified: from"),
    ("COPY --from x y", "missing a value on flag: from"),
    ("COPY --link= x y", "missing a value on flag: link"),
    ("COPY --link=maybe x y", "expecting boolean value for flag link, not: maybe"),
    ("COPY onlyone", "COPY requires at least two arguments, but only one was provided. Destination could not be determined."),
    ("ADD onlyone", "ADD requires at least two arguments"),
    ("COPY a <<EOF\nx\nEOF", "COPY cannot accept a heredoc as a destination"),
    ("ENV", "ENV requires at least one argument"),
    ("LABEL", "LABEL requires at least one argument"),
    ("ARG", "ARG requires at least one argument"),
    ("ARG =x", "ARG names can not be blank"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ("VOLUME", "VOLUME requires at least one argument"),
    ("WORKDIR", "WORKDIR requires exactly one argument"),
    ("USER", "USER requires exactly one argument"),
    ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
    ("SHELL /bin/bash -c", "SHELL requires the arguments to be in JSON form"),
    ("SHELL", "SHELL requires at least one argument"),
    ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM alpine", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("ONBUILD COPY --bogus a b", "unknown flag: bogus"),
    ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK RUN x", 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK --interval=1us CMD x", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK --timeout=10 CMD x", 'time: missing unit in duration "10"'),
    ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --bogus=1 CMD x", "unknown flag: bogus"),
    ("RUN --network=bridge x", 'unsupported network mode "bridge"'),
    ("RUN --security=weird x", 'unsupported security mode "weird"'),
    ("RUN --mount=type=cache,target=/x,from=$X x", "'from' doesn't support variable expansion"),
    ("FROM a AS 1bad", 'invalid name for build stage: "1bad", name can\'t start with a number or contain symbols'),
    ("FROM a b", "FROM requires either one or three arguments"),
]


@pytest.mark.parametrize(("body", "reason"), ERRORS)
def test_instruction_errors(body: str, reason: str) -> None:
    with pytest.raises(DockerfileError) as err:
        _load(body)
    assert err.value.line == 2
    assert err.value.reason.startswith(reason)


def test_only_arg_before_from() -> None:
    with pytest.raises(DockerfileError) as err:
        ins.load(parse("ARG X\nRUN true\nFROM a\n"))
    assert (err.value.line, err.value.reason) == (2, "no build stage in current context")
    loaded = ins.load(parse("ARG A=1 B\nARG C\nFROM a\n"))
    assert [a.pairs for a in loaded.meta_args] == [(("A", "1"), ("B", None)), (("C", None),)]


def test_from_stage_name_and_platform() -> None:
    loaded = ins.load(parse("FROM --platform=$BUILDPLATFORM golang AS Build\nFROM scratch as final\n"))
    first, second = loaded.stages
    assert (first.name, first.from_.base, first.from_.platform) == ("build", "golang", "$BUILDPLATFORM")
    assert second.name == "final" and second.index == 1


def test_copy_flags_parsed() -> None:
    copy = _one("COPY --from=build --chown=app:app --chmod=644 --link --parents --exclude=*.md --exclude=x a b /dst/")
    assert isinstance(copy, ins.CopyInstr) and not copy.is_add
    assert (copy.from_, copy.chown, copy.chmod, copy.link, copy.parents) == ("build", "app:app", "644", True, True)
    assert copy.excludes == ("*.md", "x") and copy.sources == ("a", "b") and copy.dest == "/dst/"
    add = _one("ADD --keep-git-dir=true --checksum=sha256:abc --link=false https://x/y.git /src")
    assert isinstance(add, ins.CopyInstr) and add.is_add and add.keep_git_dir and not add.link
    assert add.checksum == "sha256:abc"


def test_copy_heredoc_sources() -> None:
    copy = _one("COPY <<-EOF <<'B' /dst/\n\tone\nEOF\n$b\nB")
    assert isinstance(copy, ins.CopyInstr)
    assert copy.sources == ()
    assert [(s.name, s.data, s.expand) for s in copy.inline] == [("EOF", "one\n", True), ("B", "$b\n", False)]


def test_healthcheck_config_shape() -> None:
    hc = _one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1.5s --start-interval=100ms --retries=3 "
              "CMD curl -f http://localhost/ || exit 1")
    assert isinstance(hc, ins.HealthcheckInstr)
    assert hc.as_dict() == {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                            "Interval": 300_000_000_000, "Timeout": 3_000_000_000,
                            "StartPeriod": 1_500_000_000, "StartInterval": 100_000_000, "Retries": 3}
    exec_form = _one('HEALTHCHECK CMD ["/bin/check", "-v"]')
    assert exec_form.as_dict() == {"Test": ["CMD", "/bin/check", "-v"]}  # type: ignore[attr-defined]
    none = _one("HEALTHCHECK none")
    assert none.as_dict() == {"Test": ["NONE"]}  # type: ignore[attr-defined]


def test_onbuild_expression_keeps_heredoc() -> None:
    ob = _one("ONBUILD RUN <<EOF\necho $X\nEOF")
    assert isinstance(ob, ins.OnbuildInstr)
    assert ob.expression == "RUN <<EOF\necho $X\nEOF"
    assert isinstance(ob.trigger, ins.RunInstr)
    again = ins.parse_trigger(ob.expression)
    assert isinstance(again, ins.RunInstr) and again.heredocs[0].content == "echo $X\n"


def test_parse_trigger_rejects() -> None:
    with pytest.raises(ValueError, match="single expression"):
        ins.parse_trigger("RUN a\nRUN b")
    with pytest.raises(ValueError, match="isn't allowed"):
        ins.parse_trigger("FROM x")


def test_duplicate_and_reserved_stage_names_warn() -> None:
    loaded = ins.load(parse("FROM a AS x\nFROM b AS x\nFROM c AS scratch\n"))
    assert any("duplicate stage name 'x'" in w for w in loaded.warnings)
    assert any("stage name 'scratch' is reserved" in w for w in loaded.warnings)


# ----- mounts -----

def _expand(value: str) -> str:
    return value.replace("$T", "/cache")


MOUNTS = [
    ("type=cache,target=/root/.cache", {"type": "cache", "target": "/root/.cache", "readonly": False}),
    ("type=cache,target=$T,id=go,sharing=locked,mode=0700,uid=1000,gid=1000",
     {"type": "cache", "target": "/cache", "id": "go", "sharing": "locked", "mode": 0o700, "uid": 1000, "gid": 1000,
      "readonly": False}),
    ("target=/src", {"type": "bind", "target": "/src", "readonly": True}),
    ("type=bind,source=go.mod,target=go.mod,rw", {"type": "bind", "source": "go.mod", "target": "go.mod",
                                                  "readonly": False}),
    ("type=bind,from=build,src=/out,dst=/in,readonly=false", {"type": "bind", "from_": "build", "source": "/out",
                                                            "target": "/in", "readonly": False}),
    ("type=tmpfs,target=/tmp,size=64m", {"type": "tmpfs", "target": "/tmp", "size": 64 << 20, "readonly": False}),
    ("type=secret,id=aws,target=/root/.aws/credentials,required",
     {"type": "secret", "id": "aws", "target": "/root/.aws/credentials", "required": True}),
    ("type=secret,id=token,env=TOKEN", {"type": "secret", "id": "token", "env": "TOKEN"}),
    ('type=bind,target=/a,"source=x,y"', {"type": "bind", "target": "/a", "source": "x,y"}),
]


@pytest.mark.parametrize(("raw", "expected"), MOUNTS)
def test_mounts(raw: str, expected: dict) -> None:
    mount = parse_mount(raw, _expand)
    for key, value in expected.items():
        assert getattr(mount, key) == value, key


@pytest.mark.parametrize(("raw", "reason"), [
    ("type=bind,target=/x,mode=0644", 'mode not allowed for "bind" type mounts'),
    ("type=tmpfs,target=/x,uid=1", 'uid not allowed for "tmpfs" type mounts'),
    ("type=bind,target=/x,sharing=shared", "invalid cache sharing set for bind mount"),
    ("type=cache,target=/x,sharing=weird", 'unsupported sharing value "weird"'),
    ("type=cache,target=/x,required", "unexpected key 'required' for mount type 'cache'"),
    ("type=bind,target=/x,size=1m", "unexpected key 'size' for mount type 'bind'"),
    ("type=secret,from=x,id=a", "secret mount should not have a from"),
    ("type=secret", "one of source, target required"),
    ("type=secret,id=a,source=b", "both source and id can't be set"),
    ("type=cache,target=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
    ("type=cache,target=/x,ro=maybe", "invalid value for ro: maybe"),
    ("type=cache,target=/x,mode=999", "invalid value 999 for mode"),
    ("type=cache,target", "invalid field 'target' must be a key=value pair"),
])
def test_mount_errors(raw: str, reason: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_mount(raw, _expand)
    assert str(err.value) == reason


def test_mount_defaults() -> None:
    cache = resolve_mount(parse_mount("type=cache,target=build/cache", _expand), "/src")
    assert (cache.target, cache.id, cache.sharing, cache.mode) == ("/src/build/cache", "/src/build/cache", "shared", 0o755)
    secret = resolve_mount(parse_mount("type=secret,id=npmrc", _expand), "/")
    assert (secret.id, secret.target) == ("npmrc", "/run/secrets/npmrc")
    secret = resolve_mount(parse_mount("type=secret,target=/etc/token", _expand), "/")
    assert (secret.id, secret.target) == ("token", "/etc/token")
    with pytest.raises(ValueError, match="mount target required"):
        resolve_mount(parse_mount("type=cache", _expand), "/")
