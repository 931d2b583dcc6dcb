"""The child process of `POST /build`: run one build, print docker's JSON messages on stdout.

Reads its instructions (a JSON object, see `build.build_spec`) on stdin.  It
takes a private mount namespace first, as `vessel build` does, so the step
overlays never show on the host and vanish with it.  Messages:
`{"stream": "..."}` for each progress line, `{"aux": {"ID": "sha256:..."}}`
and `Successfully built/tagged` at the end, `{"errorDetail": ..., "error": ...}`
on failure (exit status 1).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _error(message: str) -> int:
    _emit({"errorDetail": {"message": message}, "error": message})
    return 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _dockerfile(context: Path, name: str) -> tuple[str, Path]:
    from vessel.errors import InvalidArgument
    from vessel.runtime.paths import secure_join

    path = Path(secure_join(str(context), name))
    try:
        return path.read_text(encoding="utf-8", errors="surrogateescape"), path
    except OSError:
        raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}") from None


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def run(spec: dict) -> int:
    from vessel.build.executor import Builder
    from vessel.build.options import BuildOptions, parse_tags
    from vessel.build.progress import JsonMessageProgress, QuietProgress
    from vessel.build.workspace import private_mount_namespace
    from vessel.image.store import Store

    context = Path(spec["context"])
    text, path = _dockerfile(context, spec["dockerfile"])
    opts = BuildOptions(tags=tuple(spec["tags"]), build_args=spec["build_args"], target=spec["target"],
                        no_cache=spec["no_cache"], labels=spec["labels"], network=spec["network"],
                        platform=spec["platform"])
    tags = parse_tags(opts.tags)
    progress = QuietProgress() if spec["quiet"] else JsonMessageProgress(_write)
    private_mount_namespace()
    store = Store(Path(spec["root"]))
    result = Builder(store, Path(spec["root"]), progress).build(text, path.name, context, opts,
                                                                dockerfile_path=path, use_memo=False)
    image = result.image
    if spec["quiet"]:
        _emit({"aux": {"ID": image.id}})
        _emit({"stream": image.id + "\n"})
    else:
        progress.built(image.id, tags)  # {"aux": {"ID": ...}}, Successfully built/tagged
    progress.close()
    return 0


def main() -> int:
    from vessel.errors import VesselError

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        spec = json.loads(sys.stdin.read())
        if os.geteuid() != 0:
            return _error("vessel builds need root (they mount overlays and run containers)")
        return run(spec)
    except VesselError as err:
        return _error(str(err))
    except KeyboardInterrupt:
        return _error("the build was cancelled")
    except (ValueError, KeyError, TypeError) as err:
        return _error(f"bad build instructions: {err}")


if __name__ == "__main__":
    sys.exit(main())
