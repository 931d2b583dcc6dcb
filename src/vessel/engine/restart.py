"""Restart policies (pure): when to restart and how long to wait, as docker does."""

from __future__ import annotations

from vessel.engine.options import RestartPolicy

BASE_DELAY = 0.1
MAX_DELAY = 60.0


def should_restart(policy: RestartPolicy, exit_code: int, restarts: int, stopped_by_user: bool) -> bool:
    if stopped_by_user or policy.name == "no":
        return False
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return True
    if policy.name == "on-failure":
        return exit_code != 0 and (policy.max_retries <= 0 or restarts < policy.max_retries)
    return False


def backoff(restarts: int) -> float:
    """100 ms, doubling per restart, capped at a minute."""
    return min(BASE_DELAY * (2 ** restarts), MAX_DELAY)
