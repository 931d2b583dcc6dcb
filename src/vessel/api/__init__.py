"""The Docker Engine API, served by `vessel daemon` over a unix socket (docs/api.md).

  client ──HTTP/1.1──▶ server.py (listeners, connections, framing, hijack)
                          │
                          ▼
                       router.py (versioned paths, routes, errors -> status + {"message"})
                          │
       ┌──────────┬───────┼────────┬──────────┬──────────┬─────────┐
   containers  attach   exec     images    networks   volumes   system/events
       └──────────┴───────┴────────┴──────────┴──────────┴─────────┘
                          │
                          ▼
              vessel.engine.Engine (one per connection), the image store,
              the network manager: the same root and state as the daemonless CLI
"""

API_VERSION = "1.42"  # the highest version whose endpoints and fields vessel implements
MIN_API_VERSION = "1.24"
ENGINE_NAME = "vessel"


def version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor)
