"""Typed messages between the runtime and the container's init (JSON over SOCK_SEQPACKET)."""

from __future__ import annotations

import json
import socket

from vessel.errors import SystemFailure


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def send(self, kind: str, **fields: object) -> None:
        self.sock.send(json.dumps({"type": kind, **fields}).encode())

    def recv(self, timeout: float | None = None) -> dict:
        self.sock.settimeout(timeout)
        try:
            raw = self.sock.recv(65536)
        except socket.timeout:
            raise SystemFailure(f"container init did not answer within {timeout} s") from None
        if not raw:
            return {"type": "eof"}
        return json.loads(raw)

    def expect(self, kind: str, timeout: float | None = None) -> dict:
        msg = self.recv(timeout)
        if msg["type"] == kind:
            return msg
        if msg["type"] == "error":
            err = SystemFailure(msg.get("message", "container init failed"), hint=msg.get("hint"))
            err.exit_code = msg.get("exit_code") or 1
            raise err
        if msg["type"] == "eof":
            raise SystemFailure(f"container init exited before sending {kind!r}")
        raise SystemFailure(f"protocol error: expected {kind!r} from container init, got {msg['type']!r}")

    def send_error(self, err: BaseException) -> None:
        hint = getattr(err, "hint", None)
        message = getattr(err, "message", None) or str(err)
        try:
            self.send("error", message=message, hint=hint, exit_code=getattr(err, "exit_code", 1))
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
