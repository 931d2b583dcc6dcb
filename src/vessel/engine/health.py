"""Health checks: docker's HEALTHCHECK and --health-* flags, with docker's semantics.

The check is the image's Healthcheck overridden field by field by the container's (flags or
the API body's Config.Healthcheck); ``Test: ["NONE"]`` (``--no-healthcheck``) disables it.
When a checked container starts, a small ``sh`` loop (its own session, ~1 MiB, beside conmon;
vessel has no daemon to run timers) runs ``vessel healthcheck run ID`` every Interval: that
execs Test in the container within Timeout and records the result in ``State.Health``:
Status starting -> healthy on a success, unhealthy after Retries failures in a row;
failures inside StartPeriod do not count; the last 5 results are kept in Log.

The rules (`effective`, `command`, `record`, `suffix`, `parse_duration`) are pure.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass

from vessel.errors import InvalidArgument

NS = 1_000_000_000
DEFAULT_INTERVAL, DEFAULT_TIMEOUT, DEFAULT_RETRIES = 30.0, 30.0, 3
LOG_ENTRIES = 5
MAX_OUTPUT = 4096
NOT_RUNNING = 2      # `vessel healthcheck run` exit code that ends the loop


@dataclass(frozen=True)
class HealthConfig:
    test: tuple[str, ...]          # ("CMD", prog, args...) or ("CMD-SHELL", "command line")
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    start_period: float = 0.0
    retries: int = DEFAULT_RETRIES


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, flag: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``) in nanoseconds, as docker stores it."""
    value = text.strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise InvalidArgument(f"invalid argument {text!r} for {flag}: not a duration", value=text,
                              hint="use a number with a unit: 500ms, 30s, 1m30s")
    return int(sum(float(n) * _UNITS[u] for n, u in parts) * NS)


def effective(image: dict | None, container: dict | None) -> HealthConfig | None:
    """The check to run: the container's fields over the image's; None when there is none or it is NONE."""
    merged = {**(image or {}), **{k: v for k, v in (container or {}).items() if v not in (None, 0, [], "")}}
    test = tuple(merged.get("Test") or ())
    if not test or test[0] == "NONE":
        return None
    if test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        raise InvalidArgument(f"healthcheck test {list(test)} is not CMD or CMD-SHELL with a command",
                              hint='e.g. ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"]')

    def seconds(key: str, default: float) -> float:
        ns = merged.get(key) or 0
        return ns / NS if ns > 0 else default
    return HealthConfig(test=test, interval=seconds("Interval", DEFAULT_INTERVAL),
                        timeout=seconds("Timeout", DEFAULT_TIMEOUT), start_period=seconds("StartPeriod", 0.0),
                        retries=int(merged.get("Retries") or DEFAULT_RETRIES))


def command(cfg: HealthConfig) -> list[str]:
    return ["/bin/sh", "-c", cfg.test[1]] if cfg.test[0] == "CMD-SHELL" else list(cfg.test[1:])


def record(health: dict | None, cfg: HealthConfig, *, exit_code: int, output: str, start: str, end: str,
           started_at: float, now: float) -> dict:
    """State.Health after one probe (pure)."""
    health = dict(health or {"Status": "starting", "FailingStreak": 0, "Log": []})
    log = [*health.get("Log", []), {"Start": start, "End": end, "ExitCode": exit_code, "Output": output}]
    health["Log"] = log[-LOG_ENTRIES:]
    if exit_code == 0:
        health["Status"], health["FailingStreak"] = "healthy", 0
    elif now - started_at < cfg.start_period and health.get("Status") == "starting":
        pass                               # still starting: failures do not count yet
    else:
        health["FailingStreak"] = int(health.get("FailingStreak", 0)) + 1
        if health["FailingStreak"] >= cfg.retries:
            health["Status"] = "unhealthy"
    return health


def suffix(health: dict | None) -> str:
    """What `ps` appends to "Up 5 seconds"."""
    status = (health or {}).get("Status")
    return {"healthy": " (healthy)", "unhealthy": " (unhealthy)", "starting": " (health: starting)"}.get(status, "")


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


# -- the shell: probe, loop --------------------------------------------------------------------

def probe(runtime_cmd: list[str], cid: str, cfg: HealthConfig) -> tuple[int, str, str, str]:
    """Run the check in the container: (exit code, output, start, end); -1 when it timed out."""
    start = time.time()
    try:
        res = subprocess.run([*runtime_cmd, "exec", cid, *command(cfg)], stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=cfg.timeout)
        code, output = res.returncode, (res.stdout + res.stderr)[:MAX_OUTPUT].decode(errors="replace")
    except subprocess.TimeoutExpired:
        code, output = -1, f"Health check exceeded timeout ({cfg.timeout:g}s)"
    return code, output, _iso(start), _iso(time.time())


def start_loop(vessel: str, root: str, cid: str, token: str, cfg: HealthConfig) -> int:
    """The per-container timer: an sh loop in its own session; its pid (= process group)."""
    script = ('while sleep "$1"; do "$2" --root "$3" healthcheck run --token "$4" "$5" >/dev/null 2>&1; '
              f'[ $? -ge {NOT_RUNNING} ] && exit 0; done')
    proc = subprocess.Popen(["/bin/sh", "-c", script, "vessel-health", f"{cfg.interval:g}", vessel, root, token, cid],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)
    return proc.pid


def stop_loop(pid: int | None, cid: str) -> None:
    """End a container's loop (checking that pid is still that loop: pids are reused)."""
    if not pid:
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if cid.encode() not in f.read():
                return
        os.killpg(pid, signal.SIGTERM)
    except (OSError, ProcessLookupError):
        pass
