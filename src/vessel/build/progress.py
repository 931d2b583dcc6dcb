"""Build progress as docker's classic builder shows it.

The executor reports *steps* and their events; a renderer shows them::

    Step 1/4 : FROM busybox
     ---> 3f57d9401f8d
    Step 2/4 : COPY app.txt /app.txt
     ---> Using cache
     ---> 5b1e2c0f7a11
    Step 3/4 : RUN make
     ---> Running in 8c2d41f0aa93
    cc -o app main.c                        <- the command's output, streamed as it comes
    Removing intermediate container 8c2d41f0aa93
     ---> 0d4c6a9e1b22
    Step 4/4 : CMD ["app"]
     ---> 9e0f3b7c5d48
    Successfully built 9e0f3b7c5d48         <- ``built()``, called by whoever ran the build
    Successfully tagged app:1

Renderers:

* ``Progress`` (base): the classic text, written through ``write(text)``.
  By default ``write`` cuts it into lines and calls ``emit(line)``: a
  subclass overrides one of them.
* ``PlainProgress(stream)``: the text on a stream (stdout by default), output
  streamed unbuffered.  ``--progress plain``, and ``auto`` when stdout is no
  terminal.
* ``StreamProgress(write, on_image=None)``: the text to a callable, e.g.
  Docker's JSON stream: ``write`` gets each chunk (``{"stream": text}``) and
  ``on_image(image_id)`` is called before the ``Successfully built`` line
  (``{"aux": {"ID": image_id}}``).  ``JsonMessageProgress(write)`` does both.
* ``TtyProgress``: a live display (``rich``): finished steps above, the
  current one with its state and the last lines of RUN output below.
  ``--progress tty``, and ``auto`` on a terminal.
* ``QuietProgress``: nothing (``-q``: the CLI prints the image ID only).
* ``RecordingProgress``: keeps the lines (tests).

The builder never calls ``built``: the CLI (or the API) does once the image
is named, then ``close``.  The clock is injected so tests see fixed times.
"""

from __future__ import annotations

import codecs
import collections
import json
import sys
import time
from typing import Callable, Iterable, TextIO

TAIL_LINES = 6  # RUN output lines the live display keeps


def short_id(ident: str) -> str:
    """The 12 hex digits docker shows of an image or container id."""
    return ident.split(":", 1)[-1][:12]


def familiar(tag: object) -> str:
    """``app:1`` for docker.io/library/app:1 (a Reference, or text)."""
    name = getattr(tag, "familiar", None)
    return name if isinstance(name, str) else str(tag)


class StepView:
    """One ``Step N/M`` and its events, as the executor reports them."""

    def __init__(self, progress: "Progress", number: int, total: int, text: str) -> None:
        self.progress = progress
        self.number = number
        self.total = total
        self.text = text
        self.state = "running"  # running, cached, done, error
        self.started = progress.clock()
        self.ended: float | None = None
        self.container = ""
        self.image_id = ""
        self.notes: list[str] = []
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._partial = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    @property
    def header(self) -> str:
        return f"Step {self.number}/{self.total} : {self.text}"

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else self.progress.clock()) - self.started

    def cached(self) -> None:
        self.state = "cached"
        self.progress.show(self, " ---> Using cache")

    def running(self, container_id: str) -> None:
        self.container = container_id
        self.progress.show(self, f" ---> Running in {short_id(container_id)}")

    def output(self, data: bytes) -> None:
        """The command's output (stdout and stderr together), shown as it comes."""
        self._text(self._decoder.decode(data))

    def _text(self, text: str) -> None:
        if not text:
            return
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        self.tail.extend(line.rstrip("\r") for line in lines)
        self.progress.show_output(self, text)

    def _flush(self) -> None:
        self._text(self._decoder.decode(b"", final=True))
        if self._partial:
            self.tail.append(self._partial.rstrip("\r"))
            self._partial = ""

    def removed(self, container_id: str) -> None:
        self._flush()
        self.progress.show(self, f"Removing intermediate container {short_id(container_id)}")

    def note(self, text: str) -> None:
        """A line of the builder's about this step (``# Executing 2 build triggers``)."""
        self.notes.append(text)
        self.progress.show(self, text)

    def done(self, image_id: str) -> None:
        """The step's result: the image (or intermediate state) id; ``""`` for FROM scratch."""
        self._flush()
        self.image_id = image_id
        if self.state == "running":
            self.state = "done"
        self.ended = self.progress.clock()
        self.progress.show(self, f" ---> {short_id(image_id)}" if image_id else " ---> ")

    def failed(self, message: str) -> None:
        """The step failed: the error itself is reported by the caller (``Error: ...``)."""
        self._flush()
        self.state = "error"
        self.ended = self.progress.clock()
        self.progress.step_failed(self, message)


class Progress:
    """The classic builder's text; subclasses decide where it goes (``write`` or ``emit``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.names: list[str] = []  # the step texts shown, in order
        self.steps: list[StepView] = []
        self._pending = ""
        self._at_line_start = True

    # -- where the text goes ----------------------------------------------------------------------

    def write(self, text: str) -> None:
        """Text as it comes (``\\n``-terminated lines, and RUN output chunks); default: lines to ``emit``."""
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self.emit(line)

    def emit(self, line: str) -> None:
        raise NotImplementedError

    def _out(self, text: str) -> None:
        if text:
            self._at_line_start = text.endswith("\n")
            self.write(text)

    def line(self, text: str) -> None:
        """One line of the builder's own, on a line of its own even after output without a newline."""
        self._out(("" if self._at_line_start else "\n") + text + "\n")

    # -- events ---------------------------------------------------------------------------------------

    def step(self, number: int, total: int, text: str) -> StepView:
        view = StepView(self, number, total, text)
        self.names.append(text)
        self.steps.append(view)
        self.step_started(view)
        return view

    def step_started(self, view: StepView) -> None:
        self.line(view.header)

    def show(self, view: StepView, text: str) -> None:
        self.line(text)

    def show_output(self, view: StepView, text: str) -> None:
        self._out(text)

    def step_failed(self, view: StepView, message: str) -> None:
        if not self._at_line_start:
            self._out("\n")

    def warn(self, text: str) -> None:
        self.line(text if text.startswith("[Warning]") or text.startswith("WARN") else f"[Warning] {text}")

    def built(self, image_id: str, tags: Iterable[object] = ()) -> None:
        """``Successfully built <id>`` and a ``Successfully tagged`` line per tag."""
        self.line(f"Successfully built {short_id(image_id)}")
        for tag in tags:
            self.line(f"Successfully tagged {familiar(tag)}")

    def close(self) -> None:
        """No more events for now (a live display stops; a partial line is flushed)."""
        if self._pending:
            pending, self._pending = self._pending, ""
            self.emit(pending)


class PlainProgress(Progress):
    """The classic text on ``stream`` (stdout when None), RUN output unbuffered."""

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.stream = stream

    def write(self, text: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(text)
        stream.flush()

    def emit(self, line: str) -> None:
        self.write(line + "\n")

    def close(self) -> None:
        return None


class StreamProgress(Progress):
    """The classic text to ``write(text)``; ``on_image(image_id)`` before ``Successfully built``."""

    def __init__(self, write: Callable[[str], None], on_image: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self._write = write
        self._on_image = on_image

    def write(self, text: str) -> None:
        self._write(text)

    def emit(self, line: str) -> None:
        self._write(line + "\n")

    def built(self, image_id: str, tags: Iterable[object] = ()) -> None:
        if self._on_image is not None:
            self._on_image(image_id)
        super().built(image_id, tags)

    def close(self) -> None:
        return None


class JsonMessageProgress(StreamProgress):
    """Docker's JSON message stream (``POST /build``): ``write`` gets one JSON object and a newline per call."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(lambda text: write(json.dumps({"stream": text}) + "\n"),
                         lambda image_id: write(json.dumps({"aux": {"ID": image_id}}) + "\n"), clock)


class QuietProgress(Progress):
    def write(self, text: str) -> None:
        return None

    def emit(self, line: str) -> None:
        return None


class RecordingProgress(Progress):
    """Keeps the lines (tests, logs)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.lines: list[str] = []

    def emit(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines) + self._pending


MODES = ("auto", "plain", "tty")


def make_progress(mode: str, quiet: bool, stream: TextIO | None = None) -> Progress:
    """``--progress`` auto|plain|tty and ``-q`` -> a renderer; ``auto`` is tty on a terminal, else plain."""
    if quiet:
        return QuietProgress()
    if mode not in MODES:
        raise ValueError(f"unknown progress mode {mode!r}")
    out = stream or sys.stdout
    if mode == "tty" or (mode == "auto" and _isatty(out)):
        from vessel.build.ttyprogress import TtyProgress

        return TtyProgress(out)
    return PlainProgress(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
