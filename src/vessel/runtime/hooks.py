"""OCI lifecycle hooks: run each with the state JSON on stdin, honouring its timeout."""

from __future__ import annotations

import json
import os
import subprocess

from vessel.errors import SystemFailure
from vessel.oci.spec import Hook


def run_hooks(kind: str, hooks: list[Hook], state: dict) -> None:
    """Run hooks in order; the first failure raises (the caller decides if it is fatal)."""
    payload = json.dumps(state).encode()
    for hook in hooks:
        args = hook.args or [hook.path]
        env = dict(e.split("=", 1) for e in hook.env if "=" in e)
        try:
            res = subprocess.run(args, executable=hook.path, input=payload, env=env,
                                 capture_output=True, timeout=hook.timeout, close_fds=True)
        except subprocess.TimeoutExpired:
            raise SystemFailure(f"{kind} hook {hook.path} timed out after {hook.timeout} s",
                                hook=hook.path) from None
        except OSError as err:
            raise SystemFailure.from_os_error(f"{kind} hook {hook.path}", err, hook=hook.path) from None
        if res.returncode != 0:
            detail = (res.stderr or res.stdout).decode(errors="replace").strip()[-400:]
            raise SystemFailure(f"{kind} hook {hook.path} exited with status {res.returncode}: {detail}",
                                hook=hook.path)


def hook_list(spec_hooks, attr: str) -> list[Hook]:
    return list(getattr(spec_hooks, attr)) if spec_hooks is not None else []


def fork_hooks_in_place(kind: str, hooks: list[Hook], state: dict) -> None:
    """Run hooks from inside the container's namespaces (createContainer, startContainer).

    subprocess works there too: it forks the current (single-threaded) init.
    """
    if hooks:
        os.environ.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        run_hooks(kind, hooks, state)
