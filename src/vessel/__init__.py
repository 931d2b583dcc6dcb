"""vessel: software containment in Python (OCI runtime, images, containers, VMs, cluster)."""

__version__ = "0.1.0"
