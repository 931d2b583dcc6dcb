"""The live build display on a terminal (``--progress tty``, and ``auto`` on a terminal), drawn with rich.

    ✔ Step 1/4 : FROM busybox                                    ---> 3f57d9401f8d
    ✔ Step 2/4 : COPY app.txt /app.txt                   cached  ---> 5b1e2c0f7a11
    ⠼ Step 3/4 : RUN make                               running 4.1s  (8c2d41f0aa93)
        cc -c main.c                    <- the last lines of the command's output
        cc -o app main.o

Finished steps are printed once, above the live area; the live area holds
the current step (spinner, state, elapsed time, output tail).  A failed step
keeps its output tail on screen.  ``built`` stops the display and prints
``Successfully built`` / ``Successfully tagged`` as the plain renderer does.
rich is imported here only, so other modes never load it.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from vessel.build.progress import Progress, StepView, familiar, short_id

ICONS = {"done": ("✔", "green"), "cached": ("✔", "blue"), "error": ("✘", "bold red")}


def tail_lines(view: StepView) -> list[str]:
    lines = list(view.tail)
    if view._partial:
        lines.append(view._partial.rstrip("\r"))
    return lines[-view.tail.maxlen:] if view.tail.maxlen else lines


def status_text(view: StepView) -> Text:
    """``cached  ---> id`` / ``0.4s  ---> id`` / ``running 4.1s  (container)`` / ``failed 1.2s``."""
    if view.state == "cached":
        state = Text("cached", style="blue")
    elif view.state == "error":
        state = Text(f"failed {view.elapsed:.1f}s", style="bold red")
    elif view.state == "running":
        state = Text(f"running {view.elapsed:.1f}s", style="yellow")
    else:
        state = Text(f"{view.elapsed:.1f}s", style="green")
    if view.state in ("done", "cached"):
        state.append(f"  ---> {short_id(view.image_id)}" if view.image_id else "  ---> ", style="dim")
    elif view.container:
        state.append(f"  ({short_id(view.container)})", style="dim")
    return state


def step_row(view: StepView, width: int, icon: RenderableType | None = None) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    if icon is None:
        mark, style = ICONS.get(view.state, ("•", "yellow"))
        icon = Text(mark, style=style)
    grid.add_row(icon, Text(view.header, style="bold" if view.state == "running" else ""), status_text(view))
    return grid


def step_block(view: StepView, width: int, *, live: bool) -> RenderableType:
    """A step with its notes and, while it runs or when it failed, its output tail."""
    spinner = Spinner("dots", style="yellow") if live and view.state == "running" else None
    parts: list[RenderableType] = [step_row(view, width, spinner)]
    for note in view.notes:
        parts.append(Text("    " + note, style="dim"))
    if view.state in ("running", "error"):
        style = "red" if view.state == "error" else "dim"
        parts += [Text("    " + line, style=style, no_wrap=True, overflow="ellipsis") for line in tail_lines(view)]
    return Group(*parts)


class _Current:
    """The live area: rendered again on every refresh (the spinner and the time move)."""

    def __init__(self, owner: "TtyProgress") -> None:
        self.owner = owner

    def __rich__(self) -> RenderableType:
        view = self.owner.current
        if view is None:
            return Text("")
        return step_block(view, self.owner.console.width, live=True)


class TtyProgress(Progress):
    def __init__(self, stream: TextIO | None = None, *, console: Console | None = None, auto_refresh: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.console = console or Console(file=stream, force_terminal=True, highlight=False)
        self.auto_refresh = auto_refresh
        self.current: StepView | None = None
        self._live: Live | None = None

    # -- the live area ----------------------------------------------------------------------------

    def _refresh(self, always: bool = False) -> None:
        if self._live is not None and (always or not self.auto_refresh):
            self._live.refresh()

    def _start(self) -> None:
        if self._live is None:
            self._live = Live(_Current(self), console=self.console, auto_refresh=self.auto_refresh,
                              refresh_per_second=8, transient=True, redirect_stdout=False, redirect_stderr=False)
            self._live.start()

    def _finish_current(self) -> None:
        """Print the current step for good (above the live area) and forget it."""
        if self.current is not None:
            view, self.current = self.current, None
            self.console.print(step_block(view, self.console.width, live=False))

    def close(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()
        self._finish_current()

    # -- events -----------------------------------------------------------------------------------

    def step_started(self, view: StepView) -> None:
        self._finish_current()
        self.current = view
        self._start()
        self._refresh(always=True)

    def show(self, view: StepView, text: str) -> None:
        self._refresh(always=True)

    def show_output(self, view: StepView, text: str) -> None:
        self._refresh()

    def step_failed(self, view: StepView, message: str) -> None:
        self._refresh(always=True)

    def warn(self, text: str) -> None:
        shown = text if text.startswith("[Warning]") or text.startswith("WARN") else f"[Warning] {text}"
        self.console.print(Text(shown, style="yellow"))

    def built(self, image_id: str, tags: Iterable[object] = ()) -> None:
        self.close()
        self.console.print(Text(f"Successfully built {short_id(image_id)}"))
        for tag in tags:
            self.console.print(Text(f"Successfully tagged {familiar(tag)}"))

    def write(self, text: str) -> None:
        self.console.print(Text(text), end="")

    def emit(self, line: str) -> None:
        self.console.print(Text(line))
