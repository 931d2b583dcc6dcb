"""One error hierarchy for all of vessel.

Every error carries what failed (a message naming the object), the offending
values as fields, and optionally a hint.  Errors are mapped to exit codes or
HTTP statuses only at the edges (CLI, API).
"""

from __future__ import annotations


class VesselError(Exception):
    """Base of every error vessel raises on purpose."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.fields = fields

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHint: {self.hint}"
        return self.message

    def to_json(self) -> dict:
        out: dict = {"error": type(self).__name__, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        for key, value in self.fields.items():
            out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        return out


class NotFound(VesselError):
    """A named object (container, image, file, network...) does not exist."""

    http_status = 404


class Conflict(VesselError):
    """The object exists already, or is in a state that forbids the operation."""

    http_status = 409


class InvalidArgument(VesselError):
    """Input is malformed or out of range."""

    http_status = 400


class ResourceExhausted(VesselError):
    """A pool ran dry: addresses, ports, capacity, quota."""

    http_status = 503


class Unsupported(VesselError):
    """The host or the build cannot do this (missing kernel feature, tool...)."""

    http_status = 501


class SystemFailure(VesselError):
    """A system call or external tool failed for a reason outside the user's input."""

    http_status = 500

    @classmethod
    def from_os_error(cls, what: str, err: OSError, *, hint: str | None = None, **fields: object) -> "SystemFailure":
        reason = err.strerror or str(err)
        return cls(f"{what}: {reason}", hint=hint, errno=err.errno, **fields)
