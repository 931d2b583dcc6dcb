"""Start-up time: reuse the code that the dataclass decorator compiles for each class.

`dataclasses` writes every generated method (``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, a frozen class's ``__setattr__``/``__delattr__``) as source text and compiles it
with ``exec``: about 0.3 ms per class.  vessel's short-lived processes (`vessel run`,
`vessel-runtime create`, conmon's exit command) define a hundred or more classes at import,
so this alone cost 20-30 ms per process.  The text depends only on the class's fields, so
its compiled code can be kept: ``vessel._dccache.main()`` (run by scripts/setup.sh, beside
compileall) imports every vessel module and writes the code objects, keyed by their exact
source text, to ``vessel/__pycache__/dataclass-code.<tag>.bin``; each process reads
that file's index (~0.3 ms) and compiles only what it does not find.

Nothing changes in what a class does: a hit is the very code object ``exec`` would have
compiled from the same text.  A stale entry is never hit (the text differs), and a
missing or unreadable cache file only costs the time it would have saved.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import os
import sys
import zlib
from types import CodeType

_INDEX: dict[int, tuple[int, int]] = {}   # key of a source text -> (offset, length) in _BLOB
_BLOB = b""
_NEW: dict[int, CodeType] = {}
_real_exec = builtins.exec
_MAGIC = b"VDCC0001"


def cache_path() -> str:
    """Where the cache lives; $VESSEL_DCCACHE overrides it (tests), `off` disables the cache."""
    if os.environ.get("VESSEL_DCCACHE"):
        return os.environ["VESSEL_DCCACHE"]
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "__pycache__", f"dataclass-code.{sys.implementation.cache_tag}.bin")


def _key(source: str) -> int:
    raw = source.encode()
    return (len(raw) << 64) | (zlib.crc32(raw) << 32) | zlib.adler32(raw)


def _exec(source, globals=None, locals=None, /):  # noqa: A002 - exec's own signature
    if type(source) is str:
        key = _key(source)
        where = _INDEX.get(key)
        if where is not None:
            source = marshal.loads(memoryview(_BLOB)[where[0]:where[0] + where[1]])
        else:
            source = _NEW[key] = compile(source, "<string>", "exec")
    return _real_exec(source, globals, locals)


def install(path: str | None = None) -> int:
    """Load the cache (if any) and route dataclasses' exec through it; the number of entries found.

    The file is a small marshalled index and a blob of marshalled code objects that are only
    unmarshalled when used (unmarshalling all of them would cost more than it saves).
    """
    global _BLOB
    path = path or cache_path()
    if path == "off":
        return 0
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:8] != _MAGIC:
            raise ValueError("not a dataclass code cache")
        size = int.from_bytes(data[8:16], "little")
        index = marshal.loads(data[16:16 + size])
        if not isinstance(index, dict):
            raise ValueError("bad index")
        _INDEX.update(index)
        _BLOB = data[16 + size:]
    except (OSError, EOFError, ValueError, TypeError):
        pass
    dataclasses.exec = _exec  # the module looks `exec` up in its globals before builtins
    return len(_INDEX)


def write(path: str | None = None) -> int:
    """Write the code compiled in this process (see main) atomically; the number of entries."""
    path = path or cache_path()
    index, parts, offset = {}, [], 0
    for key, code in _NEW.items():
        raw = marshal.dumps(code)
        index[key] = (offset, len(raw))
        parts.append(raw)
        offset += len(raw)
    head = marshal.dumps(index)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(_MAGIC + len(head).to_bytes(8, "little") + head + b"".join(parts))
    os.replace(tmp, path)
    return len(index)


def _import_all() -> list[str]:
    """Import every vessel module (to compile every dataclass); the names that failed to import."""
    import importlib
    import pkgutil

    import vessel

    failed = []
    for info in pkgutil.walk_packages(vessel.__path__, "vessel."):
        if info.name.rsplit(".", 1)[-1].startswith("__"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - an optional dependency missing: its classes just stay uncached
            failed.append(info.name)
    return failed


def main() -> int:
    from vessel import _dccache as live   # the instance `vessel/__init__` installed (not __main__)

    live._INDEX.clear()     # rebuild from scratch: every class compiles anew, stale entries go
    failed = live._import_all()
    n = live.write()
    print(f"dataclass code cache: {n} functions -> {live.cache_path()}"
          + (f" (not importable here: {', '.join(failed)})" if failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
