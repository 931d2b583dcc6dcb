"""Cache keys and records, the stage state, the RUN container spec, mount stubs and CLI flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vessel.build import parse, plan
from vessel.build.cache import CacheRecord, LayerCache, LayerRef, base_key, step_key
from vessel.build.config import ImageConfig as BuildConfig
from vessel.build.executor import BuildError, parse_tags
from vessel.build.runner import MountStubs, RunFailed
from vessel.build.runspec import Sandbox, bind, hosts_file, process_env, sandbox_spec
from vessel.build.state import RootState
from vessel.cli.build import build_args, labels, read_dockerfile, secrets
from vessel.errors import InvalidArgument, NotFound

pytestmark = pytest.mark.unit


# -- cache -----------------------------------------------------------------------------------------

def test_keys_change_with_every_input() -> None:
    base = base_key("image", "sha256:aa")
    assert base != base_key("image", "sha256:bb") != base_key("scratch", "")
    key = step_key(base, b"RUN a")
    assert key == step_key(base, b"RUN a")
    assert len({key, step_key(base, b"RUN b"), step_key(base_key("scratch", ""), b"RUN a"),
                step_key(base, b"RUN a", "sha256:content")}) == 4
    assert step_key(base, b"ab", "c") != step_key(base, b"a", "bc")  # lengths are part of the hash


def test_cache_records_round_trip_and_damage(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "steps")
    layer = LayerRef("application/vnd.oci.image.layer.v1.tar", "sha256:" + "1" * 64, 42, "sha256:" + "2" * 64)
    cache.put("sha256:k1", CacheRecord("2024-01-01T00:00:00Z", layer))
    cache.put("sha256:k2", CacheRecord("2024-01-02T00:00:00Z"))
    assert cache.get("sha256:k1") == CacheRecord("2024-01-01T00:00:00Z", layer)
    assert cache.get("sha256:k2").layer is None
    assert cache.get("sha256:missing") is None
    (tmp_path / "steps" / "k1.json").write_text("{not json")
    assert cache.get("sha256:k1") is None
    (tmp_path / "steps" / "k1.json").write_text('{"created": "x", "layer": {"digest": 1}}')
    assert cache.get("sha256:k1") is None
    assert cache.clear() == 2 and cache.get("sha256:k2") is None


# -- stage state -----------------------------------------------------------------------------------

def steps_of(text: str):
    return plan(parse(text, "Dockerfile"), {}).target.steps


def test_root_state_advances_config_layers_and_history() -> None:
    env, run, cmd = steps_of("FROM scratch\nENV A=1\nRUN true\nCMD [\"sh\"]\n")
    layer = LayerRef("application/vnd.oci.image.layer.v1.tar", "sha256:" + "a" * 64, 10, "sha256:" + "b" * 64)
    state = RootState("k0", BuildConfig())
    state = state.advance(env, "k1", None, "t1").advance(run, "k2", layer, "t2").advance(cmd, "k3", None, "t3")
    assert state.key == "k3" and state.created == "t3"
    assert state.diff_ids == (layer.diff_id,) and state.chain == layer.diff_id
    assert [h.empty_layer for h in state.history] == [True, None, True]
    assert [h.created_by for h in state.history] == ["ENV A=1", "RUN /bin/sh -c true # buildkit", 'CMD ["sh"]']
    cfg = state.image_config({"extra": "yes"})
    assert cfg.config.env == ["A=1"] and cfg.config.cmd == ["sh"] and cfg.config.labels == {"extra": "yes"}
    assert cfg.rootfs.diff_ids == [layer.diff_id] and cfg.created == "t3"
    assert RootState("k", BuildConfig()).identity == "empty" and state.identity == layer.diff_id


def test_parse_tags_and_build_error() -> None:
    assert [str(t) for t in parse_tags(("app:1", "localhost:5000/x"))] == [
        "docker.io/library/app:1", "localhost:5000/x:latest"]
    with pytest.raises(InvalidArgument, match="invalid tag 'Bad:Tag'"):
        parse_tags(("Bad:Tag",))
    err = BuildError("Dockerfile:3", "The command '/bin/sh -c false' returned a non-zero code: 1")
    assert str(err) == "Dockerfile:3: The command '/bin/sh -c false' returned a non-zero code: 1"
    assert err.cli_exit_code == 1


# -- RUN -------------------------------------------------------------------------------------------

def test_run_failed_message_is_the_classic_builders() -> None:
    failed = RunFailed(["/bin/sh", "-c", "false"], 1)
    assert failed.message == "The command '/bin/sh -c false' returned a non-zero code: 1"
    assert failed.code == 1
    assert RunFailed(["make", "all"], 2).message == "The command 'make all' returned a non-zero code: 2"


def test_sandbox_spec() -> None:
    box = Sandbox(argv=("/bin/sh", "-c", "make"), env=("PATH=/bin",), cwd="/src", uid=1000, gid=1000,
                  additional_gids=(10,), home="/home/app", network="none",
                  extra_mounts=(bind("/host/hosts", "/etc/hosts"),), cgroups_path="/vessel-build/x")
    spec = sandbox_spec(box)
    assert spec.process.args == ["/bin/sh", "-c", "make"] and spec.process.cwd == "/src"
    assert spec.process.env == ["PATH=/bin", "HOME=/home/app"]
    assert (spec.process.user.uid, spec.process.user.gid, spec.process.user.additional_gids) == (1000, 1000, [10])
    assert "CAP_CHOWN" in spec.process.capabilities.bounding and "CAP_SYS_ADMIN" not in spec.process.capabilities.bounding
    assert sorted(ns.type for ns in spec.linux.namespaces) == ["ipc", "mount", "network", "pid", "uts"]
    assert [m.destination for m in spec.mounts][0] == "/proc" and spec.mounts[-1].destination == "/etc/hosts"
    assert spec.hostname == "buildkitsandbox" and spec.linux.cgroups_path == "/vessel-build/x"
    assert "/proc/kcore" in spec.linux.masked_paths
    host = sandbox_spec(Sandbox(argv=("true",), env=(), cwd="/", network="host"))
    assert "network" not in [ns.type for ns in host.linux.namespaces]  # the builder's network
    assert process_env(("HOME=/x",), "/root") == ["HOME=/x"]
    assert "127.0.0.1\tlocalhost buildkitsandbox" in hosts_file()


def test_mount_stubs_are_found_and_removed(tmp_path: Path) -> None:
    root, upper = tmp_path / "root", tmp_path / "upper"
    (root / "etc").mkdir(parents=True)
    (root / "proc").mkdir()
    stubs = MountStubs.find(root, ["/proc", "/sys", "/etc/hosts", "/root/.cache/pip", "/etc/resolv.conf"])
    assert stubs.created == ["/sys", "/etc/hosts", "/root", "/root/.cache", "/root/.cache/pip", "/etc/resolv.conf"]
    assert list(stubs.parents) == ["/etc"]
    # what the runtime and the command left in the upper dir
    (upper / "etc").mkdir(parents=True)
    os.chmod(upper / "etc", os.stat(root / "etc").st_mode)
    (upper / "etc" / "hosts").write_text("")
    (upper / "etc" / "resolv.conf").write_text("")
    (upper / "sys").mkdir()
    (upper / "root" / ".cache" / "pip").mkdir(parents=True)
    (upper / "root" / "kept").write_text("made by RUN")
    stubs.remove(upper)
    assert sorted(os.listdir(upper)) == ["root"]  # /etc was a pure copy-up, /sys an empty stub
    assert os.listdir(upper / "root") == ["kept"]


def test_mount_stubs_keep_what_the_command_changed(tmp_path: Path) -> None:
    root, upper = tmp_path / "root", tmp_path / "upper"
    (root / "etc").mkdir(parents=True)
    stubs = MountStubs.find(root, ["/etc/hosts"])
    (upper / "etc").mkdir(parents=True)
    os.chmod(upper / "etc", 0o700)  # RUN chmod 700 /etc
    (upper / "etc" / "hosts").write_text("written through the mount? no: a real file with content")
    stubs.remove(upper)
    assert (upper / "etc" / "hosts").exists() and (upper / "etc").is_dir()


# -- CLI flags -------------------------------------------------------------------------------------

def test_cli_flag_parsers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_ENV", "env-value")
    monkeypatch.delenv("UNSET_ARG", raising=False)
    assert build_args(["A=1", "B=", "FROM_ENV", "UNSET_ARG", "C=x=y"]) == {
        "A": "1", "B": "", "FROM_ENV": "env-value", "C": "x=y"}
    assert labels(["a=1", "b"]) == {"a": "1", "b": ""}
    with pytest.raises(InvalidArgument):
        build_args(["=1"])
    (tmp_path / "tok").write_bytes(b"s3cret")
    monkeypatch.setenv("API_KEY", "k")
    found = secrets([f"id=tok,src={tmp_path / 'tok'}", "id=key,env=API_KEY", "id=API_KEY"])
    assert {k: v.data for k, v in found.items()} == {"tok": b"s3cret", "key": b"k", "API_KEY": b"k"}
    assert "s3cret" not in repr(found["tok"])
    with pytest.raises(NotFound):
        secrets(["id=missing,src=/nonexistent/file"])
    with pytest.raises(InvalidArgument):
        secrets(["src=/x"])


def test_read_dockerfile(tmp_path: Path) -> None:
    class Args:
        file = None
        context = str(tmp_path)

    with pytest.raises(NotFound, match="failed to read dockerfile"):
        read_dockerfile(Args())
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert read_dockerfile(Args()) == ("FROM scratch\n", "Dockerfile", tmp_path / "Dockerfile")
    Args.file = str(tmp_path / "other.Dockerfile")
    (tmp_path / "other.Dockerfile").write_text("FROM busybox\n")
    assert read_dockerfile(Args())[:2] == ("FROM busybox\n", "other.Dockerfile")


def test_package_exports_resolve_lazily() -> None:
    import vessel.build as pkg

    assert sorted(pkg.__all__) == sorted(pkg._EXPORTS)
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
    with pytest.raises(AttributeError):
        pkg.no_such_name  # noqa: B018
