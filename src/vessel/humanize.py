"""Docker's human wording for ages and states (pure): `5 minutes`, `Up 3 seconds`, `Exited (0) 1 hour ago`."""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: docker's CREATED and STATUS wording ('Less than a second', '3 weeks')."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(s / 3600 + 0.5)  # Go's math.Round: halves away from zero
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def status_text(status: str, exit_code: int | None, started: float | None, finished: float | None,
                now: float) -> str:
    if status == "running":
        return f"Up {human_duration(now - (started or now))}"
    if status == "paused":
        return f"Up {human_duration(now - (started or now))} (Paused)"
    if status == "restarting":
        return f"Restarting ({exit_code or 0}) {human_duration(now - (finished or now))} ago"
    if status == "exited":
        return f"Exited ({exit_code if exit_code is not None else 0}) {human_duration(now - (finished or now))} ago"
    if status == "dead":
        return "Dead"
    if status == "removing":
        return "Removal In Progress"
    return "Created"
