"""Placement engine: which machine takes each task or VM (pure, no I/O).

Typical use::

    table = MachineTable(machines, entitlements)
    placer = Placer(table, policy="best-fit", seed=1)
    decision = placer.place(Request("web-1", {"cpu": 2000, "memory": 4096}), explain=True)
    placer.remove("web-1")

See docs/placement.md for the pipeline and the policies.
"""

from vessel.placement.engine import Placer
from vessel.placement.filters import Compiled
from vessel.placement.model import (
    Constraints,
    Decision,
    Entitlement,
    Explanation,
    Machine,
    MachineState,
    Request,
    Spread,
)
from vessel.placement.policies import POLICIES, Policy, get_policy
from vessel.placement.table import MachineTable

__all__ = [
    "Compiled", "Constraints", "Decision", "Entitlement", "Explanation", "Machine", "MachineState",
    "MachineTable", "POLICIES", "Placer", "Policy", "Request", "Spread", "get_policy",
]
