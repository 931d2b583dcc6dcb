"""`run`: create + start, then wait for the container's init, forwarding signals, then delete."""

from __future__ import annotations

import os
import signal

from vessel.runtime import ops
from vessel.runtime.create import CreateOptions, create
from vessel.runtime.linux import libc as L

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


def exit_status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def wait_forwarding(pid: int) -> int:
    """Wait for pid (our child, or reparented to us as subreaper), forwarding signals; its exit status."""
    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    old = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        while True:
            try:
                got, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 255
            if got == pid:
                return exit_status(status)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(opts: CreateOptions, detach: bool, warn) -> int:
    L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
    sd, state = create(opts, warn)
    try:
        ops.start(opts.root, opts.container_id, warn)
    except BaseException:
        ops.delete(opts.root, opts.container_id, True, warn)
        raise
    if detach:
        return 0
    code = wait_forwarding(state.pid)
    ops.delete(opts.root, opts.container_id, True, warn)
    return code
