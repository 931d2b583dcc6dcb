"""vessel: software containment in Python (OCI runtime, images, containers, VMs, cluster)."""

from vessel import _dccache

__version__ = "0.1.0"

_dccache.install()   # compiled dataclass methods from a cache: start-up time (see _dccache)
