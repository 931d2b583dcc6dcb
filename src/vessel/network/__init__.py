"""Container networking: bridges, veth pairs, NAT and published ports, user networks with DNS.

The engine uses `NetworkManager` (see docs/network.md); `parse_publish`
turns ``-p`` specs into `PortMapping` values.  Pure modules: model, ipam,
ports, plan, files, dnswire.  Kernel shell: links (netlink), nft (nftables
JSON), dns (resolver processes), kernel (the interface tying them together).
"""

from vessel.network.manager import Config, NetworkManager, ReconcileReport
from vessel.network.model import Endpoint, Network, PortMapping
from vessel.network.ports import parse_publish, publish_all

__all__ = ["Config", "Endpoint", "Network", "NetworkManager", "PortMapping", "ReconcileReport",
           "parse_publish", "publish_all"]
