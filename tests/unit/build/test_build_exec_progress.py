"""Classic builder output: the renderers (plain, stream, JSON, rich TTY) and what the executor reports (no root)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from vessel.build.executor import BuildError, Builder
from vessel.build.options import BuildOptions
from vessel.build.progress import (
    JsonMessageProgress, PlainProgress, Progress, QuietProgress, RecordingProgress, StreamProgress, make_progress,
)
from vessel.image import Store

pytestmark = pytest.mark.unit

CID = "8c2d41f0aa93" + "0" * 52


def drive(progress: Progress) -> None:
    """A small build as the executor reports it: a FROM, a cached COPY, a RUN with output."""
    base = progress.step(1, 3, "FROM busybox")
    base.done("sha256:3f57d9401f8d" + "1" * 52)
    copy = progress.step(2, 3, "COPY app.txt /app.txt")
    copy.cached()
    copy.done("sha256:5b1e2c0f7a11" + "2" * 52)
    run = progress.step(3, 3, "RUN make")
    run.running(CID)
    run.output(b"cc -c ma")
    run.output("in.c \u00e9".encode()[:-1])  # an é cut in two
    run.output("in.c \u00e9\n".encode()[-2:] + b"linking")  # ... and its second byte; no final newline
    run.removed(CID)
    run.done("sha256:0d4c6a9e1b22" + "3" * 52)
    progress.built("sha256:0d4c6a9e1b22" + "3" * 52, ["app:1", "app:latest"])
    progress.close()


CLASSIC = [
    "Step 1/3 : FROM busybox", " ---> 3f57d9401f8d",
    "Step 2/3 : COPY app.txt /app.txt", " ---> Using cache", " ---> 5b1e2c0f7a11",
    "Step 3/3 : RUN make", " ---> Running in 8c2d41f0aa93", "cc -c main.c \u00e9", "linking",
    "Removing intermediate container 8c2d41f0aa93", " ---> 0d4c6a9e1b22",
    "Successfully built 0d4c6a9e1b22", "Successfully tagged app:1", "Successfully tagged app:latest"]


def test_plain_progress_prints_the_classic_lines() -> None:
    out = io.StringIO()
    drive(PlainProgress(out, clock=lambda: 0.0))
    assert out.getvalue().splitlines() == CLASSIC
    assert out.getvalue().endswith("\n")


def test_a_subclass_overriding_emit_gets_whole_lines() -> None:
    """The interface before the classic output: subclasses that only override emit(line) still work."""
    got: list[str] = []

    class Lines(Progress):
        def emit(self, line: str) -> None:
            got.append(line)

    drive(Lines(clock=lambda: 0.0))
    assert got == CLASSIC
    rec = RecordingProgress()
    drive(rec)
    assert rec.lines == CLASSIC and rec.text == "".join(line + "\n" for line in CLASSIC)


def test_stream_progress_passes_output_as_it_comes_and_the_image_first() -> None:
    chunks: list[str] = []
    images: list[str] = []
    drive(StreamProgress(chunks.append, lambda image_id: (images.append(image_id), chunks.append("<aux>"))))
    assert "".join(chunks).replace("<aux>", "").splitlines() == CLASSIC
    assert "cc -c ma" in chunks  # not held back until the line ends
    assert chunks.index("<aux>") == chunks.index("Successfully built 0d4c6a9e1b22\n") - 1
    assert images == ["sha256:0d4c6a9e1b22" + "3" * 52]


def test_json_message_progress_is_dockers_stream() -> None:
    out = io.StringIO()
    drive(JsonMessageProgress(out.write))
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    assert messages[0] == {"stream": "Step 1/3 : FROM busybox\n"}
    assert {"aux": {"ID": "sha256:0d4c6a9e1b22" + "3" * 52}} in messages
    aux = messages.index({"aux": {"ID": "sha256:0d4c6a9e1b22" + "3" * 52}})
    assert messages[aux + 1] == {"stream": "Successfully built 0d4c6a9e1b22\n"}
    assert "".join(m.get("stream", "") for m in messages).splitlines() == CLASSIC


def test_failure_ends_the_output_line_and_warnings() -> None:
    rec = RecordingProgress()
    rec.warn("[Warning] One or more build-args [X] were not consumed")
    rec.warn("stage x: platform linux/arm64 is not emulated")
    view = rec.step(2, 2, "RUN echo going down && exit 7")
    view.running(CID)
    view.output(b"going down")
    view.failed("The command '/bin/sh -c echo going down && exit 7' returned a non-zero code: 7")
    assert rec.lines == ["[Warning] One or more build-args [X] were not consumed",
                         "[Warning] stage x: platform linux/arm64 is not emulated",
                         "Step 2/2 : RUN echo going down && exit 7", " ---> Running in 8c2d41f0aa93", "going down"]
    assert view.state == "error" and list(view.tail) == ["going down"]


def test_quiet_prints_nothing() -> None:
    out = io.StringIO()
    quiet = make_progress("plain", True, out)
    assert isinstance(quiet, QuietProgress)
    drive(quiet)
    assert out.getvalue() == ""


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_make_progress_modes() -> None:
    from vessel.build.ttyprogress import TtyProgress

    assert type(make_progress("plain", False, FakeTty())) is PlainProgress
    assert type(make_progress("auto", False, io.StringIO())) is PlainProgress  # not a terminal
    assert isinstance(make_progress("auto", False, FakeTty()), TtyProgress)
    assert isinstance(make_progress("tty", False, io.StringIO()), TtyProgress)
    with pytest.raises(ValueError):
        make_progress("rawjson", False)


def tty(width: int = 100):
    from rich.console import Console

    from vessel.build.ttyprogress import TtyProgress

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system=None, width=width, legacy_windows=False)
    now = [0.0]
    return TtyProgress(console=console, auto_refresh=False, clock=lambda: now[0]), out, now


def live_text(progress) -> str:
    """What the live area shows now, as plain text."""
    from rich.console import Console

    from vessel.build.ttyprogress import _Current

    console = Console(file=io.StringIO(), record=True, width=100, color_system=None)
    console.print(_Current(progress))
    return console.export_text()


def test_tty_shows_the_running_step_with_its_output_tail() -> None:
    progress, out, now = tty()
    progress.step(1, 2, "FROM busybox").done("sha256:3f57d9401f8d" + "1" * 52)
    run = progress.step(2, 2, "RUN make")
    run.running(CID)
    now[0] = 2.5
    run.output(b"".join(b"line %d\n" % i for i in range(1, 10)) + b"partial")
    shown = live_text(progress)
    assert "Step 2/2 : RUN make" in shown and "running 2.5s" in shown and "(8c2d41f0aa93)" in shown
    assert [line.strip() for line in shown.splitlines()[1:]] == ["line 5", "line 6", "line 7", "line 8", "line 9",
                                                                 "partial"]
    assert "Step 1/2 : FROM busybox" in out.getvalue() and "---> 3f57d9401f8d" in out.getvalue()
    run.removed(CID)
    run.done("sha256:0d4c6a9e1b22" + "3" * 52)
    progress.built("sha256:0d4c6a9e1b22" + "3" * 52, ["app:1"])
    text = out.getvalue()
    assert "✔ Step 2/2 : RUN make" in text and "---> 0d4c6a9e1b22" in text
    assert text.rstrip().splitlines()[-2:] == ["Successfully built 0d4c6a9e1b22", "Successfully tagged app:1"]
    assert progress.current is None


def test_tty_keeps_a_failed_steps_output() -> None:
    progress, out, now = tty()
    copy = progress.step(1, 2, "COPY a /a")
    copy.cached()
    copy.done("sha256:" + "5" * 64)
    run = progress.step(2, 2, "RUN false")
    run.running(CID)
    run.output(b"about to fail\n")
    now[0] = 1.0
    run.failed("The command '/bin/sh -c false' returned a non-zero code: 1")
    progress.close()
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    final = lines[-2:]
    assert "✘ Step 2/2 : RUN false" in final[0] and "failed 1.0s" in final[0]
    assert final[1].strip() == "about to fail"
    assert any("Step 1/2 : COPY a /a" in line and "cached" in line for line in lines)


def test_tty_brackets_are_not_markup() -> None:
    progress, out, _ = tty()
    progress.step(1, 1, 'CMD ["[bold]x"]').done("sha256:" + "6" * 64)
    progress.close()
    assert 'CMD ["[bold]x"]' in out.getvalue()


# -- what the executor reports (config-only steps: nothing to mount, no root needed) ----------------

DOCKERFILE = """\
FROM scratch AS parent
ONBUILD ENV FROM_TRIGGER=1
LABEL a=b
FROM parent
ENV X=1
CMD ["x"]
"""


def build(tmp_path: Path, text: str = DOCKERFILE, **opts):
    root, ctx = tmp_path / "root", tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    rec = RecordingProgress(clock=lambda: 0.0)
    builder = Builder(Store(root), root, rec, clock=lambda: 1_700_000_000.0)
    result = builder.build(text, "Dockerfile", ctx, BuildOptions(tags=("cfg:1",), **opts), ctx / "Dockerfile")
    return result, rec.lines


def test_executor_numbers_steps_and_ends_with_the_image_id(tmp_path: Path) -> None:
    result, lines = build(tmp_path)
    short = result.image.id[7:19]
    headers = [line for line in lines if line.startswith("Step ")]
    assert headers == ["Step 1/6 : FROM scratch AS parent", "Step 2/6 : ONBUILD ENV FROM_TRIGGER=1",
                       "Step 3/6 : LABEL a=b", "Step 4/6 : FROM parent", "Step 5/6 : ENV X=1", 'Step 6/6 : CMD ["x"]']
    assert lines[1] == " ---> "  # FROM scratch has no id
    assert lines[-2:] == ['Step 6/6 : CMD ["x"]', f" ---> {short}"]
    label_id = lines[lines.index("Step 3/6 : LABEL a=b") + 1]
    assert lines[lines.index("Step 4/6 : FROM parent") + 1] == label_id  # FROM a stage: that stage's last id
    trigger = lines.index("# Executing 1 build trigger")
    assert lines[trigger + 1].startswith(" ---> ") and "Using cache" not in lines[trigger + 1]
    assert "Successfully built" not in "\n".join(lines)  # the caller says it (progress.built)
    assert result.executed == 5 and result.cached == 0


def test_executor_rebuild_shows_using_cache_then_the_memo_shows_the_same(tmp_path: Path) -> None:
    first, lines = build(tmp_path)
    again, cached_lines = build(tmp_path, DOCKERFILE + "# edited: the memo misses, the layer cache hits\n")
    assert again.image.id == first.image.id and not again.from_memo and again.cached == 5
    assert cached_lines.count(" ---> Using cache") == 5
    memo, memo_lines = build(tmp_path, DOCKERFILE + "# edited: the memo misses, the layer cache hits\n")
    assert memo.from_memo and memo.cached == 5 and memo_lines == cached_lines
    assert [line for line in memo_lines if line != " ---> Using cache"] == lines


def test_executor_failure_names_the_line_and_tags_nothing(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"^Dockerfile:3: ") as err:
        build(tmp_path, "FROM scratch\nENV A=1\nCOPY missing.txt /\n")
    assert "missing.txt" in str(err.value)
    assert Store(tmp_path / "root").find("cfg:1") is None
