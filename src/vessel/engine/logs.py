"""Container logs: conmon's k8s-file format, read back with docker's filters (pure parsing + a follower).

A line is `<RFC3339Nano time> <stdout|stderr> <F|P> <text>`; `P` marks a
partial line (no newline yet), `F` a full one.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from vessel.errors import InvalidArgument


@dataclass(frozen=True)
class LogEntry:
    time: str  # as written by conmon (RFC3339 with nanoseconds)
    stream: str  # stdout | stderr
    data: bytes  # with the newline when the line is full

    @property
    def timestamp(self) -> float:
        return parse_time(self.time)


def parse_time(text: str) -> float:
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        raise InvalidArgument(f"invalid timestamp {text!r}")
    base = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    frac = float("0" + m.group(2)) if m.group(2) else 0.0
    return base.timestamp() + frac


def parse_line(line: bytes) -> LogEntry | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp, stream, tag = parts[0].decode(), parts[1].decode(), parts[2]
    text = parts[3] if len(parts) == 4 else b""
    return LogEntry(stamp, stream, text + (b"\n" if tag == b"F" else b""))


def parse_since(value: str | None, now: float) -> float | None:
    """docker's --since/--until: RFC3339 timestamp, unix seconds, or a relative duration (10m, 1h30m)."""
    if not value:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    m = re.fullmatch(r"((\d+)h)?((\d+)m)?((\d+(\.\d+)?)s)?", value)
    if m and any(m.groups()):
        secs = int(m.group(2) or 0) * 3600 + int(m.group(4) or 0) * 60 + float(m.group(6) or 0)
        return now - secs
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"invalid value for --since/--until: {value!r}",
                              hint="use a timestamp (2024-01-02T15:04:05Z), unix seconds, or a duration such as 10m") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _entries(path: Path, start: int = 0) -> tuple[list[LogEntry], int]:
    try:
        with open(path, "rb") as f:
            f.seek(start)
            raw = f.read()
    except FileNotFoundError:
        return [], start
    end = raw.rfind(b"\n") + 1  # only whole lines; the rest is read next time
    entries = [e for e in (parse_line(l) for l in raw[:end].splitlines()) if e is not None]
    return entries, start + end


def select(entries: list[LogEntry], *, since: float | None, until: float | None, tail: int | None,
           stdout: bool = True, stderr: bool = True) -> list[LogEntry]:
    chosen = [e for e in entries if (stdout or e.stream != "stdout") and (stderr or e.stream != "stderr")]
    if since is not None or until is not None:
        chosen = [e for e in chosen if (since is None or e.timestamp >= since) and (until is None or e.timestamp <= until)]
    if tail is not None and tail >= 0:
        chosen = list(deque(chosen, maxlen=tail)) if tail else []
    return chosen


def read(path: Path, *, since=None, until=None, tail=None, stdout=True, stderr=True,
         follow: bool = False, running: Callable[[], bool] = lambda: False, poll: float = 0.1) -> Iterator[LogEntry]:
    entries, offset = _entries(path)
    yield from select(entries, since=since, until=until, tail=tail, stdout=stdout, stderr=stderr)
    if not follow:
        return
    while True:
        alive = running()
        entries, offset = _entries(path, offset)
        for e in select(entries, since=since, until=until, tail=None, stdout=stdout, stderr=stderr):
            yield e
        if until is not None and time.time() > until:
            return
        if not alive and not entries:
            return
        if not entries:
            time.sleep(poll)


def format_entry(e: LogEntry, timestamps: bool) -> bytes:
    if not timestamps:
        return e.data
    stamp = e.time
    if stamp.endswith("+00:00"):
        stamp = stamp[:-6] + "Z"
    return stamp.encode() + b" " + e.data


def size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
