"""One lexicographic stage with the relatives rule priced in by multipliers (layer 5).

The relatives rule does not fit the flow network.  Written over the pairs, each pair
of relatives ``(a, b)`` and unit ``u`` gives rows

    x[a, leadership posts of u] + x[b, any post of u] ≤ 1      (scope ``leadership``,
    x[b, leadership posts of u] + x[a, any post of u] ≤ 1       both directions)
    x[a, any post of u] + x[b, any post of u] ≤ 1              (scope ``any``)

A multiplier ``λ ≥ 0`` per row moves it into the costs: for any placement that obeys
the rule, ``cost(x) ≥ cost(x) + Σ λ (A x − 1)``, and the flow that minimises the right
side gives the Lagrangian bound ``L(λ)``.  The search raises ``L`` by projected
subgradient steps (Polyak's step towards the best placement), keeps only the rows that
some flow violated (the others keep ``λ = 0``), and turns flows into placements by the
repair: the relative whose way out is cheapest in reduced costs is banned from the
shared unit and the flow solved again.  The stage is proven when ``⌈L⌉`` reaches the
best placement's value.

Whenever the bound rises, the arcs whose reduced cost exceeds the gap are fixed
(:meth:`FlowModel.fix`): no placement as good as the best one can use them, so the
solves shrink as the gap closes.  A stage ends by turning the rows whose multiplier
exceeds the gap into equality rows: complementary slackness says every optimum of the
stage meets them with equality, so later stages keep them with a multiplier of either
sign.  Later stages thus keep every optimum of
the earlier ones, and their bounds hold for the unpruned model.

The multipliers are carried forward: a stage starts from the best multipliers of the
one before, rescaled by the ratio of the two stages' typical arc costs (the rows that
bound one stage usually bind the next).  Any multipliers give a valid bound, so the
carry changes how fast a stage closes, never what it proves.

When the first flow leaves a gap, the stage's linear relaxation over every free arc is
solved once (:func:`~optimizer.solve.exact.relax_stage`: every relatives row, the
earlier stages held at their values, column generation from the first flow's arcs).
Its bound is at least the best Lagrangian bound (whose rows it holds and more); when it
is integral it is a placement at that bound, which proves the stage at once, and its
reduced costs fix the arcs no placement as good as the best one can use.  The
multipliers then go on only when the relaxation leaves a gap.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.data import IntArray
from optimizer.rules import relatives
from optimizer.solve.flow import (
    COST_LIMIT,
    PAIR,
    UNREACHABLE,
    FlowInfeasible,
    FlowModel,
    FlowSolution,
    StageRelaxation,
    open_arcs,
    shortfall_constant,
)
from optimizer.solve.relatives import choose_to_move, relative_conflicts

#: Subgradient iterations per stage before the stage is left with its gap.
MAX_ITERATIONS = 40
#: Iterations the multipliers get before a small open part goes to the exact finish
#: (they often close the gap alone, faster than the MIP).
HANDOVER_AFTER = 4
#: Rounds of the ban-and-solve repair of one flow.
MAX_REPAIR_ROUNDS = 12
#: Exact finishes of a neighbourhood per stage, for the conflicts the bans cannot clear
#: (each is a HiGHS solve; the first gives the stage a placement).
MAX_NEIGHBOURHOODS = 3
#: Repair rounds solved before the guards join (see ``StageSearch._guards``): the first
#: ones find the better placements, the guards end the cascades of new conflicts.
UNGUARDED_ROUNDS = 2
#: Finest multiplier step: costs are scaled so that ``1 / SCALE`` of a stage unit is
#: representable (the flow solver needs integer costs).
SCALE = 64
#: Stage costs this large already give multipliers a fine enough grain: no scaling.
FINE_COST = 2**10
#: Range of the tie-break a repair adds below the stage cost (see ``StageSearch.tie``),
#: and the weight of the stage cost above it: a repair gives up one unit of the stage
#: only to save the tie-break of ``TIE_WEIGHT / TIE`` people.
TIE = 16
TIE_WEIGHT = 1024
#: A flow is repaired at least every this many iterations.
REPAIR_EVERY = 2
#: Largest number of rows a flow may break for the parting step (``StageSearch.parting``)
#: to run: beyond it the linear relaxation is the faster proof.
PARTING_CONFLICTS = 32
#: Stands for "no arc fixed yet" (larger than any gap).
UNFIXED = 2**62
#: Iterations without a better bound before the step is halved, and the smallest step.
STALL = 2
MIN_THETA = 1 / 64

RowKey = tuple[int, int, int]


class RelativesRows:
    """The relatives rows met so far, and which of them later stages keep as equalities.

    Row ``(first, second, unit)`` holds ``first``'s arcs into the leadership post lines
    of ``unit`` (all its post lines of ``unit`` under scope ``any``) and ``second``'s arcs
    into every post line of ``unit``.
    """

    def __init__(self, model: FlowModel) -> None:
        self.model = model
        self.problem = model.problem
        self.index: dict[RowKey, int] = {}
        self.arcs: list[IntArray] = []
        self.equality = np.zeros(0, dtype=bool)
        #: the last stage's best multipliers per unit of its typical arc cost
        self.carried = np.zeros(0, dtype=float)

    def __len__(self) -> int:
        return len(self.arcs)

    def violated(self, assignment: IntArray) -> list[RowKey]:
        """Keys of the rows ``assignment`` violates (added to the rows when new)."""
        keys: list[RowKey] = relatives.violated_rows(self.problem, assignment)
        for key in keys:
            if key not in self.index:
                self._add(key)
        return keys

    def _add(self, key: RowKey) -> None:
        first, second, unit = key
        lead_only = not relatives.symmetric(self.problem)
        arcs = np.concatenate(
            [self.model.unit_arcs(first, unit, lead_only), self.model.unit_arcs(second, unit)]
        )
        self.index[key] = len(self.arcs)
        self.arcs.append(arcs)
        self.equality = np.append(self.equality, False)
        self.carried = np.append(self.carried, 0.0)

    def carry(self, lam: IntArray, unit: float) -> None:
        """Keep a stage's best multipliers ``lam`` (in costs whose typical arc costs
        ``unit``) for the next stage."""
        self.carried = np.zeros(len(self.arcs), dtype=float)
        self.carried[: len(lam)] = lam / max(unit, 1e-9)

    def start(self, unit: float) -> IntArray:
        """Starting multipliers for a stage whose typical arc costs ``unit``: the carried
        ones rescaled (equality rows keep their sign, the others stay ``≥ 0``)."""
        lam = np.rint(self.carried * unit).astype(np.int64)
        lam[~self.equality] = np.maximum(lam[~self.equality], 0)
        return lam

    def arc_costs(self, lam: IntArray) -> IntArray:
        """Per-arc sum of the multipliers ``lam`` of the rows holding the arc."""
        extra = np.zeros(self.model.num_arcs, dtype=np.int64)
        for arcs, value in zip(self.arcs, lam, strict=True):
            if value:
                extra[arcs] += value
        return extra

    def activity(self, flow: IntArray) -> IntArray:
        """``A x`` of every row in ``flow``."""
        return np.array([int(flow[arcs].sum()) for arcs in self.arcs], dtype=np.int64)


@dataclass
class Incumbent:
    """The best placement found: its flow and the value of every term solved so far."""

    flow: IntArray
    values: dict[str, int]


@dataclass
class StageReport:
    """How one stage ended: value of the incumbent and proven bound, in stage units."""

    terms: tuple[str, ...]
    weights: tuple[int, ...]
    value: int | None
    bound: int
    iterations: int
    conflicts: int
    time_s: float = 0.0


def median(values: IntArray) -> float:
    """``np.median`` of non-negative integers, by counting them when their largest is
    at most their number: selection slows down on many equal values (a stage of moves
    and changes: 2.3 million arc costs of a few values, 0.4 s against 3 ms)."""
    top = int(values.max(initial=0))
    if top > len(values):
        return float(np.median(values))
    at_most = np.cumsum(np.bincount(values, minlength=top + 1))  # values ≤ each value
    n = len(values)
    low = int(np.searchsorted(at_most, (n - 1) // 2, side="right"))
    high = int(np.searchsorted(at_most, n // 2, side="right"))
    return (low + high) / 2


def stage_value(values: dict[str, int], terms: tuple[str, ...], weights: tuple[int, ...]) -> int:
    """Weighted stage objective from term values."""
    return sum(w * values[t] for t, w in zip(terms, weights, strict=True))


def pricing_keys(
    model: FlowModel, plan: list[tuple[tuple[str, ...], tuple[int, ...]]], stage: int
) -> list[IntArray]:
    """The keys by which the first flow of stage ``stage`` of ``plan`` starts from each
    person's cheapest arcs: the stage's cost, then the later stages' (read-only)."""
    return [model.stage_cost(terms, weights) for terms, weights in plan[stage:]]


StepFn = Callable[[int, int | None, int, int], None]
RelaxFn = Callable[[IntArray, FlowSolution, IntArray], StageRelaxation | None]
NeighbourhoodFn = Callable[[IntArray, IntArray], IntArray | None]
SupportFn = Callable[[IntArray, np.ndarray], IntArray | None]


class StageSearch:
    """Solve one stage: Lagrangian bound, repaired placements, then fixing.

    Parameters
    ----------
    model, rows:
        The flow model (arcs fixed by earlier stages) and the relatives rows met so far.
    plan:
        Every stage of the solve, ``(terms, weights)``; ``stage`` indexes it.
    checkpoint:
        Called between iterations; raises to stop the solve.
    step:
        Called after each iteration with ``(iteration, incumbent value, bound, conflicts)``.
    open_limit:
        Stop as soon as fixing has left at most this many pair arcs free (the exact
        finish takes over from there).
    max_iterations:
        Flows solved at most (1: the relaxation and its repair only).
    relax:
        ``relax(incumbent flow, flow, multiplier costs)``: the stage's linear relaxation
        over every free arc, started from a flow of the stage and what its multipliers
        add to each arc's cost (:func:`~optimizer.solve.exact.relax_stage` bound to this stage), or
        ``None``.  Called once, after the first flow, when that flow leaves a gap.
    neighbourhood:
        ``neighbourhood(flow, people)``: a conflict-free flow that differs from ``flow``
        only around ``people`` (:func:`~optimizer.solve.exact.finish_neighbourhood`), or
        ``None``.  Called on the conflicts a repair cannot clear by bans.
    parting:
        Flows solved, before the linear relaxation, with the multipliers of the rows
        the last flow broke raised by what parting each pair costs
        (:meth:`_parting`), when that flow breaks at most ``PARTING_CONFLICTS`` rows
        (in a stage blind to who takes which post, first the flow tied by the next
        term: :meth:`_tied`): a conflict-free flow at its own bound proves the stage
        without the relaxation (a re-plan's stages, whose first flows put a few
        relatives together).  ``0``: none.
    support:
        ``support(flow, solution)``: a conflict-free flow near a fractional ``solution``
        of the relaxation, from the best placement ``flow``
        (:func:`~optimizer.solve.engine.finish_support`), or ``None``.  Called once,
        when the relaxation is fractional and leaves a gap: its placement keeps the
        earlier stages' values, which the repairs' flows need not (they often trade an
        earlier stage for this one), and is near the relaxation's bound, so that the
        relaxation's reduced costs fix nearly every arc.
    start:
        Arcs the first flow starts from besides each person's cheapest ones: the arcs
        an earlier stage's flows priced in (:attr:`priced`; a re-plan's stage tied by
        ``changes`` prices in what the changes+moves stage needs), or ``None``.  Which
        arcs a solve starts from decides how many pricing rounds it takes, never its
        optimum (every flow is priced over all free arcs).
    settle:
        Let the stage's first flow stop its pricing early to start the relaxation
        (:meth:`_settle`).
    """

    def __init__(
        self,
        model: FlowModel,
        rows: RelativesRows,
        plan: list[tuple[tuple[str, ...], tuple[int, ...]]],
        stage: int,
        checkpoint: Callable[[], None],
        step: StepFn,
        open_limit: int | None = None,
        max_iterations: int = MAX_ITERATIONS,
        relax: RelaxFn | None = None,
        neighbourhood: NeighbourhoodFn | None = None,
        parting: int = 0,
        support: SupportFn | None = None,
        start: np.ndarray | None = None,
        settle: bool = True,
    ) -> None:
        self.model = model
        self.rows = rows
        self.plan = plan
        self.stage = stage
        self.terms, self.weights = plan[stage]
        self.checkpoint = checkpoint
        self.step = step
        self.open_limit = open_limit
        self.max_iterations = max_iterations
        self.relax = relax
        self.neighbourhood = neighbourhood
        self.parting = parting
        self.support = support
        self.start = start
        #: every arc this stage's flows priced in (a start for the next stage's first flow)
        self.priced = np.zeros(model.num_arcs, dtype=bool)
        self.settle = settle
        base = model.stage_cost(self.terms, self.weights)
        max_arc = max(int(base.max(initial=0)), -int(base.min(initial=0)))
        # Costs of a few units leave no room for fractional multipliers: scale them up.
        self.scale = 1 if max_arc >= FINE_COST else max(1, min(SCALE, 2**26 // max(1, max_arc)))
        self.cost = base if self.scale == 1 else base * self.scale  # read-only either way
        #: costs of the later stages: tie-breaks for the first arcs to price in
        self.later = [model.stage_cost(t, w) for t, w in plan[stage + 1 :]]
        #: a stage blind to who takes which post (shortfall, unplaced: nothing costs on the
        #: pair arcs, which come first) with a stage after it to break its ties (:attr:`tie`)
        self.blind = bool(self.later) and not base[: len(model.cand)].any()
        constant = shortfall_constant(model.problem) if "shortfall" in self.terms else 0
        self.constant = (
            self.scale * constant * dict(zip(self.terms, self.weights, strict=True)).get("shortfall", 0)
        )
        fixed = np.zeros(model.problem.num_staff, dtype=bool)
        pins = model.problem.pins
        fixed[pins.staff_idx[np.array(pins.mode, dtype=object) == "fix"]] = True
        self.fixed_people = fixed
        #: best placement so far (survives a stop)
        self.incumbent: Incumbent | None = None
        #: the flow at ``λ = 0``, the relaxation
        self.relaxed: FlowSolution | None = None
        #: seconds spent repairing, and solving the linear relaxation
        self.repair_s = 0.0
        self.relax_s = 0.0
        #: best proven bound of the stage so far (survives a stop)
        self.bound: int | None = None
        #: the bound of the stage's linear relaxation, once solved
        self.relaxed_bound = -UNFIXED
        #: exact finishes of a neighbourhood run so far (at most MAX_NEIGHBOURHOODS)
        self.neighbourhoods = 0
        #: relatives ``(person, person, unit)`` together in the last flow solved
        self.open_conflicts: list[tuple[int, int, int]] = []

    @functools.cached_property
    def unit(self) -> float:
        """The typical arc cost of the stage (the median magnitude of the non-zero ones):
        the unit in which multipliers are carried.  Found only when a multiplier is
        carried in or out (none on the city: 14 ms per stage of 2.3 million arcs)."""
        nonzero = np.abs(self.cost[self.cost != 0])
        return median(nonzero) if len(nonzero) else 1.0

    @functools.cached_property
    def tie(self) -> IntArray:
        """In a :attr:`blind` stage, the tie-break of its repairs: the next stage's cost,
        squeezed into 0..TIE (found at the first repair)."""
        later = self.later[0]
        return later * TIE // max(1, int(later.max(initial=0)))

    # -- values --------------------------------------------------------------------------

    def key(self, values: dict[str, int]) -> tuple[int, ...]:
        """Lexicographic key of a placement over the stages up to this one."""
        return tuple(stage_value(values, t, w) for t, w in self.plan[: self.stage + 1])

    def priced_cost(self, lam: IntArray) -> IntArray:
        """The stage's (scaled) arc costs with the multipliers ``lam`` priced in: the stage
        cost itself, read-only, while every multiplier is 0 (every stage of the city: no
        two arrays of 2.3 million arcs per flow)."""
        return self.cost + self.rows.arc_costs(lam) if lam.any() else self.cost

    def candidate(self, flow: IntArray) -> Incumbent:
        """The incumbent record of a conflict-free flow."""
        terms = tuple(t for ts, _ in self.plan[: self.stage + 1] for t in ts)
        return Incumbent(flow, self.model.term_values(flow, terms))

    # -- the search ----------------------------------------------------------------------

    def run(self, incumbent: Incumbent | None) -> StageReport:
        """Search the stage from ``incumbent`` (the previous stage's best placement).

        The best placement is kept in :attr:`incumbent` as the search goes, so that it
        survives a stop (``checkpoint`` raising), and the flow at ``λ = 0`` (the
        relaxation) in :attr:`relaxed`.  Every flow is priced over all free arcs, so
        every ``L(λ)`` is a valid bound; each solve starts from the arcs of the last.
        """
        model, rows = self.model, self.rows
        self.incumbent = None if incumbent is None else self.candidate(incumbent.flow)
        lam = self._carried_in()
        active = self._first_arcs()
        best: tuple[int, FlowSolution, IntArray] | None = None
        theta, stall, conflicts, iteration, fewest = 1.0, 0, 0, 0, len(rows) + 10**9
        fixed_gap = UNFIXED
        while True:
            iteration += 1
            if iteration > 1:
                self.checkpoint()
            sol = self._priced(model.solve(self.priced_cost(lam), active, settle=self._settle(iteration)))
            active = sol.active
            if self.relaxed is None:
                self.relaxed = sol
            if not sol.priced:
                # Settled before its pricing ended: it only starts the relaxation, which
                # prices in the arcs left; a flow priced over every arc comes next when
                # the relaxation does not prove the stage.
                self._relax_once(sol, lam, None)
                if self._proven(-UNFIXED):
                    self.step(iteration, self.value(), self.relaxed_bound, 0)
                    return self._close(None, fixed_gap, iteration, 0)
                continue
            lagrangian = self._lagrangian(sol, lam)
            if best is None or lagrangian > best[0]:
                best, stall = (lagrangian, sol, lam.copy()), 0
                self.bound = self._ceil(lagrangian)
            else:
                stall += 1
                if stall >= STALL:
                    theta, stall = theta / 2, 0
            placed = model.assignment(sol.flow)
            self.open_conflicts = relative_conflicts(model.problem, placed)
            violated = rows.violated(placed)
            conflicts = len(violated)
            lam = self._grow(lam)
            found: IntArray | None = None
            if not violated:
                # offered before the relaxation: a conflict-free flow at its own bound
                # proves the stage without it (a re-plan's stages, mostly)
                self.offer(sol.flow)
            parted = self._part(iteration, best[0], sol, lam, violated)  # before relaxation, repairs
            if parted is None:
                self._relax_once(sol, lam, self._ceil(best[0]))
            if violated and parted is None:
                self.checkpoint()  # a stop before the first repair keeps the relaxed flow
                # Repairs cost solves: every other iteration, and for every flow with as
                # few conflicts as any so far; none once the relaxation proved the stage.
                due = self.incumbent is None or conflicts <= fewest or iteration % REPAIR_EVERY == 0
                if due and not self._proven(best[0]):
                    found = self._repair(sol, lam)
                fewest = min(fewest, conflicts)
            if found is not None:
                self.offer(found)
            if parted is None:
                self._relax_once(sol, lam, self._ceil(best[0]))  # a first stage's first placement
            value, bound = self.value(), max(self._ceil(best[0]), self.relaxed_bound)
            fixed_gap = self._fix_closer(value, best, fixed_gap)
            self.step(iteration, value, bound, conflicts)
            if (value is not None and bound >= value) or iteration >= self.max_iterations:
                break
            if parted is not None:
                lam = parted
                continue
            if (
                iteration >= HANDOVER_AFTER
                and fixed_gap < UNFIXED
                and self.open_limit is not None
                and open_arcs(model) <= self.open_limit
            ):
                break  # small enough for the exact finish: stop moving the multipliers
            target = value * self.scale if value is not None else lagrangian + self.scale * conflicts
            stepped = self._polyak(lam, sol, target - lagrangian, theta)
            if stepped is None:
                break
            lam = stepped
        return self._close(best, fixed_gap, iteration, conflicts)

    def _carried_in(self) -> IntArray:
        """The stage's first multipliers: those carried from the stage before, rescaled by
        its unit (:meth:`RelativesRows.start`); all 0, without reading the unit, when
        none is."""
        rows = self.rows
        return rows.start(self.unit) if rows.carried.any() else np.zeros(len(rows), dtype=np.int64)

    def _first_arcs(self) -> np.ndarray:
        """The arcs the stage's first flow starts from: each person's 12 cheapest (by the
        stage's cost, then the later stages'), and :attr:`start` when given; the later
        stages' own orders start sorting (:meth:`FlowModel.sort_ahead`)."""
        # the stage costs themselves, read-only: the order the last stage asked for serves
        # again when it differs only by a key the same on every pair (FlowModel.cheapest)
        model, plan = self.model, self.plan
        active = model.cheapest(pricing_keys(model, plan, self.stage), 12)
        # the later stages' orders, sorted while this stage's relaxation runs
        model.sort_ahead([pricing_keys(model, plan, later) for later in range(self.stage + 1, len(plan))])
        return active if self.start is None else active | self.start

    def _settle(self, iteration: int) -> Callable[[IntArray], bool] | None:
        """For the first flow of a stage blind to who takes which post (:attr:`blind`: the
        shortfall and unplaced terms cost nothing on the pair arcs) whose linear
        relaxation will run (a placement to beat, no parting steps), the ``settle`` of
        :meth:`FlowModel.solve`: its pricing may stop, a few arcs short, on a flow that
        puts relatives against the rule, which no bound of its own would prove, so the
        relaxation runs anyway and prices those arcs in, warm.  Every flow after it is
        priced over every free arc, and a flow that keeps the rule is priced to the end:
        at its own bound it proves the stage without the relaxation.

        Such a stage's last pricing rounds only trade arcs of equal cost: on the city the
        first stage took two LEMON rounds instead of four, and its relaxation no more
        simplex iterations.  In a stage whose costs see the posts (moves), the arcs priced
        late decide where its relaxation starts and which of its optima the next stages
        inherit: settled there, the 4x city's moves relaxation took 33,545 simplex
        iterations instead of 18,814 and its preference stage 20,647 instead of 1,268
        (139 s of CPU against 73 s; ``benchmarks/README.md``).
        """
        if not self.settle or not self.blind or iteration > 1:
            return None
        if self.relax is None or self.incumbent is None or self.parting:
            return None
        problem, model = self.model.problem, self.model
        return lambda flow: bool(relative_conflicts(problem, model.assignment(flow)))

    def _part(
        self, iteration: int, best_scaled: int, sol: FlowSolution, lam: IntArray, violated: list[RowKey]
    ) -> IntArray | None:
        """The parting step of this iteration, when it takes one (:meth:`_parts`): in a
        stage blind to who takes which post, first the flow tied by the next term on
        the first iteration (its placement offered); then, unless that proved the
        stage, the multipliers raised by what parting costs (:meth:`_parting`).
        ``None``: no parting step."""
        if not self._parts(iteration, len(violated), best_scaled):
            return None
        tied = self._tied(sol, lam) if self.blind and iteration == 1 else None
        if tied is not None:
            self.offer(tied)
        return None if self._proven(best_scaled) else self._parting(lam, sol, violated)

    def _fix_closer(self, value: int | None, best: tuple[int, FlowSolution, IntArray], fixed_gap: int) -> int:
        """Reduced-cost fixing as the gap closes: when the best placement's ``value`` is
        within less than ``fixed_gap`` of the best Lagrangian ``best``, every placement at
        least as good as it keeps the arcs the new gap fixes, so later solves are
        smaller; the gap fixed by so far."""
        if value is None or value * self.scale - best[0] >= fixed_gap:
            return fixed_gap
        gap = value * self.scale - best[0]
        self.model.fix(best[1], gap)
        return gap

    def _parts(self, iteration: int, conflicts: int, best_scaled: int) -> bool:
        """Whether this iteration takes the parting step (:meth:`_parting`): among the
        first ``parting`` ones, on a flow breaking a few rows, in a stage not yet proven."""
        few = 0 < conflicts <= PARTING_CONFLICTS
        return iteration <= self.parting and few and not self._proven(best_scaled)

    def _tied(self, sol: FlowSolution, lam: IntArray) -> IntArray | None:
        """In a stage blind to who takes which post (:attr:`blind`), a conflict-free flow
        as good as ``sol`` for the stage (at ``lam``), when the flows tied by the next
        stage's first term find one: ``None`` otherwise.

        Such a stage has many optimal flows, and parting one pair at the stage's own
        costs only moves the conflict to another.  So its ties are broken exactly by the
        next term (its cost, weighted past four times that term's range, when the costs
        fit): the optimum best for the next term (in a re-plan, the one changing the
        fewest placements) rarely puts relatives together, and when it does, the
        parting step (:meth:`_parting`) runs on the tie-break's multipliers, up to
        ``parting`` flows, as long as they stay below the tie-break's room (so that
        every flow stays optimal for the stage).  Only placements come from these flows:
        the stage's bound is ``sol``'s.
        """
        model, rows = self.model, self.rows
        term = self.plan[self.stage + 1][0][0]
        after = model.cost_of(term)
        spread = model.term_range(term) + 1
        weight = 4 * spread
        cost = (self.cost + rows.arc_costs(lam)) * weight + after
        if int(np.abs(cost).max(initial=0)) * (model.net.num_nodes + 1) >= COST_LIMIT:
            return None
        ties = np.zeros(0, dtype=np.int64)
        current = sol
        for _ in range(self.parting):
            ties = self._grow(ties)
            current = self._priced(model.solve(cost + rows.arc_costs(ties), current.active))
            violated = rows.violated(model.assignment(current.flow))
            if not violated:
                return current.flow
            stepped = self._parting(ties, current, violated)
            # a row holds at most two relatives: the flow keeps the stage's optimum while
            # the next term and twice the tie multipliers stay below the weight
            if stepped is None or 2 * int(stepped.sum()) >= weight - spread:
                return None
            ties = stepped
        return None

    def _parting(self, lam: IntArray, sol: FlowSolution, violated: list[RowKey]) -> IntArray | None:
        """The multipliers for the next flow: each row ``violated`` in ``sol`` raised by
        what parting its relatives costs there, plus one unit (the cheaper of the two
        leaving the unit, in ``sol``'s reduced costs: :meth:`FlowModel.way_out_costs`,
        the whole way out by a shortest path in the residual graph, so that one step
        prices it; the unit breaks the tie between parting and not), and at least
        doubled (parting several rows at once may cost more than each alone);
        ``None`` when no row can move (every pair is held in its unit).

        With the multiplier of a row at what parting costs, parting and not parting cost
        the flow the same and ``L(λ)`` rises by that cost; above it, the flow parts them
        (a conflict-free flow at its own bound is optimal).  Any multipliers give a valid
        bound: the step decides the speed, never the proof.
        """
        model, rows = self.model, self.rows
        lam = self._grow(lam)
        held = self._held(sol.flow)
        leavers = [(p, unit) for first, second, unit in violated for p in (first, second) if not held[p]]
        price = dict(zip(leavers, model.way_out_costs(sol, leavers), strict=True))
        raised = False
        for key in violated:
            first, second, unit = key
            costs = [price[p, unit] for p in (first, second) if not held[p]]
            costs = [c for c in costs if c < UNREACHABLE]
            if costs:
                row = rows.index[key]
                lam[row] += max(max(0, min(costs)) + 1, lam[row])
                raised = True
        return lam if raised else None

    def _polyak(self, lam: IntArray, sol: FlowSolution, gap: int, theta: float) -> IntArray | None:
        """The multipliers after one projected subgradient step from ``lam`` along the
        rows' violations in ``sol`` (Polyak's step for ``gap`` to the target, times
        ``theta``); ``None`` when there is no direction left or the step is too small."""
        rows = self.rows
        lam = self._grow(lam)
        g = rows.activity(sol.flow) - 1
        g[~rows.equality & (lam == 0) & (g < 0)] = 0  # projected: λ stays at 0
        norm = float((g.astype(float) ** 2).sum())
        if norm == 0.0 or theta < MIN_THETA:
            return None
        lam = np.rint(lam + theta * max(gap, self.scale) / norm * g).astype(np.int64)
        lam[~rows.equality] = np.maximum(lam[~rows.equality], 0)
        return lam

    def _close(
        self, best: tuple[int, FlowSolution, IntArray] | None, fixed_gap: int, iteration: int, conflicts: int
    ) -> StageReport:
        """End the stage from its best Lagrangian ``best`` (value, flow, multipliers): fix
        the arcs its gap allows, keep the rows whose multiplier exceeds the gap as
        equality rows for the later stages, carry the multipliers and report.  Without
        one (the relaxation proved the stage from a flow settled early), the bound is the
        relaxation's and the carried multipliers stay as they were."""
        value = self.value()
        bound = self.relaxed_bound
        if best is not None:
            best_scaled, best_solution, best_lam = best
            if value is not None:
                gap = value * self.scale - best_scaled
                if gap < fixed_gap:
                    self.model.fix(best_solution, gap)
                self.rows.equality |= self._grow(best_lam) > gap
            if best_lam.any() or self.rows.carried.any():  # else every carried one stays 0
                self.rows.carry(best_lam, self.unit)
            bound = max(self._ceil(best_scaled), bound)
        return StageReport(
            self.terms,
            self.weights,
            value,
            bound if value is None else min(bound, value),
            iteration,
            conflicts,
        )

    def _proven(self, best_scaled: int) -> bool:
        """Whether the best placement meets the best bound (multipliers or relaxation)."""
        value = self.value()
        return value is not None and max(self._ceil(best_scaled), self.relaxed_bound) >= value

    def _relax_once(self, sol: FlowSolution, lam: IntArray, lagrangian_bound: int | None) -> None:
        """The stage's linear relaxation over every free arc (warm-started from ``sol``,
        solved at ``lam``), once, when there is a best placement above
        ``lagrangian_bound`` (``None``: no bound yet, ``sol`` settled before its pricing
        ended): an integral relaxation is a placement at its
        own bound (it proves the stage), the bound rises to it, and its reduced costs fix
        far more arcs than the multipliers' do.  A fractional one leaving a gap first
        gets a placement near it (``support``), so that the gap they fix by is small."""
        value = self.value()
        if self.relax is None or self.incumbent is None or value is None:
            return
        if lagrangian_bound is not None and value <= lagrangian_bound:
            return
        t0 = time.perf_counter()
        relaxation, self.relax = self.relax(self.incumbent.flow, sol, self.rows.arc_costs(lam)), None
        self.relax_s += time.perf_counter() - t0
        if relaxation is None:
            return
        if relaxation.flow is not None:
            self.offer(relaxation.flow)
        elif (
            self.support is not None
            and relaxation.solution is not None
            and (self.value() or 0) > math.ceil(relaxation.bound - 1e-6)
        ):
            t0 = time.perf_counter()
            near = self.support(self.incumbent.flow, relaxation.solution)
            self.relax_s += time.perf_counter() - t0
            if near is not None and not relative_conflicts(self.model.problem, self.model.assignment(near)):
                self.offer(near)
        value = self.value()
        assert value is not None and self.incumbent is not None
        self.relaxed_bound = max(self.relaxed_bound, math.ceil(relaxation.bound - 1e-6))
        self.bound = max(self.bound if self.bound is not None else self.relaxed_bound, self.relaxed_bound)
        self.model.fix_relaxed(relaxation.reduced, self.incumbent.flow, value - relaxation.bound)

    def _lagrangian(self, sol: FlowSolution, lam: IntArray) -> int:
        """``L(λ)`` in scaled units for the flow ``sol`` solved at ``lam``."""
        return sol.value + self.constant - int(lam.sum())

    def _ceil(self, scaled: int) -> int:
        """The integer stage bound implied by a scaled Lagrangian value."""
        return -(-scaled // self.scale)

    def _grow(self, lam: IntArray) -> IntArray:
        """``lam`` extended with zeros for the rows added since it was made."""
        return np.concatenate([lam, np.zeros(len(self.rows) - len(lam), dtype=np.int64)])

    def value(self) -> int | None:
        """This stage's value in the incumbent, if there is one."""
        if self.incumbent is None:
            return None
        return stage_value(self.incumbent.values, self.terms, self.weights)

    def offer(self, flow: IntArray) -> None:
        """Keep a conflict-free flow when it is lexicographically better."""
        cand = self.candidate(flow)
        if self.incumbent is None or self.key(cand.values) < self.key(self.incumbent.values):
            self.incumbent = cand

    def _repair(self, sol: FlowSolution, lam: IntArray) -> IntArray | None:
        """A conflict-free flow near ``sol``, or ``None``.

        One relative of each conflict (the one whose way out is cheapest in reduced
        costs) is banned from the shared unit and the flow solved again, priced over
        every free arc and starting from the arcs of the last one, until no conflict is
        left.  A repair never bans a pinned arc: a person held in the unit by a ``fix``
        pin or by an arc an earlier stage fixed is never the one banned; when both
        relatives are held there, only the leadership arcs that make them conflict are
        banned (scope ``leadership``), if the person keeps another arc.  The next stage's
        cost, squeezed below one unit, breaks ties.  After ``UNGUARDED_ROUNDS`` rounds,
        each solve also keeps every relative out of the posts that would break the rule
        next to where the other one is now (:meth:`_guards`), so that it stops trading
        the conflicts it repairs for new ones; when that leaves no flow, the round is
        solved without them.  The conflicts the bans cannot clear (no ban left to make,
        no flow, or the rounds used up) go to the exact finish of their neighbourhood.
        """
        t0 = time.perf_counter()
        model = self.model
        cost = self.priced_cost(lam)
        if self.blind:
            cost = cost * TIE_WEIGHT + self.tie
        banned = np.zeros(model.num_arcs, dtype=bool)
        current = sol
        try:
            for round_ in range(MAX_REPAIR_ROUNDS):
                assignment = model.assignment(current.flow)
                conflicts = relative_conflicts(model.problem, assignment)
                if not conflicts:
                    return current.flow
                if not self._ban(current, assignment, conflicts, banned):
                    break
                current = self._round(
                    cost, current, banned, assignment if round_ >= UNGUARDED_ROUNDS else None
                )
        except FlowInfeasible:
            pass
        finally:
            self.repair_s += time.perf_counter() - t0
        return self._finish_neighbourhood(current.flow)

    def _round(
        self, cost: IntArray, current: FlowSolution, banned: np.ndarray, guard_from: IntArray | None
    ) -> FlowSolution:
        """One repair solve with the bans, and the guards around ``guard_from`` when given
        (dropped when they leave no flow)."""
        if guard_from is not None:
            try:
                guarded = banned | self._guards(guard_from)
                return self._priced(self.model.solve(cost, current.active, guarded, current.reduced))
            except FlowInfeasible:
                pass
        return self._priced(self.model.solve(cost, current.active, banned, current.reduced))

    def _priced(self, sol: FlowSolution) -> FlowSolution:
        """``sol``, the arcs its solve priced in kept in :attr:`priced`."""
        self.priced |= sol.active
        return sol

    def _finish_neighbourhood(self, flow: IntArray) -> IntArray | None:
        """The exact finish of the neighbourhood of the conflicts left in ``flow``."""
        conflicts = relative_conflicts(self.model.problem, self.model.assignment(flow))
        if self.neighbourhood is None or not conflicts or self.neighbourhoods >= MAX_NEIGHBOURHOODS:
            return None
        self.neighbourhoods += 1
        people = np.unique(np.array([(a, b) for a, b, _ in conflicts], dtype=np.int64))
        t0 = time.perf_counter()
        out = self.neighbourhood(flow, people)
        self.relax_s += time.perf_counter() - t0
        if out is None or relative_conflicts(self.model.problem, self.model.assignment(out)):
            return None
        return out

    def _held(self, flow: IntArray) -> np.ndarray:
        """People who cannot leave their unit by a ban: ``fix``-pinned, or placed by an arc
        an earlier stage fixed."""
        model = self.model
        held = self.fixed_people.copy()
        fixed_arcs = (model.net.kind == PAIR) & ~model.free & (flow > 0)
        held[model.net.tail[fixed_arcs]] = True
        return held

    def _ban(
        self,
        current: FlowSolution,
        assignment: IntArray,
        conflicts: list[tuple[int, int, int]],
        banned: np.ndarray,
    ) -> bool:
        """Ban one relative of each conflict from the shared unit (never a pinned arc);
        whether any arc was newly banned."""
        model = self.model
        problem = model.problem
        held = self._held(current.flow)
        before = int(banned.sum())
        for a, b, u in conflicts:
            if not (held[a] and held[b]):
                person = choose_to_move(
                    problem, assignment, a, b, held, lambda i, unit, s=current: model.leave_cost(s, i, unit)
                )
                banned[model.unit_arcs(person, u)] = True
                continue
            if relatives.symmetric(problem):
                continue  # both pinned to the unit: only the exact finish can decide
            for person in (a, b):
                lead = model.unit_arcs(person, u, leadership_only=True)
                rest = np.setdiff1d(model.person_arcs(person), lead)
                if problem.posts.leadership[assignment[person]] and (model.free[rest] & ~banned[rest]).any():
                    banned[lead] = True
        return int(banned.sum()) > before

    def _guards(self, assignment: IntArray) -> np.ndarray:
        """Arcs that would put a relative against the rule next to the other one where
        ``assignment`` has them now: under scope ``any`` every arc into the other's unit;
        under ``leadership`` every arc into it when the other leads there, else its
        leadership arcs."""
        model = self.model
        problem = model.problem
        guards = np.zeros(model.num_arcs, dtype=bool)
        if not relatives.active(problem):
            return guards
        posts = problem.posts
        rel = problem.relations
        for a, b in zip(rel.a_idx.tolist(), rel.b_idx.tolist(), strict=True):
            pa, pb = int(assignment[a]), int(assignment[b])
            if pa < 0 or pb < 0 or posts.unit_idx[pa] == posts.unit_idx[pb]:
                continue
            for mover, post in ((b, pa), (a, pb)):
                if self.fixed_people[mover]:
                    continue
                lead_only = not relatives.forbids(problem, False, bool(posts.leadership[post]))
                guards[model.unit_arcs(mover, int(posts.unit_idx[post]), lead_only)] = True
        return guards
