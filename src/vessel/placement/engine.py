"""The placer: request -> feasibility mask -> score -> choose -> commit.

    request ──► quota check ──► feasibility mask ──► cost vector ──► argmin ──► commit
                (entitlement)   (state, owner,       (policy, over   (ties to    (table rows
                                 labels, job limits,  all machines)   lowest      updated in
                                 spread, capacity)                    index)      place)

Refusals are outcomes, not exceptions: a `Decision` without a machine says
why, and its `Explanation` counts the machines each test ruled out.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from vessel.errors import ResourceExhausted
from vessel.placement.filters import Compiled, explain_filters, feasible_mask
from vessel.placement.model import Decision, Explanation, Request
from vessel.placement.policies import Policy, PolicyContext, get_policy
from vessel.placement.table import MachineTable

TOP_SCORES = 3


class Placer:
    """Places requests on a `MachineTable` with a policy; mutates the table."""

    def __init__(self, table: MachineTable, policy: str = "best-fit", *,
                 rng: np.random.Generator | None = None, seed: int = 0,
                 open_first: bool = True, job_policies: Mapping[str, str] | None = None) -> None:
        self.table = table
        self.policy = get_policy(policy)
        self.open_first = open_first
        self.job_policies = {job: get_policy(p) for job, p in (job_policies or {}).items()}
        self.ctx = PolicyContext(rng if rng is not None else np.random.default_rng(seed))
        self.requests: dict[str, Compiled] = {}
        mean_cap = table.cap.mean(axis=1)
        self._size_scale = np.divide(1.0, mean_cap, out=np.zeros(mean_cap.shape), where=mean_cap > 0)

    # -------------------------------------------------------------- inputs
    def compile(self, request: Request | Compiled) -> Compiled:
        if isinstance(request, Compiled):
            return request
        if request.policy is not None:
            get_policy(request.policy)   # reject unknown names early
        return Compiled(request.id, self.table.vector(request.size, f"request {request.id!r}"),
                        request.job, request.entitlement, request.constraints,
                        request.priority, request.policy)

    def policy_for(self, req: Compiled) -> Policy:
        if req.policy is not None:
            return get_policy(req.policy)
        if req.job is not None and req.job in self.job_policies:
            return self.job_policies[req.job]
        return self.policy

    def set_job_policy(self, job: str, policy: str) -> None:
        self.job_policies[job] = get_policy(policy)

    # ------------------------------------------------------------ the core
    def _candidates(self, req: Compiled, policy: Policy, exclude: np.ndarray | None,
                    only_used: bool) -> np.ndarray:
        mask = feasible_mask(self.table, req, exclude)
        return self._narrow(mask, policy, only_used)

    def _narrow(self, mask: np.ndarray, policy: Policy, only_used: bool) -> np.ndarray:
        if only_used:
            mask &= self.table.ntasks > 0
        elif policy.open_first and self.open_first:
            opened = mask & (self.table.ntasks > 0)
            if opened.any():
                return opened
        return mask

    def place_compiled(self, req: Compiled, *, exclude: np.ndarray | None = None,
                       only_used: bool = False, policy: Policy | None = None) -> int:
        """Fast path: place and return the machine index, or -1 if refused."""
        if req.entitlement is not None and self.table.quota_overrun(req.entitlement, req.size):
            return -1
        policy = policy or self.policy_for(req)
        mask = self._candidates(req, policy, exclude, only_used)
        if not mask.any():
            return -1
        j, _ = policy.choose(self.table, req, mask, self.ctx)
        self._commit(req, j)
        return j

    def _commit(self, req: Compiled, j: int) -> None:
        self.table.commit(req.id, j, req.size, req.job, req.entitlement, req.constraints)
        self.requests[req.id] = req
        self.ctx.cursor = j

    def place(self, request: Request | Compiled, *, explain: bool = False,
              exclude: np.ndarray | None = None, only_used: bool = False) -> Decision:
        """Place one request.  A refusal is always explained; a success if asked."""
        req = self.compile(request)
        policy = self.policy_for(req)
        overrun = self.table.quota_overrun(req.entitlement, req.size)
        if overrun:
            exp = Explanation(policy.name, 0, 0, {}, {}, refused=overrun)
            return Decision(req.id, None, reason=overrun, explanation=exp)
        if explain:
            mask, filtered, exhausted = explain_filters(self.table, req, exclude)
        else:
            mask = feasible_mask(self.table, req, exclude)
        feasible = int(mask.sum()) if explain else 0
        mask = self._narrow(mask, policy, only_used)
        if not mask.any():
            if not explain:
                _, filtered, exhausted = explain_filters(self.table, req, exclude)
            exp = Explanation(policy.name, self.table.n, 0, filtered, exhausted)
            return Decision(req.id, None, reason=_no_fit_reason(self.table.n, filtered, exhausted),
                            explanation=exp)
        scores = self._top_scores(req, policy, mask) if explain else ()
        j, score = policy.choose(self.table, req, mask, self.ctx)
        if explain and policy.name == "random":
            scores = ((self.table.names[j], score),)
        self._commit(req, j)
        exp = (Explanation(policy.name, self.table.n, feasible, filtered, exhausted, scores)
               if explain else None)
        return Decision(req.id, self.table.names[j], score=score, explanation=exp)

    def _top_scores(self, req: Compiled, policy: Policy, mask: np.ndarray) -> tuple[tuple[str, float], ...]:
        idx = np.flatnonzero(mask)
        cost = policy.cost(self.table, req, self.ctx)[idx]
        best = np.argsort(cost, kind="stable")[:TOP_SCORES]   # idx ascending: ties to lowest index
        return tuple((self.table.names[idx[b]], float(cost[b])) for b in best)

    # --------------------------------------------------------------- batches
    def order_batch(self, reqs: Sequence[Compiled], policy: Policy | None = None) -> list[Compiled]:
        """Higher priority first; for FFD/BFD then larger first; else arrival order."""
        policy = policy or self.policy
        if policy.decreasing:
            keys = [(-r.priority, -float(r.size @ self._size_scale), i) for i, r in enumerate(reqs)]
        else:
            keys = [(-r.priority, 0.0, i) for i, r in enumerate(reqs)]
        return [reqs[k[2]] for k in sorted(keys)]

    def place_batch(self, requests: Iterable[Request | Compiled], *, explain: bool = False) -> list[Decision]:
        """Place a batch; decisions come back in the order they were made."""
        reqs = [self.compile(r) for r in requests]
        return [self.place(r, explain=explain) for r in self.order_batch(reqs)]

    # ------------------------------------------------------------- removals
    def remove(self, request_id: str) -> str:
        """Remove a placed task; returns the machine it was on."""
        task = self.table.release(request_id)
        self.requests.pop(request_id, None)
        return self.table.names[task.index]

    def move(self, request_id: str, *, exclude: np.ndarray | None = None, only_used: bool = True,
             policy: Policy | None = None) -> int:
        """Re-place a task elsewhere (constraints re-checked); -1 and no change if it cannot move."""
        req = self.requests[request_id]
        task = self.table.release(request_id)
        j = self.place_compiled(req, exclude=exclude, only_used=only_used, policy=policy)
        if j < 0:
            self.put_back(request_id, task.index, req)
        return j

    def put_back(self, request_id: str, j: int, req: Compiled | None = None) -> None:
        """Return a task to machine j, where it was before (undo of a move)."""
        req = req or self.requests[request_id]
        if request_id in self.table.tasks:
            self.table.release(request_id)
        self.table.commit(req.id, j, req.size, req.job, req.entitlement, req.constraints)
        self.requests[req.id] = req

    def require(self, request: Request | Compiled) -> Decision:
        """Place or raise ResourceExhausted with the explanation."""
        decision = self.place(request)
        if not decision.placed:
            exp = decision.explanation
            raise ResourceExhausted(f"cannot place request {decision.request_id!r}: {decision.reason}",
                                    hint=exp.summary() if exp else None)
        return decision


def _no_fit_reason(n: int, filtered: Mapping[str, int], exhausted: Mapping[str, int]) -> str:
    parts = [f"{reason} on {count}" for reason, count in sorted(filtered.items(), key=lambda kv: -kv[1])]
    parts += [f"{dim} exhausted on {count}" for dim, count in sorted(exhausted.items(), key=lambda kv: -kv[1])]
    return f"no machine fits (0 of {n} feasible): " + ", ".join(parts)
