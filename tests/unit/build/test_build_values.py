"""Value parsers (durations, ports, signals, modes, platforms, references) and the image config."""

from __future__ import annotations

import pytest

from vessel.build import values
from vessel.build.config import ImageConfig, add_env, apply_step, with_default_path
from vessel.build.parser import parse
from vessel.build.plan import plan

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "ns"), [
    ("0", 0), ("30s", 30 * 10**9), ("1m30s", 90 * 10**9), ("1.5h", 5400 * 10**9), ("300ms", 300 * 10**6),
    ("10us", 10_000), ("10µs", 10_000), ("7ns", 7), (".5s", 5 * 10**8), ("-1s", -(10**9)), ("1h0m0s", 3600 * 10**9),
])
def test_durations(text: str, ns: int) -> None:
    assert values.parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "1x", "s", "1.2.3s", "--1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        values.parse_duration(text)


@pytest.mark.parametrize(("spec", "ports"), [
    ("80", ["80/tcp"]), ("80/udp", ["80/udp"]), ("53/UDP", ["53/udp"]), ("132/sctp", ["132/sctp"]),
    ("8000-8002", ["8000/tcp", "8001/tcp", "8002/tcp"]), ("8080:80", ["80/tcp"]),
    ("127.0.0.1:8080:80/udp", ["80/udp"]), ("80/", ["80/tcp"]),
])
def test_port_specs(spec: str, ports: list[str]) -> None:
    assert values.parse_port_spec(spec) == ports


@pytest.mark.parametrize("spec", ["", "/tcp", "70000", "9-1", "a-b", "80/icmp"])
def test_bad_port_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        values.parse_port_spec(spec)


@pytest.mark.parametrize("sig", ["SIGTERM", "TERM", "sigkill", "9", "RTMIN+3", "SIGRTMAX-2", "-1"])
def test_signals(sig: str) -> None:
    values.check_signal(sig)


@pytest.mark.parametrize("sig", ["0", "SIGFOO", "RTMIN+16", ""])
def test_bad_signals(sig: str) -> None:
    with pytest.raises(ValueError, match="Invalid signal"):
        values.check_signal(sig)


@pytest.mark.parametrize(("text", "mode"), [("644", 0o644), ("0755", 0o755), ("7777", 0o7777), ("u+x", None),
                                            ("a=rX,u+w", None)])
def test_chmod(text: str, mode: int | None) -> None:
    assert values.parse_chmod(text) == mode


@pytest.mark.parametrize("text", ["17777", "9", "rwx", "u+q"])
def test_bad_chmod(text: str) -> None:
    with pytest.raises(ValueError, match="invalid chmod parameter"):
        values.parse_chmod(text)


@pytest.mark.parametrize(("text", "platform"), [
    ("linux/amd64", "linux/amd64"), ("linux/x86_64", "linux/amd64"), ("linux/arm64/v8", "linux/arm64"),
    ("linux/arm/v7", "linux/arm/v7"), ("arm64", "linux/arm64"), ("linux", "linux"), ("LINUX/AMD64", "linux/amd64"),
])
def test_platforms(text: str, platform: str) -> None:
    assert values.normalize_platform(text) == platform


@pytest.mark.parametrize("ref", ["alpine", "alpine:3.19", "library/alpine", "docker.io/library/alpine:latest",
                                 "localhost:5000/app:1", "Registry.Example.com/team/app", "app@sha256:" + "a" * 64,
                                 "ghcr.io/a/b/c:v1.2-rc_3"])
def test_good_references(ref: str) -> None:
    values.check_reference(ref)


@pytest.mark.parametrize(("ref", "reason"), [("Alpine", "must be lowercase"), ("a b", "invalid reference format"),
                                             ("a:", "invalid reference format"), ("$X", "invalid reference format")])
def test_bad_references(ref: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        values.check_reference(ref)


def test_image_config_round_trip() -> None:
    raw = {"User": "app", "ExposedPorts": {"80/tcp": {}}, "Env": ["A=1", "PATH=/bin"], "Entrypoint": ["/e"],
           "Cmd": ["c"], "Volumes": {"/data": {}}, "WorkingDir": "/w", "Labels": {"k": "v"}, "StopSignal": "SIGINT",
           "Healthcheck": {"Test": ["NONE"]}, "Shell": ["/bin/bash", "-c"], "OnBuild": ["RUN x"]}
    assert ImageConfig.from_dict(raw).to_dict() == raw
    assert ImageConfig().to_dict() == {}


def test_add_env_and_default_path() -> None:
    assert add_env(("A=1", "B=2"), "A", "3") == ("A=3", "B=2")
    assert add_env(("A=1",), "C", "x=y") == ("A=1", "C=x=y")
    assert with_default_path(ImageConfig()).env[0].startswith("PATH=/usr/local/sbin")
    assert with_default_path(ImageConfig(env=("PATH=/x",))).env == ("PATH=/x",)


def test_apply_steps_reproduces_the_final_config() -> None:
    bp = plan(parse('FROM scratch\nENV A=1\nLABEL x=y\nEXPOSE 80\nVOLUME /v\nCMD ["c"]\nENTRYPOINT ["e"]\n'
                    'WORKDIR /w\nUSER u\nSTOPSIGNAL 9\nHEALTHCHECK NONE\nSHELL ["sh"]\nONBUILD RUN x\n'
                    "MAINTAINER me\nRUN true\n"))
    stage = bp.target
    config = stage.base_config
    for step in stage.steps:
        config = apply_step(config, step)
    assert config == stage.config
    assert config.to_dict()["Cmd"] == ["c"] and config.author == "me"
