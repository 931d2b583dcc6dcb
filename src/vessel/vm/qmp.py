"""A small synchronous face on the ``qemu.qmp`` library (which is asyncio-based).

Each public function opens the VM's QMP socket, runs one short conversation and
closes it; long operations (migration) poll ``query-migrate`` until done.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from qemu.qmp import QMPClient
from qemu.qmp.error import QMPError

from vessel.errors import SystemFailure

Conversation = Callable[[QMPClient], Awaitable[Any]]
CONNECT_ATTEMPTS = 4


def talk(socket: Path, conversation: Conversation, *, what: str, timeout: float = 30.0) -> Any:
    """Connect to ``socket``, run ``conversation(client)``, disconnect; errors become SystemFailure."""

    async def connect(client: QMPClient) -> None:
        # QEMU's monitor serves one client at a time: a session still closing (the boot
        # supervisor's, a previous verb's) makes the greeting negotiation fail; try again.
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                await asyncio.wait_for(client.connect(str(socket)), timeout)
                return
            except QMPError:
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))

    async def main() -> Any:
        client = QMPClient(f"vessel-{socket.parent.name}")
        try:
            await connect(client)
            return await asyncio.wait_for(conversation(client), timeout)
        finally:
            try:
                await client.disconnect()
            except EOFError:  # QEMU closed the socket first: expected after "quit"
                pass

    try:
        return asyncio.run(main())
    except (QMPError, OSError, EOFError, asyncio.TimeoutError) as err:
        raise SystemFailure(f"{what}: QMP on {socket} failed: {type(err).__name__}: {err}", socket=str(socket)) from err


def execute(socket: Path, command: str, arguments: dict | None = None, *, what: str = "") -> Any:
    async def conv(client: QMPClient) -> Any:
        return await client.execute(command, arguments)

    return talk(socket, conv, what=what or f"QMP {command}")


async def wait_migration(client: QMPClient, poll: float = 0.05, timeout: float = 300.0) -> dict:
    """Poll ``query-migrate`` until the migration completes; raise on failure."""
    deadline = time.monotonic() + timeout
    while True:
        info = await client.execute("query-migrate")
        status = info.get("status")
        if status == "completed":
            return info
        if status in ("failed", "cancelled"):
            raise SystemFailure(f"migration {status}: {info.get('error-desc', 'no reason given')}")
        if time.monotonic() > deadline:
            await client.execute("migrate_cancel")
            raise SystemFailure(f"migration did not complete within {timeout:.0f}s (status {status})")
        await asyncio.sleep(poll)


async def send_fd(client: QMPClient, fd: int, name: str) -> None:
    """Hand ``fd`` to QEMU (SCM_RIGHTS) under ``name`` for ``fd:NAME`` URIs."""
    client.send_fd_scm(fd)
    await client.execute("getfd", {"fdname": name})
