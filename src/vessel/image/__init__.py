"""The image layer of vessel's engine: an OCI image-layout store with overlay snapshots.

The engine uses ``Store`` (get, rootfs_layers, commit, ...) and ``overlay_mount``;
see docs/images.md for the layout, the snapshot scheme and the safety rules.
"""

from vessel.image.mount import Mount, overlay_mount
from vessel.image.reference import Reference, parse_reference
from vessel.image.store import Image, RemoveResult, Store

__all__ = ["Image", "Mount", "Reference", "RemoveResult", "Store", "overlay_mount", "parse_reference"]
