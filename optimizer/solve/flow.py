"""The transport core as a min-cost flow, solved lexicographically (layer 5).

Network: one node per person (supply 1), one per post line, one sink (demand = number
of people).  Arcs: person → post line for every candidate pair (capacity 1), person →
sink for staying unplaced (absent when the person must be placed), and two arcs post
line → sink: the first up to ``min`` (it earns the shortfall reward), the second from
``min`` up to ``max``.

A stage minimises a weighted sum of terms whose weights keep it lexicographic
(each weight exceeds the range of everything weighted below it).  After a stage, node
potentials (shortest-path distances in the residual graph) give every arc's reduced
cost; by complementary slackness an arc with positive reduced cost carries no flow in
any optimum of that stage and one with negative reduced cost is saturated in all of
them.  Those arcs are fixed, so the next stage optimises exactly over the optimal set
of the previous ones: the lexicographic optimum of the flow model, with a proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow

from optimizer.data import CHANGES, LEADERSHIP_SHORTFALL_WEIGHT, IntArray, Problem
from optimizer.solve.candidates import Candidates

PAIR, UNPLACED, POST_MIN, POST_REST = 0, 1, 2, 3

#: Largest arc cost magnitude allowed: OR-Tools scales costs by the node count and the
#: total cost must fit in int64, so keep well inside it.
COST_LIMIT = 2**62
#: Reduced cost standing for "this arc cannot change any more".
UNREACHABLE = 2**60


class FlowInfeasible(Exception):
    """The flow model has no feasible flow (a fix pin or require_all_placed cannot hold)."""


@dataclass
class Network:
    """Arcs of the flow model with their kind and what they refer to."""

    num_persons: int
    num_posts: int
    tail: IntArray
    head: IntArray
    cap: IntArray
    kind: np.ndarray  # int8: PAIR, UNPLACED, POST_MIN, POST_REST
    ref: IntArray  # candidate index, person, or post line
    supply: IntArray = field(init=False)

    def __post_init__(self) -> None:
        self.supply = np.zeros(self.num_nodes, dtype=np.int64)
        self.supply[: self.num_persons] = 1
        self.supply[self.sink] = -self.num_persons

    @property
    def sink(self) -> int:
        """Index of the sink node."""
        return self.num_persons + self.num_posts

    @property
    def num_nodes(self) -> int:
        """Number of nodes."""
        return self.num_persons + self.num_posts + 1


def build_network(problem: Problem, cand: Candidates) -> Network:
    """Build the flow network of ``problem`` over the candidate pairs."""
    n, p = problem.num_staff, problem.num_posts
    sink = n + p
    stay = np.flatnonzero(cand.can_stay_unplaced)
    pmin, pmax = problem.posts.min, problem.posts.max
    post_ids = np.arange(p, dtype=np.int64)
    has_min = pmin > 0
    has_rest = pmax > pmin
    tail = np.concatenate([cand.person, stay, n + post_ids[has_min], n + post_ids[has_rest]])
    head = np.concatenate(
        [
            n + cand.post,
            np.full(len(stay), sink, dtype=np.int64),
            np.full(int(has_min.sum()), sink, dtype=np.int64),
            np.full(int(has_rest.sum()), sink, dtype=np.int64),
        ]
    )
    cap = np.concatenate(
        [
            np.ones(len(cand), dtype=np.int64),
            np.ones(len(stay), dtype=np.int64),
            pmin[has_min],
            (pmax - pmin)[has_rest],
        ]
    )
    kind = np.concatenate(
        [
            np.full(len(cand), PAIR, dtype=np.int8),
            np.full(len(stay), UNPLACED, dtype=np.int8),
            np.full(int(has_min.sum()), POST_MIN, dtype=np.int8),
            np.full(int(has_rest.sum()), POST_REST, dtype=np.int8),
        ]
    )
    ref = np.concatenate([np.arange(len(cand), dtype=np.int64), stay, post_ids[has_min], post_ids[has_rest]])
    return Network(n, p, tail.astype(np.int64), head.astype(np.int64), cap, kind, ref)


def term_costs(problem: Problem, cand: Candidates, net: Network, term: str) -> IntArray:
    """Cost of one unit of flow on each arc for objective term ``term``.

    The shortfall term is written as a reward on the ``min`` arcs, so the stage value
    equals shortfall minus the constant Σ weight·min (added back by the caller).
    """
    cost = np.zeros(len(net.tail), dtype=np.int64)
    if term == "shortfall":
        sel = net.kind == POST_MIN
        mult = np.where(problem.posts.leadership, LEADERSHIP_SHORTFALL_WEIGHT, 1)
        cost[sel] = -mult[net.ref[sel]]
    elif term == "unplaced":
        cost[net.kind == UNPLACED] = 1
    elif term == CHANGES:
        sel = net.kind == PAIR
        cost[sel] = cand.changes[net.ref[sel]]
        if cand.reference is not None:
            out = net.kind == UNPLACED
            cost[out] = (cand.reference[net.ref[out]] >= 0).astype(np.int64)
    else:
        sel = net.kind == PAIR
        cost[sel] = cand.term(term)[net.ref[sel]]
    return cost


def shortfall_constant(problem: Problem) -> int:
    """Σ weight·min: the shortfall when no post line gets anyone."""
    mult = np.where(problem.posts.leadership, LEADERSHIP_SHORTFALL_WEIGHT, 1)
    return int((mult * problem.posts.min).sum())


def term_range(problem: Problem, net: Network, cost: IntArray, term: str) -> int:
    """An upper bound on the total of ``term`` over any flow (its range, as it is ≥ 0)."""
    if term == "shortfall":
        return shortfall_constant(problem)
    per_person = np.zeros(net.num_persons, dtype=np.int64)
    tails = net.tail[: len(cost)]
    sel = tails < net.num_persons
    np.maximum.at(per_person, tails[sel], cost[sel])
    return int(per_person.sum())


def potentials(
    num_nodes: int, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray, flow: IntArray
) -> IntArray:
    """Optimal node potentials: shortest-path distances in the residual graph from a
    virtual root joined to every node at cost 0 (vectorised Bellman-Ford).

    The flow must be optimal (no negative cycle), which guarantees termination.
    """
    fwd = flow < cap
    bwd = flow > 0
    u = np.concatenate([tail[fwd], head[bwd]])
    v = np.concatenate([head[fwd], tail[bwd]])
    w = np.concatenate([cost[fwd], -cost[bwd]])
    neg = w < 0
    # Only arcs that can ever lower a distance from 0 matter at the start; all arcs are
    # relaxed every round, grouped by head for a segmented minimum.
    order = np.argsort(v, kind="stable")
    u, v, w = u[order], v[order], w[order]
    heads, starts = np.unique(v, return_index=True)
    dist = np.zeros(num_nodes, dtype=np.int64)
    if not neg.any():
        return dist
    for _ in range(num_nodes + 1):
        cand = dist[u] + w
        best = np.minimum.reduceat(cand, starts)
        improved = best < dist[heads]
        if not improved.any():
            return dist
        dist[heads[improved]] = best[improved]
    raise RuntimeError("negative cycle in the residual graph: the flow was not optimal")


@dataclass(frozen=True)
class StageOutcome:
    """One solved stage of the flow model."""

    terms: tuple[str, ...]
    weights: tuple[int, ...]
    value: int  # weighted stage objective of the whole flow (fixed arcs included)
    term_values: dict[str, int]


class LexicographicFlow:
    """Solve the flow model stage after stage, fixing arcs between stages."""

    def __init__(self, problem: Problem, cand: Candidates, seeds: list[np.ndarray] | None = None) -> None:
        """Build the network; ``seeds[k]`` (a mask over the candidates) are the pairs to
        price in first at stage ``k`` — e.g. the zero-reduced-cost arcs of a similar,
        already solved model.  Without seeds each person's cheapest arcs are used."""
        self.problem = problem
        self.cand = cand
        self.net = build_network(problem, cand)
        num_arcs = len(self.net.tail)
        self.free = np.ones(num_arcs, dtype=bool)
        self.fixed_flow = np.zeros(num_arcs, dtype=np.int64)
        self.flow = np.zeros(num_arcs, dtype=np.int64)
        self.supply = self.net.supply.copy()
        self.seeds = seeds
        self.stage = 0
        self.pricing_rounds = 0
        self._term_cost: dict[str, IntArray] = {}
        #: reduced cost of every arc in the last solved stage (``UNREACHABLE`` where the
        #: arc was no longer free in that stage)
        self.reduced = np.full(num_arcs, UNREACHABLE, dtype=np.int64)
        #: the same, kept for every stage solved so far
        self.stage_reduced: list[IntArray] = []
        self._by_person: tuple[IntArray, IntArray] | None = None

    def cost_of(self, term: str) -> IntArray:
        """Per-arc cost of a term (cached)."""
        if term not in self._term_cost:
            self._term_cost[term] = term_costs(self.problem, self.cand, self.net, term)
        return self._term_cost[term]

    def group_terms(self, terms: tuple[str, ...]) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
        """Split ``terms`` (priority order) into stages whose lexicographic weights fit."""
        limit = COST_LIMIT // (self.net.num_nodes + 1) // 4
        stages: list[tuple[tuple[str, ...], tuple[int, ...]]] = []
        group: list[str] = []
        weights: list[int] = []
        for term in terms:
            cost = self.cost_of(term)
            rng = term_range(self.problem, self.net, cost, term)
            new_weights = [w * (rng + 1) for w in weights] + [1]
            new_group = [*group, term]
            max_arc = sum(
                w * int(np.abs(self.cost_of(t)).max(initial=0))
                for w, t in zip(new_weights, new_group, strict=True)
            )
            total = max_arc * max(1, self.net.num_persons)
            if group and (max_arc > limit or total > COST_LIMIT // 4):
                stages.append((tuple(group), tuple(weights)))
                group, weights = [term], [1]
            else:
                group, weights = new_group, new_weights
        if group:
            stages.append((tuple(group), tuple(weights)))
        return stages

    def _cheapest_pairs(self, cost: IntArray, idx: IntArray, k: int) -> np.ndarray:
        """Mask over ``idx``: non-pair arcs, and each person's ``k`` cheapest pair arcs."""
        kind = self.net.kind[idx]
        keep = kind != PAIR
        pair = np.flatnonzero(~keep)
        person = self.net.tail[idx[pair]]
        order = np.lexsort((cost[idx[pair]], person))
        sorted_person = person[order]
        first = np.searchsorted(sorted_person, sorted_person, side="left")
        rank = np.arange(len(order)) - first
        keep[pair[order[rank < k]]] = True
        return keep

    def solve_stage(
        self, terms: tuple[str, ...], weights: tuple[int, ...], fix: bool, k: int = 12
    ) -> StageOutcome:
        """Minimise the weighted terms over the free arcs; optionally fix arcs after.

        The flow is solved on each person's ``k`` cheapest arcs first; every other free
        arc is then priced with the optimal potentials, and arcs of negative reduced
        cost are added until none is left (column generation).  The result is optimal
        for all free arcs, not only the priced-in ones.
        """
        cost = np.zeros(len(self.net.tail), dtype=np.int64)
        for t, w in zip(terms, weights, strict=True):
            cost += w * self.cost_of(t)
        free_idx = np.flatnonzero(self.free)
        # The previous stage's flow keeps the first round feasible.
        if self.seeds is not None and self.stage < len(self.seeds):
            seeded = np.zeros(len(self.net.tail), dtype=bool)
            seeded[: len(self.cand)] = self.seeds[self.stage]
            seeded[len(self.cand) :] = True  # unplaced and post arcs: always
            active = seeded[free_idx]
        else:
            active = self._cheapest_pairs(cost, free_idx, k)
        active |= self.flow[free_idx] > 0
        self.stage += 1
        self.pricing_rounds = 0
        while True:
            self.pricing_rounds += 1
            idx = free_idx[active]
            try:
                free_flow = self._min_cost_flow(idx, cost)
            except FlowInfeasible:
                if active.all():
                    raise
                active[:] = True
                continue
            pot = potentials(
                self.net.num_nodes,
                self.net.tail[idx],
                self.net.head[idx],
                self.net.cap[idx],
                cost[idx],
                free_flow,
            )
            rc = cost[free_idx] + pot[self.net.tail[free_idx]] - pot[self.net.head[free_idx]]
            entering = ~active & (rc < 0)
            if not entering.any():
                break
            active |= entering
        self.flow = self.fixed_flow.copy()
        self.flow[idx] += free_flow
        term_values = {t: int((self.cost_of(t) * self.flow).sum()) for t in terms}
        if "shortfall" in term_values:
            term_values["shortfall"] += shortfall_constant(self.problem)
        value = sum(w * term_values[t] for t, w in zip(terms, weights, strict=True))
        self.reduced = np.full(len(self.net.tail), UNREACHABLE, dtype=np.int64)
        self.reduced[free_idx] = rc
        self.stage_reduced.append(self.reduced)
        if fix:
            zero = free_idx[rc > 0]
            full = free_idx[rc < 0]  # only priced-in arcs can be < 0 here
            self.free[zero] = False
            self.free[full] = False
            self.fixed_flow[full] = self.net.cap[full]
            np.subtract.at(self.supply, self.net.tail[full], self.net.cap[full])
            np.add.at(self.supply, self.net.head[full], self.net.cap[full])
        return StageOutcome(terms, weights, value, term_values)

    def _min_cost_flow(self, idx: IntArray, cost: IntArray) -> IntArray:
        """Solve the min-cost flow on arcs ``idx`` with the current supplies."""
        smcf = min_cost_flow.SimpleMinCostFlow()
        smcf.add_arcs_with_capacity_and_unit_cost(
            self.net.tail[idx], self.net.head[idx], self.net.cap[idx], cost[idx]
        )
        smcf.set_nodes_supplies(np.arange(self.net.num_nodes), self.supply)
        status = smcf.solve()
        if status != smcf.OPTIMAL:
            if status in (smcf.INFEASIBLE, smcf.UNBALANCED):
                raise FlowInfeasible(f"min-cost flow status {status}")
            raise RuntimeError(f"min-cost flow failed with status {status}")
        return np.asarray(smcf.flows(np.arange(len(idx))), dtype=np.int64)

    def seeds_for(self, keep: np.ndarray) -> list[np.ndarray]:
        """Per solved stage, the candidates (restricted to ``keep``) whose arcs had zero
        reduced cost or carried flow: good first arcs for a slightly changed model."""
        n = len(self.cand)
        used = self.flow[:n] > 0
        return [((rc[:n] == 0) | used)[keep] for rc in self.stage_reduced]

    def person_arcs(self, person: int) -> IntArray:
        """Indices of the arcs leaving ``person`` (its pairs and its unplaced arc)."""
        if self._by_person is None:
            order = np.argsort(self.net.tail, kind="stable")
            starts = np.searchsorted(self.net.tail[order], np.arange(self.net.num_persons + 1))
            self._by_person = (order, starts)
        order, starts = self._by_person
        return order[starts[person] : starts[person + 1]]

    def resolve_cost(self, person: int, unit: int, stage: int = -1, may_stay_below: bool = False) -> int:
        """Least increase of stage ``stage``'s objective, in its reduced costs, for any
        flow in which ``person`` leaves ``unit`` (or, with ``may_stay_below``, takes a
        non-leadership post line of the same unit).  ``UNREACHABLE`` when no such arc
        is open.

        With optimal potentials every change of a flow costs the sum of the reduced
        costs it crosses, each non-negative; a person leaving arc ``e`` for ``f`` costs at
        least ``rc(f) - rc(e)``.  This is what makes :func:`~optimizer.solve.side.conflict_bound`
        valid.
        """
        reduced = self.stage_reduced[stage]
        arcs = self.person_arcs(person)
        current = arcs[self.flow[arcs] > 0]
        others = arcs[self.flow[arcs] == 0]
        pair = self.net.kind[others] == PAIR
        units = np.full(len(others), -1, dtype=np.int64)
        units[pair] = self.cand.unit[self.net.ref[others[pair]]]
        ok = units != unit
        if may_stay_below:
            lead = np.ones(len(others), dtype=bool)
            lead[pair] = self.problem.posts.leadership[self.cand.post[self.net.ref[others[pair]]]]
            ok |= (units == unit) & ~lead
        others = others[ok]
        if len(current) == 0 or len(others) == 0 or reduced[current[0]] >= UNREACHABLE:
            return UNREACHABLE
        best = int(reduced[others].min())
        if best >= UNREACHABLE:
            return UNREACHABLE
        return best - int(reduced[current[0]])

    def assignment(self) -> IntArray:
        """Post line per person from the current flow (``-1`` when unplaced)."""
        out = np.full(self.net.num_persons, -1, dtype=np.int64)
        sel = (self.net.kind == PAIR) & (self.flow > 0)
        cidx = self.net.ref[sel]
        out[self.cand.person[cidx]] = self.cand.post[cidx]
        return out
