"""Leave a short-lived command without the interpreter's teardown.

At exit CPython frees every module, class and code object one by one: ~20 ms for what
`vessel run` or `vessel-runtime create` imports, paid by every command on the container
start path (measured: 10 processes importing the runtime, engine and CLI modules take
112-115 ms each with the normal exit, 89-91 ms with this one).  The launchers
(scripts/write_launchers.py) call `leave` with main()'s exit code once main has returned:
everything vessel writes is closed by then (files through `with`, SQLite transactions
committed), so only the standard streams need flushing.  A process with other live
non-daemon threads exits normally, so that they are joined as usual.
"""

from __future__ import annotations

import os
import sys


def leave(code: object) -> None:
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:                                    # sys.exit("message") semantics
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):        # the reader went away (EPIPE) or the stream is closed
            pass
    threading = sys.modules.get("threading")
    if threading is not None and any(t.is_alive() and not t.daemon and t is not threading.main_thread()
                                     for t in threading.enumerate()):
        sys.exit(status)
    os._exit(status & 0xFF)
