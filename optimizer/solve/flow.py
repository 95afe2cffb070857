"""The transport core as a min-cost flow (layer 5).

Network: one node per person (supply 1), one per post line, one sink (demand = number
of people).  Arcs: person → post line for every candidate pair (capacity 1), person →
sink for staying unplaced (absent when the person must be placed), and two arcs post
line → sink: the first up to ``min`` (it earns the shortfall reward), the second from
``min`` up to ``max``.

A stage minimises a weighted sum of terms whose weights keep it lexicographic (each
weight exceeds the range of everything weighted below it).  Each solve ends with node
potentials (shortest-path distances in the residual graph) that give every arc's
reduced cost; the flows and potentials come from LEMON's network simplex, or OR-Tools
as the fallback (:mod:`~optimizer.solve.mincostflow`).  By complementary slackness an
arc whose reduced cost exceeds the gap between a stage's bound and its best placement
carries no flow in any better placement, and one below minus the gap is saturated in
all of them; :meth:`FlowModel.fix` fixes those arcs, so the next stage optimises over
a set that still holds every optimum of the earlier stages.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import operator
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from optimizer.data import CHANGES, LEADERSHIP_SHORTFALL_WEIGHT, IntArray, Problem
from optimizer.solve.candidates import Candidates
from optimizer.solve.mincostflow import FlowInfeasible, arc_matrix, backend, reoptimise
from optimizer.solve.relatives import relative_rows

PAIR, UNPLACED, POST_MIN, POST_REST = 0, 1, 2, 3

#: Largest arc cost × node count a stage may reach (int64, with room for multipliers,
#: the repair's tie-break weight and either flow back-end's arithmetic: OR-Tools scales
#: costs by the node count, LEMON sums them along paths).
COST_LIMIT = 2**50
#: Largest arc cost of a stage before the next term starts a stage of its own.
STAGE_COST = 2**20
#: Arcs a person may bring into a solve per pricing round.
ENTER_PER_PERSON = 10
#: A pricing round with at most this many arcs of negative reduced cost brings them all
#: in: the per-person cap is for the first rounds' floods, and a few people's long lists
#: of arcs (a relative whose multiplier rose, in a re-plan) would otherwise take one
#: round per ``ENTER_PER_PERSON`` arcs.
ENTER_ALL = 1_000
#: A pricing round that finds at most this many arcs of negative reduced cost may end
#: the pricing of a stage's first flow, which then only starts the stage's linear
#: relaxation (whose column generation brings those arcs in, warm): see the ``settle``
#: argument of :meth:`FlowModel.solve`.  The city's first stage settles with 31 arcs
#: left (two rounds instead of four); at 2,000 the 16,000-person
#: ``pinned-relatives-leadership`` province's settled with 1,022 left, and its
#: relaxation then took three pricing rounds and 5,389 simplex iterations instead of
#: 3,090 (10.6 s of CPU for the solve against 8.2 s; 8.1 s at 100).
SETTLE_ARCS = 100
#: Reduced cost standing for "this arc cannot change any more".
UNREACHABLE = 2**60
#: Relative margin on a linear relaxation's reduced costs before they fix an arc (they
#: come from floating-point simplex).
RELAXATION_MARGIN = 1e-6

log = logging.getLogger(__name__)


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

    def block(self, kind: int) -> slice:
        """The arcs of one kind: consecutive, the kinds' blocks in the order of the kinds
        (:func:`build_network`)."""
        return self._blocks[kind]

    @functools.cached_property
    def _blocks(self) -> list[slice]:
        """Each kind's block, found once: a search of the int8 kinds for int64 bounds
        converts all of them (about 4 ms per call on the city's 2.3 million arcs)."""
        ends = np.searchsorted(self.kind, np.arange(POST_REST + 2, dtype=self.kind.dtype)).tolist()
        return [slice(lo, hi) for lo, hi in itertools.pairwise(ends)]

    @functools.cached_property
    def pair_counts(self) -> IntArray:
        """Pair arcs per person: each person's are a run of the pair block, the runs in
        person order (the candidates come by person)."""
        return np.bincount(self.tail[self.block(PAIR)], minlength=self.num_persons)


def build_network(problem: Problem, cand: Candidates) -> Network:
    """Build the flow network of ``problem`` over the candidate pairs: the pair arcs come
    first, in candidate order (arc ``k`` is candidate ``k``), then the unplaced arcs and
    the post lines' arcs (``min`` arcs, then the arcs above ``min``): each kind of arc
    is one block, in the order of their kinds.  Each array is filled block by block."""
    n, p = problem.num_staff, problem.num_posts
    stay = np.flatnonzero(cand.can_stay_unplaced)
    pmin, pmax = problem.posts.min, problem.posts.max
    with_min = np.flatnonzero(pmin > 0)
    with_rest = np.flatnonzero(pmax > pmin)
    blocks = [len(cand), len(stay), len(with_min), len(with_rest)]
    ends = np.cumsum(blocks).tolist()
    at = [slice(lo, hi) for lo, hi in zip([0, *ends[:-1]], ends, strict=True)]
    tail, head, cap = (np.empty(ends[-1], dtype=np.int64) for _ in range(3))
    ref = np.arange(ends[-1], dtype=np.int64)  # the pair arcs' own: arc k is candidate k
    kind = np.empty(ends[-1], dtype=np.int8)
    # the pair block written straight into the arrays (no temporary of millions of arcs)
    tail[at[0]] = cand.person
    np.add(cand.post, n, out=head[at[0]])
    cap[at[0]], kind[at[0]] = 1, PAIR
    for block, arc_kind, tails, heads, caps, refs in (
        (at[1], UNPLACED, stay, n + p, 1, stay),
        (at[2], POST_MIN, n + with_min, n + p, pmin[with_min], with_min),
        (at[3], POST_REST, n + with_rest, n + p, (pmax - pmin)[with_rest], with_rest),
    ):
        tail[block], head[block], cap[block], ref[block], kind[block] = tails, heads, caps, refs, arc_kind
    return Network(n, p, tail, head, cap, kind, ref)


def term_parts(problem: Problem, cand: Candidates, net: Network, term: str) -> list[tuple[slice, IntArray]]:
    """The blocks of arcs on which objective term ``term`` costs anything, each with the
    cost of one unit of flow on each of its arcs (int64); every other arc costs 0.

    The shortfall term is written as a reward on the ``min`` arcs, so the stage value
    equals shortfall minus the constant Σ weight·min (added back by the caller).
    """
    if term == "shortfall":
        sel = net.block(POST_MIN)
        mult = np.where(problem.posts.leadership, LEADERSHIP_SHORTFALL_WEIGHT, 1)
        return [(sel, -mult[net.ref[sel]].astype(np.int64))]
    out = net.block(UNPLACED)
    if term == "unplaced":
        return [(out, np.ones(out.stop - out.start, dtype=np.int64))]
    pairs = net.block(PAIR)  # the pair arcs come first, in candidate order (build_network)
    if term == CHANGES and cand.reference is not None:
        staying = (cand.reference[net.ref[out]] >= 0).astype(np.int64)
        return [(pairs, np.asarray(cand.changes, dtype=np.int64)), (out, staying)]
    return [(pairs, np.asarray(cand.term(term), dtype=np.int64))]


def term_costs(problem: Problem, cand: Candidates, net: Network, term: str) -> IntArray:
    """Cost of one unit of flow on each arc for objective term ``term``
    (:func:`term_parts` over every arc)."""
    cost = np.zeros(len(net.tail), dtype=np.int64)
    for block, values in term_parts(problem, cand, net, term):
        cost[block] = values
    return cost


def shortfall_constant(problem: Problem) -> int:
    """Σ weight·min: the shortfall when no post line gets anyone."""
    mult = np.where(problem.posts.leadership, LEADERSHIP_SHORTFALL_WEIGHT, 1)
    return int((mult * problem.posts.min).sum())


def term_range(problem: Problem, net: Network, parts: list[tuple[slice, IntArray]], term: str) -> int:
    """An upper bound on the total of ``term`` (its cost on the blocks ``parts``,
    :func:`term_parts`) over any flow (its range, as it is ≥ 0): the sum over the people
    of their dearest arc, read off each person's run of pair arcs
    (:attr:`Network.pair_counts`) and their unplaced arc."""
    if term == "shortfall":
        return shortfall_constant(problem)
    pair, out = net.block(PAIR), net.block(UNPLACED)
    pair_cost = next((values for block, values in parts if block == pair), None)
    out_cost = next((values for block, values in parts if block == out), None)
    counts = net.pair_counts
    some = counts > 0
    dearest = np.zeros(net.num_persons, dtype=np.int64)
    if pair_cost is not None:  # else every pair costs 0
        dearest[some] = np.maximum.reduceat(pair_cost, (np.cumsum(counts) - counts)[some])
    stay = net.tail[out]
    leaving = np.zeros(len(stay), dtype=np.int64) if out_cost is None else out_cost
    dearest[stay] = np.where(some[stay], np.maximum(dearest[stay], leaving), leaving)
    return int(dearest.sum())


def by_person(
    person: IntArray, keys: list[IntArray], ranges: list[tuple[int, int]] | None = None
) -> IntArray:
    """The order of ``np.lexsort((*reversed(keys), person))``: by person, then by each key
    in turn, then by position; ``ranges`` are the keys' (least, largest) values when the
    caller knows them.

    The keys are packed with the person into one int64 (mixed radix over their ranges,
    in place: each fresh array of millions of pairs costs its page faults) and sorted
    once, stably: one sort instead of one per key (0.1 s instead of about 0.3 s per call
    on the city's 2.3 million pairs).  Keys whose ranges do not fit in 63 bits together
    fall back to ``lexsort``.
    """
    if not len(person):
        return np.zeros(0, dtype=np.int64)
    if ranges is None:
        ranges = [(int(key.min()), int(key.max())) for key in keys]
    span = int(person.max()) + 1
    for low, high in ranges:
        span *= high - low + 1
    if span >= 2**63:
        return np.lexsort((*reversed(keys), person))
    packed = np.array(person, dtype=np.int64)
    for key, (low, high) in zip(keys, ranges, strict=True):
        if high == low:
            continue  # a constant key orders nothing
        packed *= high - low + 1
        packed += key - low if low else key
    return np.argsort(packed, kind="stable")


@dataclass(frozen=True)
class FlowSolution:
    """An optimal flow over the free arcs, with a proof of its optimality.

    ``reduced`` holds every free arc's reduced cost under optimal node potentials
    (``UNREACHABLE`` for arcs that were fixed or banned): no arc carrying no flow has a
    negative one and no arc carrying flow a positive one.  ``active`` marks the arcs the
    pricing brought into the solve, a warm start for a solve with slightly changed costs.

    ``priced`` is false for a flow whose pricing was settled early (``settle`` of
    :meth:`FlowModel.solve`): it is then optimal over ``active`` only, some free arcs
    may have a negative reduced cost, and neither its value nor its reduced costs prove
    anything (no bound, no fixing); it only starts a linear relaxation.
    """

    flow: IntArray
    reduced: IntArray
    active: np.ndarray
    value: int
    priced: bool = True


@dataclass(frozen=True)
class StageRelaxation:
    """A stage's linear relaxation over every free arc: a proven lower bound (stage
    units), the reduced cost of every arc under its duals (``inf`` where not free), and
    either the optimal flow, when the relaxation is integral, or its fractional optimal
    solution over every arc (the arcs not free at their fixed flow): the other one is
    ``None`` (an array of millions of floats made only when a fractional solution needs
    it)."""

    bound: float
    reduced: np.ndarray
    flow: IntArray | None
    solution: np.ndarray | None


class FlowModel:
    """The flow network, with the arcs that earlier stages fixed.

    :meth:`solve` minimises any cost vector over the free arcs by column generation;
    :meth:`fix` removes the arcs that the reduced costs of a solved stage prove cannot
    change any more in a placement at most ``gap`` worse.
    """

    def __init__(self, problem: Problem, cand: Candidates, flow_backend: str = "auto") -> None:
        self.problem = problem
        self.cand = cand
        #: the min-cost flow solver (:func:`~optimizer.solve.mincostflow.backend`)
        self.flow_solver = backend(flow_backend)
        self.net = build_network(problem, cand)
        num_arcs = len(self.net.tail)
        self.free = np.ones(num_arcs, dtype=bool)
        self.fixed_flow = np.zeros(num_arcs, dtype=np.int64)
        self.supply = self.net.supply.copy()
        self._term_cost: dict[str, IntArray] = {}
        self._term_parts: dict[str, list[tuple[slice, IntArray]]] = {}
        self._term_range: dict[str, int] = {}
        self._term_max: dict[str, int] = {}
        self._stage_cost: dict[tuple[tuple[str, ...], tuple[int, ...]], IntArray] = {}
        #: the keys of the last :meth:`cheapest` and the pairs' order by person and them
        self._cheapest: tuple[list[IntArray], IntArray] | None = None
        #: the key lists given to :meth:`sort_ahead`, each with (once sorted) its keys that
        #: order the pairs and that order
        self._ahead: list[tuple[list[IntArray], Future[tuple[list[IntArray], IntArray]]]] = []
        #: the placement the last fixing kept, its flow over the free arcs (``None``: none
        #: yet): :meth:`solve` starts from it when it meets the current supplies
        self.feasible: IntArray | None = None
        pairs = len(cand)  # the pair arcs come first, in candidate order (build_network)
        #: unit of each pair arc, ``-1`` for the other arcs
        self.arc_unit = np.full(num_arcs, -1, dtype=np.int64)
        self.arc_unit[:pairs] = cand.unit
        #: whether a pair arc leads to a leadership post line
        self.arc_leadership = np.zeros(num_arcs, dtype=bool)
        self.arc_leadership[:pairs] = problem.posts.leadership[cand.post]
        #: arcs a person may bring into a solve per pricing round (``ENTER_PER_PERSON``
        #: unless the solve's settings say otherwise)
        self.enter_per_person = ENTER_PER_PERSON
        #: :meth:`cheapest` gives every free pair arc once at most this many per person
        #: are free (``0``: never)
        self.all_free_per_person = 0

    @property
    def num_arcs(self) -> int:
        """Number of arcs of the network."""
        return len(self.net.tail)

    @functools.cached_property
    def relative_rows(self) -> list[IntArray]:
        """Every relatives row over the pair arcs (a pair arc's index is its candidate's:
        :func:`~optimizer.solve.relatives.relative_rows`), built once per solve for every
        stage's linear program."""
        return relative_rows(self.problem, self.cand)

    def parts_of(self, term: str) -> list[tuple[slice, IntArray]]:
        """The blocks of arcs on which a term costs anything, with their costs
        (:func:`term_parts`, cached): the stage costs, term values and ranges are read
        from them, without an array over every arc per term (each fresh array of
        millions of arcs costs its page faults)."""
        if term not in self._term_parts:
            self._term_parts[term] = term_parts(self.problem, self.cand, self.net, term)
        return self._term_parts[term]

    def cost_of(self, term: str) -> IntArray:
        """Per-arc cost of a term (cached, read-only)."""
        if term not in self._term_cost:
            cost = term_costs(self.problem, self.cand, self.net, term)
            cost.flags.writeable = False
            self._term_cost[term] = cost
        return self._term_cost[term]

    def stage_cost(self, terms: tuple[str, ...], weights: tuple[int, ...]) -> IntArray:
        """Per-arc cost of the weighted sum of ``terms`` (cached, read-only: each stage's
        search, linear programs and later stages' tie-breaks ask for it again).  A stage
        of one term of weight 1 is that term's cost itself (no copy of millions of
        arcs); the others are summed block by block from the terms' parts
        (:meth:`parts_of`) into one array, whose blocks no term costs on stay untouched."""
        key = (terms, weights)
        if key not in self._stage_cost:
            if weights == (1,):
                cost = self.cost_of(terms[0])
            else:
                cost = np.zeros(self.num_arcs, dtype=np.int64)
                written: list[slice] = []
                for t, w in zip(terms, weights, strict=True):
                    for block, values in self.parts_of(t):
                        if block not in written:  # the first term there: no sum, no temporary
                            np.multiply(values, w, out=cost[block])
                            written.append(block)
                        else:
                            cost[block] += values if w == 1 else w * values
                cost.flags.writeable = False
            self._stage_cost[key] = cost
        return self._stage_cost[key]

    def term_values(self, flow: IntArray, terms: tuple[str, ...]) -> dict[str, int]:
        """Value of each term in a flow (shortfall with its constant added back), read
        from the terms' parts (:meth:`parts_of`) on the arcs the flow uses."""
        used = np.flatnonzero(flow != 0)  # through a mask: nonzero of int64 is 3× slower
        values: dict[str, int] = {}
        for t in terms:
            values[t] = 0
            for block, costs in self.parts_of(t):
                lo, hi = np.searchsorted(used, (block.start, block.stop))
                arcs = used[lo:hi]
                values[t] += int((costs[arcs - block.start] * flow[arcs]).sum())
        if "shortfall" in values:
            values["shortfall"] += shortfall_constant(self.problem)
        return values

    def group_terms(self, terms: tuple[str, ...]) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
        """Split ``terms`` (priority order) into stages: consecutive terms share a stage,
        with lexicographic weights, while its arc costs stay within ``STAGE_COST``
        (small costs keep each flow solve fast)."""
        stages: list[tuple[tuple[str, ...], tuple[int, ...]]] = []
        for term in terms:
            stage = ((term,), (1,))
            if stages:
                merged = self.merge(stages[-1], stage)
                if self.max_arc(merged) <= STAGE_COST:
                    stages[-1] = merged
                    continue
            stages.append(stage)
        return stages

    def merge(
        self, first: tuple[tuple[str, ...], tuple[int, ...]], second: tuple[tuple[str, ...], tuple[int, ...]]
    ) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """One stage minimising ``first`` then ``second`` lexicographically: ``first``'s
        weights multiplied past the range of ``second``."""
        rng = sum(w * self.term_range(t) for t, w in zip(*second, strict=True))
        return (*first[0], *second[0]), (*(w * (rng + 1) for w in first[1]), *second[1])

    def term_range(self, term: str) -> int:
        """The range of ``term`` over any flow (:func:`term_range`, cached)."""
        if term not in self._term_range:
            self._term_range[term] = term_range(self.problem, self.net, self.parts_of(term), term)
        return self._term_range[term]

    def max_arc(self, stage: tuple[tuple[str, ...], tuple[int, ...]]) -> int:
        """Largest arc cost magnitude of a stage (each term's largest magnitude found once:
        :meth:`group_terms` asks again for every grouping it tries)."""
        return sum(w * self._max_abs(t) for t, w in zip(*stage, strict=True))

    def _max_abs(self, term: str) -> int:
        """Largest arc cost magnitude of one term (cached)."""
        if term not in self._term_max:
            parts = [values for _, values in self.parts_of(term)]  # 0 on every other arc
            top = max((int(values.max(initial=0)) for values in parts), default=0)
            bottom = min((int(values.min(initial=0)) for values in parts), default=0)
            self._term_max[term] = max(top, -bottom)
        return self._term_max[term]

    def fits(self, stage: tuple[tuple[str, ...], tuple[int, ...]]) -> bool:
        """Whether a stage's costs stay inside what the flow solvers accept (OR-Tools
        multiplies costs by the node count; multipliers and repairs add a little more)."""
        return self.max_arc(stage) * (self.net.num_nodes + 1) < COST_LIMIT

    def cheapest(self, keys: list[IntArray], k: int) -> np.ndarray:
        """Mask over the arcs: every non-pair arc, and each person's ``k`` cheapest pair
        arcs ordered by ``keys`` (the first key decides, the next break ties); every
        free pair arc instead once at most :attr:`all_free_per_person` per person are
        free (a later stage, after fixing: one solve over all of them, no sort and no
        pricing round).  The order of read-only keys (the stage costs) is kept for the
        next call, or was sorted ahead (:meth:`sort_ahead`)."""
        pairs = len(self.cand)  # the pair arcs come first, in candidate order
        if np.count_nonzero(self.free[:pairs]) <= self.all_free_per_person * self.net.num_persons:
            keep = np.ones(self.num_arcs, dtype=bool)
            keep[:pairs] = self.free[:pairs]
            return keep
        ahead = next((future for listed, future in self._ahead if _same(listed, keys)), None)
        if ahead is not None:
            _, order = ahead.result()
        else:
            keys, ranges = self._ordering(keys)
            last = self._cheapest
            if last is not None and _same(keys, last[0]):
                order = last[1]
            else:
                order = by_person(self.cand.person, [key[:pairs] for key in keys], ranges)
                # read-only keys (the stage costs) cannot change: the next stage often asks again
                self._cheapest = (keys, order) if not any(key.flags.writeable for key in keys) else None
        keep = np.ones(self.num_arcs, dtype=bool)
        keep[:pairs] = False
        keep[order[self.pair_rank < k]] = True
        return keep

    def _ordering(self, keys: list[IntArray]) -> tuple[list[IntArray], list[tuple[int, int]]]:
        """Of ``keys``, those that order the pairs, and their ranges over the pairs: a key
        the same on every pair orders nothing (the first stage's, blind to pairs)."""
        pairs = len(self.cand)
        ranged = [(key, (int(key[:pairs].min()), int(key[:pairs].max()))) for key in keys]
        ranged = [(key, (low, high)) for key, (low, high) in ranged if low != high]
        return [key for key, _ in ranged], [span for _, span in ranged]

    def sort_ahead(self, key_lists: list[list[IntArray]]) -> None:
        """Sort, in a thread of its own and in their order, the pairs' orders that
        :meth:`cheapest` will be asked for with each of ``key_lists`` (lists of read-only
        keys, the stage costs, not sorted ahead already; the others are left to
        :meth:`cheapest`).

        NumPy's sorts and passes over arrays release the GIL: a stage asks for the later
        stages' orders (about 0.06 s of CPU each on the city's 2.3 million pairs), which
        are sorted while its relaxation runs in HiGHS (which releases it too) instead of
        before each stage's first flow.  They are the orders :meth:`cheapest` would sort
        itself (lists whose ordering keys are the same share one, also with the order it
        kept last): nothing depends on when they are ready.
        """
        listed = [keys for keys, _ in self._ahead]
        fixed = [keys for keys in key_lists if not any(key.flags.writeable for key in keys)]
        lists = [keys for keys in fixed if not any(_same(keys, other) for other in listed)]
        if not lists:
            return
        pairs = len(self.cand)
        known = [] if self._cheapest is None else [self._cheapest]

        def sort(keys: list[IntArray]) -> tuple[list[IntArray], IntArray]:
            """The keys of ``keys`` that order the pairs and their order (one worker: the
            lists in turn, each order sorted once)."""
            ordering, ranges = self._ordering(keys)
            order = next((done for by, done in known if _same(by, ordering)), None)
            if order is None:
                order = by_person(self.cand.person, [key[:pairs] for key in ordering], ranges)
                known.append((ordering, order))
            return ordering, order

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="staffplan-sort-ahead")
        self._ahead += [(keys, pool.submit(sort, keys)) for keys in lists]
        pool.shutdown(wait=False)  # its thread ends with the last list

    @functools.cached_property
    def pair_rank(self) -> IntArray:
        """Each pair arc's place in its person's run (:attr:`Network.pair_counts`): also its
        person's rank in any order by person, then anything (:meth:`cheapest`)."""
        counts = self.net.pair_counts
        return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)

    def solve(
        self,
        cost: IntArray,
        active: np.ndarray,
        banned: np.ndarray | None = None,
        guide: IntArray | None = None,
        settle: Callable[[IntArray], bool] | None = None,
    ) -> FlowSolution:
        """Minimise ``cost`` over the free arcs (less ``banned``), starting from the arcs in
        ``active`` and pricing the others in while any has a negative reduced cost.  The
        people banned from some arcs start with all their other free arcs active (their
        way out of the banned unit).  When the active arcs admit no flow, the free arcs
        cheapest in ``guide`` (reduced costs of a nearby solve) join until the active set
        doubles; without ``guide``, every free arc joins.

        When :attr:`feasible` is a flow of this network that uses no banned arc and some
        free arcs are left to price in, the first round starts from it and every later
        one from the round before (:func:`~optimizer.solve.mincostflow.reoptimise`: only
        the arcs priced below zero start out of balance).  Every round ends on the
        largest optimal potentials, so the rounds price in the same arcs as rounds
        solved afresh and the solve ends with the same value, active arcs and reduced
        costs; its flow is the last warm round's optimum, which may be another one
        among ties than a solve afresh returns (the stage relaxations start from it:
        the 4× city's moves relaxation then ends fractional and takes an exact finish,
        the whole 4× 43.6 s against 40.0 s with the last round solved once more afresh,
        while the city's moves stage takes 1.95 s against 2.54 s).

        With ``settle``, a round that leaves at most ``SETTLE_ARCS`` arcs of negative
        reduced cost asks ``settle(flow)`` (that round's flow afresh, over every arc)
        whether to stop there: the flow returned is then not priced
        (``FlowSolution.priced`` false, see there).

        Raises
        ------
        FlowInfeasible
            When no flow exists (a fix pin or require_all_placed cannot hold).
        """
        free = self.free if banned is None else self.free & ~banned
        net = self.net
        act = active.copy()
        act[net.block(PAIR).stop :] = True  # every arc but the pairs (they come first)
        act &= free
        if self.feasible is not None:
            act |= free & (self.feasible > 0)
        if banned is not None:
            # the people banned from some arcs start with all their other free arcs
            act |= free & np.isin(net.tail, net.tail[np.flatnonzero(banned & self.free)])
        # a single round (no arc left to price in) is solved afresh at once
        waiting = free & ~act  # the free arcs left to price in, kept as arcs join
        start = self._start(banned) if waiting.any() else None
        scratch = np.empty(self.num_arcs, dtype=np.int64)  # reused by every round
        while True:
            idx = np.flatnonzero(act)
            try:
                part, pot = self._min_cost_flow(idx, cost, start)
            except FlowInfeasible:
                inactive = np.flatnonzero(waiting)
                if not len(inactive):
                    raise
                if guide is None:
                    act = free.copy()
                else:
                    k = min(len(inactive), len(idx))
                    act[inactive[np.argpartition(guide[inactive], k - 1)[:k]]] = True
                waiting = free & ~act
                continue
            # reduced costs over every arc (one pass, no gathering of the free ones; mode
            # clip: np.take's default mode buffers, and fancy indexing is slower still)
            rc = np.take(pot, net.tail, mode="clip")
            rc -= np.take(pot, net.head, out=scratch, mode="clip")
            rc += cost
            below = rc < 0
            below &= waiting
            entering = np.flatnonzero(below)
            if not len(entering):
                break
            if start is not None:
                if settle is not None and len(entering) <= SETTLE_ARCS:
                    start = None  # this round's flow as solved afresh, for settle
                    continue
                start = np.zeros(self.num_arcs, dtype=np.int64), pot  # the next round's start
                start[0][idx] = part
            if settle is not None and len(entering) <= SETTLE_ARCS and settle(self._flow(idx, part)):
                return self._solution(idx, part, cost, free, rc, act, priced=False)
            joining = self._most_negative(entering, rc[entering])
            act[joining] = True
            waiting[joining] = False
        return self._solution(idx, part, cost, free, rc, act)

    def _start(self, banned: np.ndarray | None) -> tuple[IntArray, IntArray] | None:
        """:attr:`feasible` with zero potentials, when it is a flow of the current network
        (it meets every supply) that uses no ``banned`` arc: the first round of
        :meth:`solve` starts from it; ``None`` otherwise."""
        flow = self.feasible
        if flow is None or (banned is not None and (flow[banned] > 0).any()):
            return None
        used = np.flatnonzero(flow)
        tail, head = self.net.tail[used], self.net.head[used]
        size = self.net.num_nodes
        out = np.bincount(tail, flow[used], size) - np.bincount(head, flow[used], size)
        if not np.array_equal(out, self.supply):
            return None
        return flow, np.zeros(size, dtype=np.int64)

    def _flow(self, idx: IntArray, part: IntArray) -> IntArray:
        """The flow over every arc: ``part`` on the arcs ``idx``, the fixed flow elsewhere."""
        flow = self.fixed_flow.copy()
        flow[idx] += part
        return flow

    def _solution(
        self,
        idx: IntArray,
        part: IntArray,
        cost: IntArray,
        free: np.ndarray,
        rc: IntArray,
        act: np.ndarray,
        priced: bool = True,
    ) -> FlowSolution:
        """The :class:`FlowSolution` of a solve over the arcs ``idx`` (flow ``part`` on
        them) at ``cost``, with reduced costs ``rc`` on the ``free`` arcs: ``rc`` (the
        solve's own array, over every arc) becomes the solution's, ``UNREACHABLE``
        written on the arcs not free (no second array of millions of arcs)."""
        flow = self._flow(idx, part)
        reduced = rc
        reduced[~free] = UNREACHABLE
        used = np.flatnonzero(flow)
        return FlowSolution(flow, reduced, act, int((cost[used] * flow[used]).sum()), priced)

    def _most_negative(self, arcs: IntArray, rc: IntArray) -> IntArray:
        """Of the entering ``arcs`` (reduced costs ``rc``), each person's
        :attr:`enter_per_person` most negative ones (all of them when at most
        ``ENTER_ALL``): partial pricing keeps solves small."""
        if len(arcs) <= ENTER_ALL:
            return arcs
        person = self.net.tail[arcs]
        order = by_person(person, [rc])
        sorted_person = person[order]
        rank = np.arange(len(order)) - np.searchsorted(sorted_person, sorted_person, side="left")
        return arcs[order[rank < self.enter_per_person]]

    def fix(self, sol: FlowSolution, gap: int) -> None:
        """Fix every free arc whose reduced cost in ``sol`` exceeds ``gap`` in magnitude:
        by complementary slackness it keeps its flow (0, or its capacity when negative)
        in every flow within ``gap`` of the optimum ``sol``."""
        self.fix_reduced(sol.reduced, sol.flow, gap)

    def fix_relaxed(self, reduced: np.ndarray, flow: IntArray, gap: float) -> None:
        """Fix the arcs that a linear relaxation proves: ``reduced`` are its reduced costs,
        ``flow`` a placement ``gap`` above its bound; every placement as good as ``flow``
        keeps the arcs whose reduced cost exceeds ``gap`` in magnitude.

        The reduced costs are floating point: a margin covers rounding, and when ``flow``
        itself disagrees with the fixing (it would only by a numerical error) nothing is
        fixed.
        """
        finite = np.isfinite(reduced)  # the largest magnitude read in place, not gathered
        top, bottom = reduced.max(initial=0, where=finite), reduced.min(initial=0, where=finite)
        largest = max(float(top), -float(bottom))
        limit = gap + RELAXATION_MARGIN * (1.0 + abs(gap) + largest)
        zero, full = self._beyond(reduced, limit)
        if zero[np.flatnonzero(flow != 0)].any() or (flow[full] < self.net.cap[full]).any():
            log.warning("the relaxation's reduced costs disagree with the best placement: no arc fixed")
            return
        self._fix_arcs(zero, full, flow)

    def fix_reduced(self, reduced: np.ndarray, flow: IntArray, gap: float) -> None:
        """Fix every free arc whose reduced cost in ``reduced`` (from any optimal dual
        solution of a relaxation whose value is ``gap`` below the placements kept)
        exceeds ``gap`` in magnitude; ``flow`` is a placement the fixing keeps."""
        self._fix_arcs(*self._beyond(reduced, gap), flow)

    def _beyond(self, reduced: np.ndarray, gap: float) -> tuple[np.ndarray, IntArray]:
        """Mask of the free arcs whose reduced cost in ``reduced`` is above ``gap``, and
        the free arcs below ``-gap`` (few: arcs that carry flow)."""
        zero = reduced > gap
        zero &= self.free
        full = reduced < -gap
        full &= self.free
        return zero, np.flatnonzero(full)

    def _fix_arcs(self, zero: np.ndarray, full: IntArray, flow: IntArray) -> None:
        """Fix the arcs of the mask ``zero`` at 0 and the arcs ``full`` at their capacity;
        ``flow`` is a placement the fixing keeps (where the solves start from)."""
        self.free &= ~zero
        self.free[full] = False
        self.feasible = np.where(self.free, flow, 0)
        cap = self.net.cap[full]
        self.fixed_flow[full] = cap
        np.subtract.at(self.supply, self.net.tail[full], cap)
        np.add.at(self.supply, self.net.head[full], cap)

    def _min_cost_flow(
        self, idx: IntArray, cost: IntArray, start: tuple[IntArray, IntArray] | None
    ) -> tuple[IntArray, IntArray]:
        """Solve the min-cost flow on arcs ``idx`` with the current supplies, from ``start``
        (a feasible flow over every arc, zero outside ``idx``, and potentials:
        :func:`~optimizer.solve.mincostflow.reoptimise`) or from nothing: the flow on
        those arcs and optimal node potentials (:mod:`~optimizer.solve.mincostflow`)."""
        net = self.net
        arcs = net.tail[idx], net.head[idx], net.cap[idx], cost[idx]
        if start is None:
            return self.flow_solver.solve(net.num_nodes, *arcs, self.supply)
        return reoptimise(self.flow_solver, net.num_nodes, arcs, (start[0][idx], start[1]))

    @functools.cached_property
    def _person_runs(self) -> tuple[IntArray, IntArray]:
        """Where each person's run of pair arcs starts (:attr:`Network.pair_counts`; the
        last entry: where the pair block ends), and each person's unplaced arc (``-1``
        when they must be placed)."""
        counts = self.net.pair_counts
        starts = np.concatenate(([0], np.cumsum(counts)))
        out = self.net.block(UNPLACED)
        unplaced = np.full(self.net.num_persons, -1, dtype=np.int64)
        unplaced[self.net.ref[out]] = np.arange(out.start, out.stop)
        return starts, unplaced

    def person_arcs(self, person: int) -> IntArray:
        """Indices of the arcs leaving ``person``: its run of pair arcs, then its unplaced
        arc (no sort of every arc by tail)."""
        starts, unplaced = self._person_runs
        arcs = np.arange(starts[person], starts[person + 1])
        return arcs if unplaced[person] < 0 else np.append(arcs, unplaced[person])

    def unit_arcs(self, person: int, unit: int, leadership_only: bool = False) -> IntArray:
        """The arcs of ``person`` into post lines of ``unit`` (only leadership ones)."""
        arcs = self.person_arcs(person)
        arcs = arcs[self.arc_unit[arcs] == unit]
        return arcs[self.arc_leadership[arcs]] if leadership_only else arcs

    def leave_cost(self, sol: FlowSolution, person: int, unit: int) -> int:
        """Least increase, in ``sol``'s reduced costs, for ``person`` to take an arc out of
        ``unit`` (``UNREACHABLE`` when none is open)."""
        arcs = self.person_arcs(person)
        current = arcs[sol.flow[arcs] > 0]
        others = arcs[(sol.flow[arcs] == 0) & (self.arc_unit[arcs] != unit)]
        if len(current) == 0 or len(others) == 0:
            return UNREACHABLE
        best = int(sol.reduced[others].min())
        if best >= UNREACHABLE or sol.reduced[current[0]] >= UNREACHABLE:
            return UNREACHABLE
        return best - int(sol.reduced[current[0]])

    def way_out_costs(self, sol: FlowSolution, leavers: list[tuple[int, int]]) -> list[int]:
        """What moving each ``(person, unit)`` of ``leavers`` out of ``unit`` costs ``sol``,
        in its reduced costs: the cheapest cycle in the residual graph of the arcs the
        solve used (``sol.active``) through the person's arc into its post line,
        reversed, and a free arc of the person out of ``unit`` (the person's first arc,
        then a shortest path back to the post line it leaves: the people and post lines
        that make room), ``UNREACHABLE`` when there is none.  Exact when every arc is
        active (the arcs left out could only make it cheaper), and never below
        :meth:`leave_cost`, which prices the first arc only.

        Reduced costs are not negative on residual arcs, so one Dijkstra towards each
        post line left (over the reversed residual graph) prices every way out of it.
        """
        from scipy.sparse.csgraph import dijkstra

        net = self.net
        open_ = sol.reduced < UNREACHABLE
        used = open_ & sol.active
        ahead = np.flatnonzero(used & (sol.flow < net.cap))
        back = np.flatnonzero(used & (sol.flow > 0))
        # the residual arcs reversed (towards the post lines left): tail, head, weight
        tail = np.concatenate([net.head[ahead], net.tail[back]])
        head = np.concatenate([net.tail[ahead], net.head[back]])
        weight = np.concatenate([np.maximum(sol.reduced[ahead], 0), np.maximum(-sol.reduced[back], 0)])
        graph = arc_matrix(net.num_nodes, tail, head, weight)
        current: list[int] = []
        for person, _ in leavers:
            arcs = self.person_arcs(person)
            held = arcs[(sol.flow[arcs] > 0) & (net.kind[arcs] == PAIR)]
            current.append(int(held[0]) if len(held) and open_[held[0]] else -1)
        lines = sorted({int(net.head[a]) for a in current if a >= 0})
        dist = dijkstra(graph, indices=lines) if lines else np.zeros((0, net.num_nodes))
        row = {line: k for k, line in enumerate(lines)}
        costs: list[int] = []
        for (person, unit), arc in zip(leavers, current, strict=True):
            arcs = self.person_arcs(person)
            out = arcs[(sol.flow[arcs] == 0) & open_[arcs] & (self.arc_unit[arcs] != unit)]
            if arc < 0 or not len(out):
                costs.append(UNREACHABLE)
                continue
            total = sol.reduced[out] + dist[row[int(net.head[arc])], net.head[out]]
            best = float(total.min())
            costs.append(UNREACHABLE if not np.isfinite(best) else round(best) - int(sol.reduced[arc]))
        return costs

    def flow_of(self, assignment: IntArray) -> IntArray | None:
        """The flow of a placement (post line per person, ``-1`` unplaced) over every arc,
        or ``None`` when it uses a pair that is not a candidate, leaves unplaced someone
        who must be placed, or fills a post line past its ``max``."""
        cand = self.cand
        num_posts = self.problem.num_posts
        placed = np.flatnonzero(assignment >= 0)
        # the pairs the placement takes (a person's pairs have distinct post lines)
        taken = np.flatnonzero(cand.post == assignment[cand.person])
        if not np.array_equal(np.sort(cand.person[taken]), placed):
            return None
        flow = np.zeros(self.num_arcs, dtype=np.int64)
        flow[taken] = 1  # arc k is candidate k (build_network)
        unplaced = self.net.block(UNPLACED)
        flow[unplaced] = (assignment[self.net.ref[unplaced]] < 0).astype(np.int64)
        if int(flow[unplaced].sum()) != int((assignment < 0).sum()):
            return None
        filled = np.bincount(assignment[placed], minlength=num_posts)
        if (filled > self.problem.posts.max).any():
            return None
        for kind, amount in (
            (POST_MIN, np.minimum(filled, self.problem.posts.min)),
            (POST_REST, filled - np.minimum(filled, self.problem.posts.min)),
        ):
            arcs = self.net.block(kind)
            flow[arcs] = amount[self.net.ref[arcs]]
        return flow

    @contextlib.contextmanager
    def held_outside(self, keep: np.ndarray, flow: IntArray) -> Iterator[None]:
        """For the duration, only the free arcs in ``keep`` stay free; the others are held
        at their value in ``flow`` (a neighbourhood of ``flow`` to solve exactly)."""
        saved = self.free, self.fixed_flow, self.supply, self.feasible
        hold = self.free & ~keep
        self.fixed_flow = np.where(hold, flow, self.fixed_flow)
        self.free = self.free & keep
        self.feasible = None
        held = np.flatnonzero(~self.free)
        supply = self.net.supply.copy()
        np.subtract.at(supply, self.net.tail[held], self.fixed_flow[held])
        np.add.at(supply, self.net.head[held], self.fixed_flow[held])
        self.supply = supply
        try:
            yield
        finally:
            self.free, self.fixed_flow, self.supply, self.feasible = saved

    def neighbourhood(self, flow: IntArray, people: IntArray) -> np.ndarray:
        """Arcs around ``people`` in ``flow``: every arc of theirs, every pair arc into the
        units they hold, and the unplaced and post-line arcs those arcs meet."""
        net = self.net
        pair = net.kind == PAIR
        units = np.unique(self.arc_unit[(flow > 0) & pair & np.isin(net.tail, people)])
        keep = pair & (np.isin(net.tail, people) | np.isin(self.arc_unit, units))
        persons = np.unique(net.tail[keep])
        posts = np.unique(net.head[keep])
        keep |= (net.kind == UNPLACED) & np.isin(net.tail, persons)
        keep |= ((net.kind == POST_MIN) | (net.kind == POST_REST)) & np.isin(net.tail, posts)
        return keep

    def assignment(self, flow: IntArray) -> IntArray:
        """Post line per person in ``flow`` (``-1`` when unplaced)."""
        out = np.full(self.net.num_persons, -1, dtype=np.int64)
        used = np.flatnonzero(flow[self.net.block(PAIR)] > 0)  # pair arc k is candidate k
        out[self.cand.person[used]] = self.cand.post[used]
        return out


def _same(keys: list[IntArray], others: list[IntArray]) -> bool:
    """Whether two lists of keys hold the same arrays (not equal ones: the same objects)."""
    return len(keys) == len(others) and all(map(operator.is_, keys, others))


def open_arcs(model: FlowModel) -> int:
    """Number of pair arcs still free: the size of a stage's open part."""
    return int(np.count_nonzero(model.free[model.net.block(PAIR)]))
