"""Build progress as docker shows it.

The executor reports *vertices* (one per FROM, layer step and internal job)
and their events; a renderer prints them:

* ``PlainProgress``: BuildKit's ``--progress=plain`` lines::

      #5 [build 2/4] RUN make
      #5 0.213 cc -o app main.c
      #5 DONE 0.4s

      #6 [stage-1 2/2] COPY --from=build /src/app /app
      #6 CACHED

* ``QuietProgress``: nothing (``-q``: the CLI prints the image ID only).

``--progress=tty`` (and ``auto`` on a terminal) uses the plain renderer too.
The clock is injected so tests see fixed times.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


class Vertex:
    """One line of work; a renderer prints its events."""

    def __init__(self, progress: "Progress", number: int, name: str) -> None:
        self.progress = progress
        self.number = number
        self.name = name
        self.started = progress.clock()
        self.finished = False
        self._partial = b""

    def log(self, text: str) -> None:
        self.progress.emit(f"#{self.number} {text}")

    def output(self, data: bytes) -> None:
        """Process output, printed line by line with the time since the vertex started."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        elapsed = self.progress.clock() - self.started
        text = line.decode("utf-8", "replace").rstrip("\r")
        self.progress.emit(f"#{self.number} {elapsed:.3f} {text}")

    def _flush(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = b""

    def cached(self) -> None:
        self._end(f"#{self.number} CACHED")

    def done(self) -> None:
        self._flush()
        self._end(f"#{self.number} DONE {self.progress.clock() - self.started:.1f}s")

    def error(self, message: str) -> None:
        self._flush()
        self._end(f"#{self.number} ERROR: {message}")

    def _end(self, line: str) -> None:
        if not self.finished:
            self.finished = True
            self.progress.emit(line)
            self.progress.emit("")


class Progress:
    """Numbering of vertices; subclasses decide what is printed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.count = 0
        self.names: list[str] = []

    def vertex(self, name: str) -> Vertex:
        self.count += 1
        self.names.append(name)
        vertex = Vertex(self, self.count, name)
        self.emit(f"#{vertex.number} {name}")
        return vertex

    def warn(self, text: str) -> None:
        self.emit(text if text.startswith("[Warning]") or text.startswith("WARN") else f"WARNING: {text}")

    def emit(self, line: str) -> None:
        raise NotImplementedError


class PlainProgress(Progress):
    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.stream = stream

    def emit(self, line: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


class QuietProgress(Progress):
    def emit(self, line: str) -> None:
        return None


class RecordingProgress(Progress):
    """Keeps the lines (tests, and the API's build log)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.lines: list[str] = []

    def emit(self, line: str) -> None:
        self.lines.append(line)


def make_progress(mode: str, quiet: bool, stream: TextIO | None = None) -> Progress:
    """``--progress`` auto|plain|tty and ``-q`` -> a renderer (tty falls back to plain)."""
    if quiet:
        return QuietProgress()
    if mode not in ("auto", "plain", "tty"):
        raise ValueError(f"unknown progress mode {mode!r}")
    return PlainProgress(stream)
