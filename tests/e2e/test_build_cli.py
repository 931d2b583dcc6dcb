"""`vessel build` as a user types it: build, rebuild from cache, -q, -f -, errors, then look at the image
with `vessel images`, `history`, `inspect`, `save` and `run`."""

from __future__ import annotations

import json
import re
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
    if (path / "engine.db").exists() or (path / "network").exists():  # undo the root's bridge, rules, containers
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
    first = vessel(root, "build", "-t", "shout:1", ".", cwd=project)  # stdout is a pipe: auto is plain
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[:2] == ["Step 1/7 : FROM busybox AS build", lines[1]] and re.fullmatch(r" ---> [0-9a-f]{12}", lines[1])
    run_at = lines.index("Step 4/7 : RUN tr a-z A-Z < greeting.txt > shout.txt")
    container = re.fullmatch(r" ---> Running in ([0-9a-f]{12})", lines[run_at + 1]).group(1)
    assert lines[run_at + 2] == f"Removing intermediate container {container}"
    built = re.fullmatch(r"Successfully built ([0-9a-f]{12})", lines[-2]).group(1)
    assert lines[-3:] == [f" ---> {built}", f"Successfully built {built}", "Successfully tagged shout:1"]
    assert first.stderr == ""
    again = vessel(root, "build", "-q", "-t", "shout:1", str(project))
    assert again.returncode == 0, again.stderr
    image_id = again.stdout.strip()
    assert image_id.startswith("sha256:") and image_id[7:19] == built and again.stderr == ""
    plain = vessel(root, "build", "--progress", "plain", "-t", "shout:1", str(project))
    assert plain.stdout.count(" ---> Using cache") == 5  # WORKDIR, COPY, RUN, COPY --from, CMD (not the FROMs)
    assert plain.stdout.splitlines()[-2:] == [f"Successfully built {built}", "Successfully tagged shout:1"]

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
    assert "going down" in failed.stdout and "Successfully" not in failed.stdout
    assert ("Error: Dockerfile:2: The command '/bin/sh -c echo going down && exit 7' returned a non-zero code: 7"
            in failed.stderr)
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


def test_tty_progress_is_a_live_display_ending_like_plain(project: Path, root: Path) -> None:
    """`--progress tty` (what auto picks on a terminal): rich's live display, then the same last lines."""
    (project / "Dockerfile").write_text("FROM busybox\nRUN echo from-the-run-step\nCMD [\"true\"]\n")
    res = vessel(root, "build", "--progress", "tty", "-t", "live:1", str(project))
    assert res.returncode == 0, res.stderr
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", res.stdout).replace("\r", "\n")
    assert "\x1b[" in res.stdout  # cursor movement and colours: a live display, not plain lines
    assert "Step 2/3 : RUN echo from-the-run-step" in plain and "from-the-run-step\n" in plain
    built = re.search(r"Successfully built ([0-9a-f]{12})", plain).group(1)
    assert plain.rstrip().splitlines()[-1] == "Successfully tagged live:1"
    assert f"---> {built}" in plain
