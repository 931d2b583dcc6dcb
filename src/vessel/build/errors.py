"""Errors of the Dockerfile front end, each pointing at a file and a line.

``DockerfileError`` is an :class:`vessel.errors.InvalidArgument` whose message
starts with ``<file>:<line>: `` (``Dockerfile:7: unknown instruction: RUNN``)
and whose ``fields`` carry ``file`` and ``line`` so the CLI and the API can
show or return them.  ``ExpansionError`` is raised by the word lexer, which
knows no file; the planner re-raises it as a ``DockerfileError``.
"""

from __future__ import annotations

from vessel.errors import InvalidArgument


class ExpansionError(InvalidArgument):
    """A word could not be expanded (bad substitution, unmatched quote, ${X:?})."""


class DockerfileError(InvalidArgument):
    """Something in a Dockerfile is wrong at a known line."""

    def __init__(self, file: str, line: int, reason: str, *, hint: str | None = None, **fields: object) -> None:
        where = f"{file}:{line}" if line > 0 else file
        super().__init__(f"{where}: {reason}", hint=hint, file=file, line=line, reason=reason, **fields)

    @property
    def file(self) -> str:
        return str(self.fields["file"])

    @property
    def line(self) -> int:
        return int(self.fields["line"])  # type: ignore[arg-type]

    @property
    def reason(self) -> str:
        return str(self.fields["reason"])


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest choice to a mistyped word (edit distance <= 2), as Docker suggests."""
    best: tuple[int, str] | None = None
    low = word.lower()
    for choice in choices:
        dist = _distance(low, choice.lower())
        if dist <= max(1, min(2, len(choice) // 2)) and (best is None or dist < best[0]):
            best = (dist, choice)
    return best[1] if best else None


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
