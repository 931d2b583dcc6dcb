"""`vessel build` as a user types it: build, rebuild from cache, -q, -f -, errors, then look at the image
with `vessel images`, `history`, `inspect`, `save` and `run`."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

VESSEL = str(Path(sys.executable).with_name("vessel"))

DOCKERFILE = """\
FROM busybox AS build
WORKDIR /src
COPY greeting.txt .
RUN tr a-z A-Z < greeting.txt > shout.txt
FROM busybox
COPY --from=build /src/shout.txt /shout.txt
CMD ["cat", "/shout.txt"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    ctx = tmp_path / "project"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "greeting.txt").write_text("hello\n")
    return ctx


def vessel(root: Path, *args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([VESSEL, "--root", str(root), *args], cwd=cwd, input=input, capture_output=True, text=True,
                          timeout=180)


@pytest.fixture
def root(tmp_path: Path):
    path = tmp_path / "root"
    yield path
    if (path / "engine.db").exists():  # `vessel run` was used: undo what the engine set up on the host
        reset = vessel(path, "system", "reset", "-f")
        assert reset.returncode == 0, reset.stderr


def file_in_saved_image(archive: Path, name: str) -> bytes | None:
    """The content of ``name`` in the top-most layer of a docker-archive that has it."""
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for layer in reversed(manifest[0]["Layers"]):
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                try:
                    return inner.extractfile(name).read()
                except KeyError:
                    continue
    return None


def test_build_rebuild_and_inspect(project: Path, tmp_path: Path, root: Path) -> None:
    first = vessel(root, "build", "-t", "shout:1", ".", cwd=project)
    assert first.returncode == 0, first.stderr
    assert "#1 [internal] load build definition from Dockerfile" in first.stderr
    assert "[build 4/4] RUN tr a-z A-Z < greeting.txt > shout.txt" in first.stderr
    assert "naming to docker.io/library/shout:1 done" in first.stderr
    again = vessel(root, "build", "-q", "-t", "shout:1", str(project))
    assert again.returncode == 0, again.stderr
    image_id = again.stdout.strip()
    assert image_id.startswith("sha256:") and again.stderr == ""
    plain = vessel(root, "build", "--progress", "plain", "-t", "shout:1", str(project))
    assert plain.stderr.count("CACHED") == 6  # two FROMs, WORKDIR, COPY, RUN, COPY --from
    assert f"writing image {image_id} done" in plain.stderr

    images = vessel(root, "images").stdout
    assert any(line.split()[:3] == ["shout", "1", image_id[7:19]] for line in images.splitlines())
    history = vessel(root, "history", "--no-trunc", "shout:1").stdout
    assert "COPY /src/shout.txt /shout.txt # buildkit" in history and 'CMD ["cat" "/shout.txt"]' in history
    (info,) = json.loads(vessel(root, "image", "inspect", "shout:1").stdout)
    assert info["Config"]["Cmd"] == ["cat", "/shout.txt"]
    saved = tmp_path / "shout.tar"
    assert vessel(root, "save", "-o", str(saved), "shout:1").returncode == 0
    assert file_in_saved_image(saved, "shout.txt") == b"HELLO\n"
    ran = vessel(root, "run", "--rm", "--network", "none", "shout:1")
    assert (ran.returncode, ran.stdout) == (0, "HELLO\n"), ran.stderr


def test_dockerfile_from_stdin_with_labels_and_build_args(project: Path, tmp_path: Path, root: Path) -> None:
    text = "FROM busybox\nARG WHO=nobody\nRUN echo \"hi $WHO\" > /who\n"
    res = vessel(root, "build", "-q", "-f", "-", "--build-arg", "WHO=vessel", "--label", "team=build",
                 "-t", "stdin:1", "-t", "stdin:latest", str(project), input=text)
    assert res.returncode == 0, res.stderr
    (info,) = json.loads(vessel(root, "image", "inspect", "stdin:1").stdout)
    assert info["Id"] == res.stdout.strip() and info["Config"]["Labels"] == {"team": "build"}
    assert sorted(info["RepoTags"]) == ["stdin:1", "stdin:latest"]
    saved = tmp_path / "stdin.tar"
    vessel(root, "save", "-o", str(saved), "stdin:1")
    assert file_in_saved_image(saved, "who") == b"hi vessel\n"


def test_errors_exit_non_zero_and_tag_nothing(project: Path, root: Path) -> None:
    (project / "Dockerfile").write_text("FROM busybox\nRUN echo going down && exit 7\n")
    failed = vessel(root, "build", "-t", "broken:1", str(project))
    assert failed.returncode == 1
    assert "going down" in failed.stderr
    assert ('Error: Dockerfile:2: process "/bin/sh -c echo going down && exit 7" did not complete successfully: '
            "exit code: 7") in failed.stderr
    assert "Traceback" not in failed.stderr
    assert "broken" not in vessel(root, "images").stdout

    (project / "Dockerfile").write_text("FROM busybox\nRUNN true\n")
    bad = vessel(root, "build", str(project))
    assert bad.returncode == 1 and "Error: Dockerfile:2: unknown instruction: RUNN" in bad.stderr
    (project / "Dockerfile").write_text("FROM busybox\nCOPY missing.txt /\n")
    missing = vessel(root, "build", str(project))
    assert missing.returncode == 1 and 'Dockerfile:2: build context: "/missing.txt" not found' in missing.stderr
    nofile = vessel(root, "build", "-f", str(project / "Nope"), str(project))
    assert nofile.returncode == 1 and "failed to read dockerfile" in nofile.stderr
