"""Registry credentials: ``<root>/auth.json`` (mode 0600) in docker's config.json ``auths`` format.

```
{"auths": {"127.0.0.1:5000": {"auth": "<base64 user:password>"},
           "https://index.docker.io/v1/": {"auth": "..."}}}
```
The file lives under the vessel root (not ``~/.docker``), so each root has its
own logins and tests never touch the user's.  The Docker API passes
credentials per request in ``X-Registry-Auth`` (base64url JSON
``{"username", "password", "serveraddress", "identitytoken"}``); those are used
for that request only.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vessel.errors import InvalidArgument, SystemFailure
from vessel.image.distribution import auth_key

AUTH_FILE = "auth.json"


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""   # a refresh token (OAuth2); sent as the token request's password grant

    def __bool__(self) -> bool:
        return bool(self.username or self.identity_token)

    def __repr__(self) -> str:  # never print a password
        return f"Credentials(username={self.username!r})"


def encode_auth(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def decode_auth(value: str, where: str) -> Credentials:
    try:
        text = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise InvalidArgument(f"{where}: auth is not base64 of user:password", where=where) from err
    user, sep, password = text.partition(":")
    if not sep:
        raise InvalidArgument(f"{where}: auth is not base64 of user:password", where=where)
    return Credentials(user, password)


def decode_registry_auth(header: str | None) -> Credentials:
    """The Docker API's ``X-Registry-Auth`` (base64url JSON); empty credentials when absent or ``{}``."""
    if not header or not header.strip():
        return Credentials()
    text = header.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as err:
        raise InvalidArgument("X-Registry-Auth is not base64url-encoded JSON",
                              hint="send base64url(JSON {\"username\", \"password\"})") from err
    if not isinstance(data, dict):
        raise InvalidArgument("X-Registry-Auth is not a JSON object")
    if data.get("auth") and not data.get("username"):
        return decode_auth(str(data["auth"]), "X-Registry-Auth")
    return Credentials(str(data.get("username") or ""), str(data.get("password") or ""),
                       str(data.get("identitytoken") or ""))


class CredentialStore:
    """``auths`` of one file; written atomically with mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def under(cls, root: Path) -> "CredentialStore":
        return cls(Path(root) / AUTH_FILE)

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_bytes() or b"{}")
        except FileNotFoundError:
            return {}
        except ValueError as err:
            raise InvalidArgument(f"{self.path} is not valid JSON: {err}", path=str(self.path),
                                  hint="fix or remove the file, then log in again") from err
        except OSError as err:
            raise SystemFailure.from_os_error(f"cannot read {self.path}", err) from err
        if not isinstance(data, dict) or not isinstance(data.get("auths", {}), dict):
            raise InvalidArgument(f"{self.path}: auths is not an object", path=str(self.path))
        return data

    def get(self, domain: str) -> Credentials:
        entry = self._read().get("auths", {}).get(auth_key(domain))
        if not isinstance(entry, dict):
            return Credentials()
        if entry.get("auth"):
            return decode_auth(str(entry["auth"]), f"{self.path}: {auth_key(domain)}")
        return Credentials(identity_token=str(entry.get("identitytoken") or ""))

    def set(self, domain: str, creds: Credentials) -> None:
        data = self._read()
        data.setdefault("auths", {})[auth_key(domain)] = {"auth": encode_auth(creds.username, creds.password)}
        self._write(data)

    def remove(self, domain: str) -> bool:
        data = self._read()
        found = data.get("auths", {}).pop(auth_key(domain), None) is not None
        if found:
            self._write(data)
        return found

    def _write(self, data: dict) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}-")
            try:
                os.fchmod(fd, 0o600)
                with open(fd, "w") as out:
                    json.dump(data, out, indent=1, sort_keys=True)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except OSError as err:
            raise SystemFailure.from_os_error(f"cannot write {self.path}", err) from err
