"""The exact finish of a stage: its open part as a linear program, then a MIP (layer 5).

When the multipliers leave a stage with a gap, the arcs whose reduced cost exceeds the
gap are already fixed (:meth:`~optimizer.solve.flow.FlowModel.fix`): no placement as
good as the best one can use them.  What is left free is the open part.  HiGHS solves
it with every relatives row, the equality rows of earlier stages and the earlier
stages' values as constraints, so its optimum is the stage's optimum over the unpruned
model, and its dual bound a valid bound when it stops early.

The linear relaxation is solved first (dual simplex): on the city's open parts it is
integral, so it is the optimum and its value the proof, several times faster than
HiGHS's MIP root on the same rows.  Its reduced costs are returned: the engine fixes
with them the arcs that no placement as good as the best one can use, which shrinks
the next stages far more than the multipliers' reduced costs.  When the relaxation is
fractional, the MIP starts from the best placement (``setSolution``), so it always has
an incumbent to prune with and never returns worse.  HiGHS presolve is off: with HiGHS
1.16, presolve together with a start made it report the start's objective wrong (on
the 1/4× city 972,115 for a start worth 1,010,085, and that value as its dual bound),
and it made the city's relaxations 5–17× slower.  The reported objective is still compared
with the one recomputed from the returned flow; when they differ, the finish proves
nothing.  A ``stop`` callback interrupts HiGHS (Ctrl-C), keeping the best flow and
dual bound so far; a MIP too large to stop in time runs in a child process killed at
the deadline (:mod:`optimizer.solve.killable`).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from optimizer.data import IntArray
from optimizer.solve.flow import (
    PAIR,
    POST_MIN,
    FlowModel,
    FlowSolution,
    Network,
    StageRelaxation,
    shortfall_constant,
)
from optimizer.solve.highs import new_highs, pass_model, run_highs, set_basis
from optimizer.solve.killable import ColumnMatrix, MipJob, solve_mip
from optimizer.solve.lagrange import RelativesRows
from optimizer.solve.relatives import relative_conflicts

log = logging.getLogger(__name__)

#: The exact finish runs only when at most this many pair arcs are still free.
OPEN_PART_MAX_ARCS = 500_000
#: Largest distance from an integer at which a relaxation's value counts as integral.
INTEGRAL_TOLERANCE = 1e-6
#: Reduced cost (relative to the largest arc cost) below which a free arc joins the
#: relaxation's columns.
PRICING_TOLERANCE = 1e-9
#: Pricing rounds of a relaxation, and arcs joining per round at most.
MAX_PRICING_ROUNDS = 50
MAX_ENTERING = 200_000
#: Most people whose duals a relaxation's pricing round lowers instead of running
#: HiGHS again (see ``_people_lifted``).
MAX_LIFTED = 1_000
#: HiGHS's ``simplex_strategy`` value for primal simplex.
PRIMAL_SIMPLEX = 4
#: Largest arc cost of a stage whose relaxation, started cold, goes to the interior
#: point method.
FEW_COSTS = 16
#: Share of the free arcs from which a relaxation's first columns are every free arc,
#: in a stage whose pairs cost more than ``FEW_COSTS`` somewhere (see ``first_columns``).
ALL_COLUMNS_SHARE = 1 / 3

#: HiGHS options of the exact finish's MIP: presolve off (see the module), and
#: "optimal" meaning optimal: the objective is integral, so a gap below 1 closes it.
EXACT_MIP_OPTIONS: tuple[tuple[str, float | str], ...] = (
    ("presolve", "off"),
    ("mip_rel_gap", 0.0),
    ("mip_abs_gap", 1.0 - 1e-6),
)

Stage = tuple[tuple[str, ...], tuple[int, ...]]


@dataclass(frozen=True)
class Finish:
    """How the exact finish ended: ``optimal``, ``feasible`` or ``no_solution``; the flow
    found (every arc) and the proven lower bound of the stage, in stage units."""

    status: str
    flow: IntArray | None
    bound: float
    #: reduced cost of every free arc (``inf`` elsewhere) in the stage's linear
    #: relaxation over the open part, and that relaxation's value, when it was solved
    reduced: np.ndarray | None = None
    lp_bound: float = -np.inf


def stage_constant(model: FlowModel, stage: Stage) -> int:
    """What a stage's value adds to its arc costs (the shortfall term's constant)."""
    weights = dict(zip(*stage, strict=True))
    return shortfall_constant(model.problem) * weights.get("shortfall", 0)


@dataclass(frozen=True)
class StageProgram:
    """Stage ``k`` as a linear program over every free arc: flow conservation, every
    relatives row, the equality rows and the earlier stages held at their values.

    Column ``j`` is arc ``free[j]``; the other arcs keep ``held``.  The matrix is kept in
    two parts: the flow conservation rows by each column's two ends (``tail``, ``head``:
    its nodes; node ``i`` is row ``i``, but for the ``sink``, which has none) and the
    other rows' entries (``extra``).  While every arc is free (a first stage), ``tail``,
    ``head``, ``cost`` and ``cap`` are the network's own arrays, not copies.  The whole
    matrix (:attr:`a`) is built only when asked (the exact finish); a relaxation takes
    its columns a few at a time (:meth:`columns`) and prices every free arc without it
    (:meth:`safe_bound`): on the city's first stage that spares a 33,163 × 2,315,683
    matrix of 4.65 million entries of which the relaxation uses 214,266 columns.
    """

    tail: IntArray  # per free arc
    head: IntArray  # per free arc
    sink: int  # the node without a row
    extra: sp.csc_matrix  # every row; the flow conservation rows empty
    lower: np.ndarray
    upper: np.ndarray
    free: IntArray
    cost: IntArray  # per free arc
    cap: IntArray  # per free arc
    integer: np.ndarray  # per free arc: pair and unplaced arcs
    held: IntArray  # every arc
    offset: float  # the stage value of the held arcs and the constant

    @functools.cached_property
    def a(self) -> sp.csc_matrix:
        """The whole constraint matrix (rows × free arcs)."""
        return self.columns(np.arange(len(self.free)))

    def columns(self, cols: IntArray) -> sp.csc_matrix:
        """The columns ``cols`` (positions in :attr:`free`) of the constraint matrix."""
        position = np.arange(len(cols))
        ends = [(self.tail[cols], 1.0), (self.head[cols], -1.0)]
        sub = self.extra[:, cols].tocoo()
        rows = [row[row != self.sink] for row, _ in ends] + [sub.row]
        at = [position[row != self.sink] for row, _ in ends] + [sub.col]
        values = [np.full(int((row != self.sink).sum()), sign) for row, sign in ends] + [sub.data]
        # Through COO: scipy builds CSC from int64 coordinates about 5× slower directly.
        return sp.coo_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(at))),
            shape=(len(self.lower), len(cols)),
        ).tocsc()

    def rounded(self, x: np.ndarray, cols: IntArray | None = None) -> IntArray | None:
        """The values ``x`` of the columns ``cols`` (every free arc by default) rounded,
        when they are integral (within ``INTEGRAL_TOLERANCE`` on the integer columns),
        else ``None``."""
        integer = self.integer if cols is None else self.integer[cols]
        near = np.rint(x)
        if np.any(np.abs(x[integer] - near[integer]) > INTEGRAL_TOLERANCE):
            return None
        return near.astype(np.int64)

    def flow(self, x: IntArray, cols: IntArray | None = None) -> IntArray:
        """The flow over every arc: ``x`` on the columns ``cols`` (every free arc by
        default), 0 on the other free arcs, the held flow elsewhere."""
        flow = self.held.copy()
        flow[self.free if cols is None else self.free[cols]] = x
        return flow

    def value(self, x: np.ndarray, cols: IntArray | None = None) -> float:
        """Stage value of the values ``x`` of the columns ``cols`` (every free arc by
        default; the other free arcs at 0)."""
        return float(self.cost @ x if cols is None else self.cost[cols] @ x) + self.offset

    @functools.cached_property
    def _scratch(self) -> np.ndarray:
        """A work array of one float per free arc, reused by every :meth:`safe_bound`."""
        return np.empty(len(self.free))

    @functools.cached_property
    def _extra_columns(self) -> tuple[IntArray, sp.csc_matrix]:
        """The columns (positions in :attr:`free`) that hold an entry of :attr:`extra`, and
        those columns of it: the other columns' ``yᵀ extra`` is 0 (on the city's first
        two stages 47,382 and 56,877 entries over 2.3 million columns)."""
        cols = np.flatnonzero(np.diff(self.extra.indptr))
        return cols, self.extra[:, cols]

    def safe_bound(self, y: np.ndarray, out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """A lower bound on the stage from any row duals ``y``, and the reduced cost of
        every free arc under them (written into ``out`` when given: a relaxation's
        pricing rounds reuse one array).

        The duals are first given the signs their rows allow, then for every ``x`` in the
        program ``cost·x = rc·x + y·(A x) ≥ Σ min(0, rc)·cap + Σ y·(the row's bound)``:
        the bound holds whatever the floating-point quality of ``y``.  ``A`` is read
        from its two parts (``yᵀA`` is ``y`` at each column's tail less ``y`` at its head,
        plus ``yᵀ extra``, over the columns that hold an entry of ``extra`` only), never
        built.  Every pass over the free arcs (millions on the city's first stages) writes
        into arrays already there: fresh ones cost as much again in page faults.
        """
        y = np.where(np.isinf(self.lower), np.minimum(y, 0.0), y)
        y = np.where(np.isinf(self.upper), np.maximum(y, 0.0), y)
        at = np.append(y[: self.sink], 0.0)  # the nodes' duals, 0 at the sink
        # (mode clip: np.take with out= and the default mode is buffered, 2x slower)
        rc = np.take(at, self.head, out=out, mode="clip")
        rc -= np.take(at, self.tail, out=self._scratch, mode="clip")
        cols, extra = self._extra_columns
        rc[cols] -= extra.T @ y
        rc += self.cost
        side = np.where(y > 0, self.lower, self.upper)
        rows = float((y[y != 0] * side[y != 0]).sum())
        negative = np.flatnonzero(rc < 0)
        return rows + float(rc[negative] @ self.cap[negative]) + self.offset, rc


def stage_program(
    model: FlowModel, rows: RelativesRows, plan: list[Stage], k: int, incumbent_flow: IntArray
) -> StageProgram:
    """Build :class:`StageProgram` for stage ``k``, the earlier stages held at their
    values in ``incumbent_flow``."""
    net = model.net
    free = np.flatnonzero(model.free)  # sorted: an arc's column is found by search
    ncol = len(free)
    held = np.where(model.free, 0, model.fixed_flow)

    def of_free(values: np.ndarray) -> np.ndarray:
        """``values`` (one per arc) of the free arcs: the array itself while every arc
        is free (millions of arcs on a first stage, not copied)."""
        return values if ncol == model.num_arcs else values[free]

    entries_r: list[IntArray] = []
    entries_c: list[IntArray] = []
    entries_v: list[np.ndarray] = []
    # Flow conservation at every node but the sink: row = node.
    sink = net.sink
    supply = model.supply[:sink].astype(float)
    lower: list[np.ndarray] = [supply]
    upper: list[np.ndarray] = [supply]
    r = sink

    def add_row(cols: IntArray, lo: float, hi: float, coef: np.ndarray | None = None) -> None:
        nonlocal r
        entries_r.append(np.full(len(cols), r))
        entries_c.append(cols)
        entries_v.append(np.ones(len(cols)) if coef is None else coef.astype(float))
        lower.append(np.array([lo]))
        upper.append(np.array([hi]))
        r += 1

    # Every relatives row that holds a free arc, then the equality rows.
    rel_r, rel_c, rel_upper = _relatives_entries(model, free, held)
    entries_r.append(r + rel_r)
    entries_c.append(rel_c)
    entries_v.append(np.ones(len(rel_c)))
    lower.append(np.full(len(rel_upper), -np.inf))
    upper.append(rel_upper)
    r += len(rel_upper)
    for arcs, equal in zip(rows.arcs, rows.equality, strict=True):
        on = arcs[model.free[arcs]]
        if equal and len(on):
            rest = 1.0 - float(held[arcs].sum())
            add_row(np.searchsorted(free, on), rest, rest)
    # Earlier stages keep their values.
    for stage in plan[:k]:
        earlier = of_free(model.stage_cost(*stage))
        nz = np.flatnonzero(earlier != 0)  # through a mask: nonzero of int64 is 3× slower
        if len(nz):
            value = float(earlier[nz] @ incumbent_flow[free[nz]])
            add_row(nz, value, value, earlier[nz])

    extra = sp.coo_matrix(
        (np.concatenate(entries_v), (np.concatenate(entries_r), np.concatenate(entries_c))),
        shape=(r, ncol),
    ).tocsc()
    cost = model.stage_cost(*plan[k])
    return StageProgram(
        of_free(net.tail),
        of_free(net.head),
        sink,
        extra,
        np.concatenate(lower),
        np.concatenate(upper),
        free,
        of_free(cost),
        of_free(net.cap),
        free < net.block(POST_MIN).start,  # the pair and unplaced arcs come first
        held,
        float(cost @ held) + stage_constant(model, plan[k]),
    )


def _relatives_entries(
    model: FlowModel, free: IntArray, held: IntArray
) -> tuple[IntArray, IntArray, np.ndarray]:
    """The relatives rows that hold a free arc, all at once (9,129 rows on the city): row
    (numbered from 0) and column (position in the sorted ``free``) of each entry, and
    each row's upper bound (1 less what the held arcs carry).  A pair arc's index is its
    candidate's."""
    relatives = model.relative_rows
    if not relatives:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    arcs = np.concatenate(relatives)
    row = np.repeat(np.arange(len(relatives)), [len(a) for a in relatives])
    on = model.free[arcs]
    kept = np.bincount(row[on], minlength=len(relatives)) > 0
    number = np.cumsum(kept) - 1
    upper = 1.0 - np.bincount(row, weights=held[arcs], minlength=len(relatives))[kept]
    return number[row[on]], np.searchsorted(free, arcs[on]), upper


def first_columns(
    model: FlowModel,
    prog: StageProgram,
    first: FlowSolution,
    incumbent_flow: IntArray,
    multiplier_costs: IntArray,
) -> np.ndarray:
    """Mask over ``prog.free`` of a relaxation's first columns: the arcs ``first``
    (solved at multipliers adding ``multiplier_costs``) brought into its solve whose
    reduced cost in the relaxation (the flow's, less what the multipliers add) is not
    positive, the arcs of ``first`` and of ``incumbent_flow``, every arc that is not a
    pair, and every arc of the relatives ``first`` puts against the rule (the duals of
    their rows move them: on the city's moves stage their 15,595 arcs saved two pricing
    rounds' worth of primal simplex, 4.3 → 3.2 s of CPU for the relaxation).

    The other arcs the flow brought in, of positive reduced cost (mostly a person's
    other posts, one move away), are left to the pricing, which brings back the few
    that enter: on the 4× city's moves stage they were 658,000 of the 912,000 columns,
    and its first simplex took 18,426 iterations and 23.1 s of CPU over all of them,
    16,363 and 10.3 s without them (the captured program, scratch runs; the pricing
    rounds after it 2.9 s instead of 3.4 s).

    When those columns are at least ``ALL_COLUMNS_SHARE`` of the free arcs, in a stage
    whose pairs cost more than ``FEW_COSTS`` somewhere (a commute stage, after the moves
    stage fixed most arcs), every free arc is a first column: one run of dual simplex
    over them all costs less than the pricing rounds it spares.  On the city's commute
    stage (40,453 of 118,507 free arcs) the five HiGHS runs of 2,220 simplex iterations
    became one of about 1,000; on the 4× city's (123,278 of 357,464) six runs of 2,964
    iterations and 4.0 s of CPU became one of 2,324 and 2.7 s.  A stage blind to who
    takes which post (its pairs cost nothing) or of few costs keeps the pricing: its
    program is degenerate, and the 7,000-person provinces of every shape took 24.7 s of
    CPU in all with those stages over every free arc too, against 21.6 s before and
    20.9 s without them.
    """
    conflicts = relative_conflicts(model.problem, model.assignment(first.flow))
    keep = first.reduced <= multiplier_costs  # the relaxation's reduced cost is not positive
    keep &= first.active
    keep |= first.flow > 0
    keep |= incumbent_flow > 0
    keep[model.net.block(PAIR).stop :] = True  # every arc but the pairs (they come first)
    conflicted = sorted({person for a, b, _ in conflicts for person in (a, b)})
    if conflicted:
        keep[np.concatenate([model.person_arcs(person) for person in conflicted])] = True
    keep = keep if len(prog.free) == model.num_arcs else keep[prog.free]
    if keep.sum() >= ALL_COLUMNS_SHARE * len(keep):
        pairs = prog.cost[prog.free < model.net.block(PAIR).stop]
        if max(pairs.max(initial=0), -pairs.min(initial=0)) > FEW_COSTS:
            keep[:] = True
    return keep


def warm_basis(
    prog: StageProgram, cols: IntArray, net: Network, first: FlowSolution, multiplier_costs: IntArray
) -> tuple[np.ndarray, np.ndarray]:
    """A simplex basis of a stage's relaxation over the columns ``cols`` (positions in
    ``prog.free``), built from a flow of the stage: HiGHS status codes (0 at lower, 1
    basic, 2 at upper) per column and per row.

    ``first`` is the flow with its reduced costs (scaled, multipliers priced in) and
    ``multiplier_costs`` what the multipliers add to each arc's cost.  The flow's node
    potentials are duals of the network rows; the other rows' slacks are basic (dual
    0), so an arc's reduced cost in the relaxation is the flow's less what the
    multipliers add.  An arc whose sign then disagrees with its flow (one the
    multipliers kept out, or in) starts at its other bound, so every column is dual
    feasible.  A spanning tree of the zero-reduced-cost arcs is basic, the other arcs
    sit at their bounds: only the rows the flow breaks (relatives, earlier stages, and
    the nodes of the arcs moved to their other bound) start infeasible.  The tree must
    reach the sink: each group of nodes without a zero-cost path to it has its
    potentials shifted by the largest step that keeps every reduced cost's sign
    (:func:`_join_groups`).  The basis only guides HiGHS: the bound comes from the
    duals it ends with.
    """
    arcs = prog.free[cols]
    tail, head, cap = net.tail[arcs], net.head[arcs], net.cap[arcs]
    rc = first.reduced[arcs] - multiplier_costs[arcs]
    x = first.flow[arcs]
    zero = rc == 0
    upper = np.where(zero, 2 * x >= cap, rc < 0)
    tree, group = _zero_forest(tail, head, zero, zero & (x > 0) & (x < cap), net.num_nodes)
    joined, isolated = _join_groups(tail, head, rc, upper, group, net.sink)
    tree |= joined
    col_status = np.where(tree, 1, np.where(upper, 2, 0)).astype(np.int8)
    row_status = np.ones(len(prog.lower), dtype=np.int8)
    row_status[: net.sink] = 0
    row_status[isolated] = 1
    return col_status, row_status


def _zero_forest(
    tail: IntArray, head: IntArray, zero: np.ndarray, between: np.ndarray, num_nodes: int
) -> tuple[np.ndarray, IntArray]:
    """A spanning forest of the ``zero`` arcs, those ``between`` their bounds first (they
    must be basic): its mask over the arcs and the group (tree, numbered from 0) of
    every node."""
    tree = np.zeros(len(tail), dtype=bool)
    root = np.arange(num_nodes)
    for arcs in (np.flatnonzero(zero & between), np.flatnonzero(zero & ~between)):
        while len(arcs):
            a, b = root[tail[arcs]], root[head[arcs]]
            live = a != b
            arcs, a, b = arcs[live], a[live], b[live]
            # Every tree with an arc to another one hooks onto a tree of smaller root
            # (or is hooked onto): the hooks go downwards, so they never close a cycle,
            # and the number of trees with an arc out halves at each round.  Each tree
            # hooks by its first arc (np.unique's first index, without its sort).
            higher = np.maximum(a, b)
            first = np.full(num_nodes, len(arcs))
            np.minimum.at(first, higher, np.arange(len(arcs)))
            top = np.flatnonzero(first < len(arcs))
            pick = first[top]
            root[top] = np.minimum(a, b)[pick]
            tree[arcs[pick]] = True
            while not np.array_equal(root, root[root]):
                root = root[root]
    return tree, np.unique(root, return_inverse=True)[1]


def _join_groups(
    tail: IntArray, head: IntArray, rc: IntArray, upper: np.ndarray, comp: IntArray, sink: int
) -> tuple[np.ndarray, IntArray]:
    """Join every group of nodes (``comp``) to the sink's by shifting potentials.

    Shifting a group's potentials by ``δ`` adds ``δ`` to the reduced cost of the arcs
    leaving it and takes it from those entering it; the arcs inside keep theirs.  The
    largest step either way that keeps every arc at lower bound at ``rc ≥ 0`` and every
    arc at upper bound at ``rc ≤ 0`` brings one arc to another group to zero: it joins
    the tree and the two groups merge (a merged group not yet at the sink's shifts
    again).  Each step touches only the arcs of the group that moves.  Returns the arcs
    that joined and one node (a row) of each group left without any arc to another
    group, whose slack is basic.
    """
    rc = rc.copy()
    joined = np.zeros(len(tail), dtype=bool)
    num = int(comp.max(initial=0)) + 1
    cross = np.flatnonzero(comp[tail] != comp[head])
    leaving, entering = _by_group(cross, comp[tail[cross]], num), _by_group(cross, comp[head[cross]], num)
    label = np.arange(num)  # the group each first group now belongs to
    root = int(comp[sink])
    stack = [g for g in np.unique(comp[np.concatenate([tail[cross], head[cross]])]).tolist() if g != root]
    while stack:
        group = stack.pop()
        if label[group] != group:
            continue  # merged into another group
        out = leaving[group][label[comp[head[leaving[group]]]] != group]
        inn = entering[group][label[comp[tail[entering[group]]]] != group]
        if not len(out) and not len(inn):
            continue  # no arc to another group: one of its rows stays basic
        touching = np.concatenate([out, inn])
        into = np.arange(len(touching)) >= len(out)
        step = np.abs(rc[touching])
        pick = int(np.argmin(step))
        # δ > 0 lowers the reduced cost of entering arcs (those at lower bound limit it)
        # and raises that of leaving ones (those at upper bound limit it).
        delta = int(step[pick]) if into[pick] != upper[touching[pick]] else -int(step[pick])
        rc[out] += delta
        rc[inn] -= delta
        arc = touching[pick]
        joined[arc] = True
        other = int(label[comp[tail[arc]]] if into[pick] else label[comp[head[arc]]])
        label[label == group] = other
        if other != root:
            leaving[other] = np.concatenate([leaving[other], out])
            entering[other] = np.concatenate([entering[other], inn])
            stack.append(other)
    final = label[comp]
    alone = np.unique(final[final != root], return_index=True)[1]
    return joined, np.flatnonzero(final != root)[alone]


def _by_group(arcs: IntArray, group: IntArray, num: int) -> list[IntArray]:
    """``arcs`` split by their ``group`` (``num`` groups)."""
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(num + 1))
    ordered = arcs[order]
    return [ordered[bounds[g] : bounds[g + 1]] for g in range(num)]


def relax_stage(
    model: FlowModel,
    rows: RelativesRows,
    plan: list[Stage],
    k: int,
    incumbent_flow: IntArray,
    first: FlowSolution,
    multiplier_costs: IntArray,
    time_limit_s: float,
    *,
    warm: bool = True,
    threads: int = 1,
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
) -> StageRelaxation | None:
    """Solve stage ``k``'s linear relaxation over every free arc by column generation:
    simplex over the arcs ``first`` (a flow of the stage, at multipliers that add
    ``multiplier_costs`` to the arcs) brought into its solve and those of
    ``incumbent_flow``, then the free arcs whose reduced cost is negative join,
    warm-started, until none is.  With ``warm``, the first simplex starts from the basis
    of ``first`` (:func:`warm_basis`).  ``None`` when HiGHS does not end optimal (time
    limit, stop) or the pricing does not converge."""
    import highspy

    t0 = time.perf_counter()
    prog = stage_program(model, rows, plan, k, incumbent_flow)
    net = model.net
    incol = first_columns(model, prog, first, incumbent_flow, multiplier_costs)
    cols = np.flatnonzero(incol)
    h = new_highs(seed, stop)
    h.setOptionValue("presolve", "off")
    pass_model(
        h, prog.columns(cols), prog.cost[cols], prog.cap[cols], prog.lower, prog.upper, np.zeros(len(cols))
    )
    largest = float(max(prog.cost.max(initial=0), -prog.cost.min(initial=0)))  # no |cost| array
    tol = PRICING_TOLERANCE * (1.0 + largest)
    if warm:
        warm = set_basis(h, *warm_basis(prog, cols, net, first, multiplier_costs))
    if largest <= FEW_COSTS and not warm:
        # Arc costs of a few units (a preference stage) make the program so degenerate
        # that dual simplex from a cold start stalls: the interior point method (with
        # crossover, so the solution is a vertex) took 3.7 s on the city's preference
        # stage, against 12.2 s.  From the warm basis dual simplex took 75 iterations.
        h.setOptionValue("solver", "ipm")
    rc = np.empty(len(prog.free))  # every round's reduced costs, in place
    for _ in range(MAX_PRICING_ROUNDS):
        h.setOptionValue("time_limit", max(1.0, float(time_limit_s) - (time.perf_counter() - t0)))
        run_highs(h, threads)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        solution = h.getSolution()
        objective = float(h.getInfo().objective_function_value) + prog.offset
        duals = np.asarray(solution.row_dual)
        bound, rc, entering = _round_bound(model, prog, duals, rc, incol, objective, tol)
        # The column values come as a list (20 ms on the city's first stage, 213,613
        # columns): they are read only when this round can be the last, that is when no
        # arc enters or the bound is within a unit of HiGHS's objective (the bound never
        # exceeds it, and meets the value of an integral solution only there).
        if len(entering) == 0 or bound >= objective - 1.0:
            x = np.asarray(solution.col_value)  # per column of cols
            rounded = prog.rounded(x, cols)
            if len(entering) == 0:
                break
            if rounded is not None and bound >= prog.value(rounded, cols) - INTEGRAL_TOLERANCE:
                # The arcs still pricing in cannot lower the bound below this placement,
                # and its reduced costs fix every arc they can (gap 0).  Stopping as soon
                # as the bound's ceiling met the placement left the 4× city's moves stage
                # with a gap of 0.5, fewer arcs fixed, and a preference stage of 88,265
                # simplex iterations (84 s of CPU) instead of 565.
                break
        if len(entering) > MAX_ENTERING:
            entering = entering[np.argpartition(rc[entering], MAX_ENTERING)[:MAX_ENTERING]]
        _add_columns(h, prog, entering)
        incol[entering] = True
        cols = np.concatenate([cols, entering])
        # The new columns join at 0: the basis stays primal feasible, and primal simplex
        # goes on from it (dual simplex set up its edge weights anew: about 1.3 s per
        # re-solve on the city, against 0.1–1 s).
        h.setOptionValue("solver", "simplex")
        h.setOptionValue("simplex_strategy", PRIMAL_SIMPLEX)
    else:
        return None
    return _relaxation(model, prog, bound, rc, cols, x, rounded)


def _round_bound(
    model: FlowModel,
    prog: StageProgram,
    duals: np.ndarray,
    rc: np.ndarray,
    incol: np.ndarray,
    objective: float,
    tol: float,
) -> tuple[float, np.ndarray, IntArray]:
    """A pricing round of :func:`relax_stage` from HiGHS's row ``duals``: the bound
    (:meth:`StageProgram.safe_bound`), every free arc's reduced cost (into ``rc``) and
    the free arcs outside the columns (``incol``) that enter (reduced cost below
    ``-tol``).  When lowering the duals of the people who own those arcs lifts the bound
    to ``objective`` (HiGHS's, less ``tol``; :func:`_people_lifted`), the round is read
    from those duals instead: no arc enters, and the pricing ends without another HiGHS
    run."""
    bound, rc = prog.safe_bound(duals, rc)
    negative = np.flatnonzero(rc < -tol)
    entering = negative[~incol[negative]]
    needed = objective - tol - bound
    lifted = _people_lifted(model, prog, duals, rc, entering, needed) if len(entering) else None
    if lifted is not None:
        bound, rc = prog.safe_bound(lifted, rc)
        negative = np.flatnonzero(rc < -tol)
        entering = negative[~incol[negative]]
    return bound, rc, entering


def _relaxation(
    model: FlowModel,
    prog: StageProgram,
    bound: float,
    rc: np.ndarray,
    cols: IntArray,
    x: np.ndarray,
    rounded: IntArray | None,
) -> StageRelaxation:
    """The :class:`StageRelaxation` of :func:`relax_stage`'s last round: ``bound``, the
    reduced costs ``rc`` of the free arcs over every arc, and the flow of the columns
    ``cols`` at ``x`` (``rounded``: integral) or, fractional, the solution."""
    if len(prog.free) == model.num_arcs:
        reduced = rc  # every arc free (a first stage): rc is already in arc order
    else:
        reduced = np.full(model.num_arcs, np.inf)
        reduced[prog.free] = rc
    if rounded is not None:
        return StageRelaxation(bound, reduced, prog.flow(rounded, cols), None)
    solution = prog.held.astype(float)
    solution[prog.free[cols]] = x
    return StageRelaxation(bound, reduced, None, solution)


def _people_lifted(
    model: FlowModel, prog: StageProgram, duals: np.ndarray, rc: np.ndarray, entering: IntArray, needed: float
) -> np.ndarray | None:
    """Row duals ``duals`` (reduced costs ``rc`` over ``prog.free``) with the dual of each
    person who owns an ``entering`` arc lowered by the person's most negative reduced
    cost, when that lifts the bound of :meth:`StageProgram.safe_bound` by at least
    ``needed`` (to the relaxation's value over its columns, less the pricing tolerance:
    the relaxation is then solved over every free arc); ``None`` otherwise.

    A person's row is an equality of right-hand side its supply, and every arc out of the
    person holds it: lowering its dual by ``δ`` raises the reduced cost of each of those
    arcs by ``δ`` and costs the bound ``δ × supply``, while each arc of negative reduced
    cost stops costing it ``|rc| × cap``.  Lowered by the most negative, every arc of the
    person is priced out and the bound gains what its other negative arcs cost.  After
    the city's first simplex of its first stage, the 30 arcs that priced in were one
    person's, each at −1 like the arc the person takes: lowered by 1, the bound met the
    relaxation's value and the pricing ended without the two further HiGHS runs (1 and
    4 simplex iterations, about 0.08 s each whatever their size, for HiGHS sets up the
    whole program again after its columns grow).  The bound stays
    :meth:`StageProgram.safe_bound`'s, valid for any duals: the caller recomputes it.
    """
    people = np.unique(prog.tail[entering])
    if len(people) > MAX_LIFTED:
        return None
    pieces = [model.person_arcs(int(p)) for p in people]
    arcs = np.concatenate(pieces)
    owner = np.repeat(np.arange(len(people)), [len(piece) for piece in pieces])
    if len(prog.free) != model.num_arcs:  # the arcs' positions among the free ones
        at = np.minimum(np.searchsorted(prog.free, arcs), len(prog.free) - 1)
        free = prog.free[at] == arcs
        arcs, owner = at[free], owner[free]
    low = np.zeros(len(people))
    np.minimum.at(low, owner, rc[arcs])
    below = rc[arcs] < 0
    gain = float(-(rc[arcs][below] @ prog.cap[arcs][below])) + float(low @ prog.lower[people])
    if gain < needed:
        return None
    lifted = duals.copy()
    lifted[people] += low
    return lifted


def _add_columns(h: Any, prog: StageProgram, entering: IntArray) -> None:
    """Add the free arcs ``entering`` (positions in ``prog.free``) to HiGHS's ``h`` as
    columns at lower bound."""
    sub = prog.columns(entering)
    h.addCols(
        len(entering),
        prog.cost[entering].astype(float),
        np.zeros(len(entering)),
        prog.cap[entering].astype(float),
        sub.nnz,
        sub.indptr[:-1].astype(np.int32),
        sub.indices.astype(np.int32),
        sub.data,
    )


def finish_stage(
    model: FlowModel,
    rows: RelativesRows,
    plan: list[Stage],
    k: int,
    incumbent_flow: IntArray,
    time_limit_s: float,
    *,
    threads: int = 1,
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
) -> Finish:
    """Solve stage ``k`` exactly over the free arcs, starting from ``incumbent_flow`` (a
    placement without conflicts), the earlier stages held at the values they have in it:
    the linear relaxation first, the MIP when it is fractional.

    ``threads`` and ``seed`` go to HiGHS; ``stop()`` returning true interrupts it.
    """
    import highspy

    prog = stage_program(model, rows, plan, k, incumbent_flow)
    free, integer, offset = prog.free, prog.integer, prog.offset
    h = new_highs(seed, stop)
    h.setOptionValue("presolve", "off")
    t0 = time.perf_counter()
    h.setOptionValue("time_limit", max(1.0, float(time_limit_s)))
    # The linear relaxation first: on these open parts it is usually integral, and
    # simplex solves it several times faster than HiGHS's MIP root; its reduced costs
    # fix arcs for the next stages.
    pass_model(h, prog.a, prog.cost, prog.cap, prog.lower, prog.upper, np.zeros_like(integer))
    few_costs = float(np.abs(prog.cost).max(initial=0)) <= FEW_COSTS
    if few_costs:
        # Started cold, as here, dual simplex stalls on the degenerate program of a stage
        # of few costs (see relax_stage): on the 16,000-person min-hard province's
        # preference stage 45,149 iterations and 22.6 s of CPU over 35,641 columns.
        h.setOptionValue("solver", "ipm")
    run_highs(h, threads)
    if few_costs:
        h.setOptionValue("solver", "choose")
    reduced: np.ndarray | None = None
    lp_bound = -np.inf
    if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
        solution = h.getSolution()
        lp_bound, rc = prog.safe_bound(np.asarray(solution.row_dual))
        reduced = np.full(model.num_arcs, np.inf)
        reduced[free] = rc
        rounded = prog.rounded(np.asarray(solution.col_value))
        if rounded is not None:
            reported = float(h.getInfo().objective_function_value)
            proven = math.ceil(lp_bound - 1e-6) >= round(reported + offset)
            return _checked(prog, prog.flow(rounded), reported, proven, reduced, lp_bound, lp_bound)
    if stop is not None and stop():
        return Finish("feasible", incumbent_flow.copy(), -np.inf)

    # The MIP: a large one runs in a child process killed at the deadline (HiGHS's own
    # checks of the time and the stop are too rare to hold it: optimizer.solve.killable).
    job = MipJob(
        ColumnMatrix.of(prog.a),
        prog.cap,
        prog.lower,
        prog.upper,
        integer,
        (prog.cost,),
        EXACT_MIP_OPTIONS,
        incumbent_flow[free],
    )
    left = float(time_limit_s) - (time.perf_counter() - t0)
    mip = solve_mip(job, left, threads=threads, seed=seed, stop=stop).last
    bound = lp_bound if mip is None else max(mip.bound + offset, lp_bound)
    if mip is None or mip.x is None:
        return Finish("no_solution", None, bound, reduced, lp_bound)
    flow = prog.flow(np.rint(mip.x).astype(np.int64))
    return _checked(prog, flow, mip.objective, mip.status == "optimal", reduced, bound, lp_bound)


def _checked(
    prog: StageProgram,
    flow: IntArray,
    reported: float,
    proven: bool,
    reduced: np.ndarray | None,
    bound: float,
    lp_bound: float,
) -> Finish:
    """The finish of ``flow``, once HiGHS's ``reported`` objective (over the columns)
    matches the one recomputed from the flow; when they differ, nothing it says is used
    as a proof."""
    recomputed = prog.value(flow[prog.free]) - prog.offset
    if abs(recomputed - reported) > 0.5:
        log.warning(
            "HiGHS reported objective %s for a flow worth %s: its bound is not used", reported, recomputed
        )
        return Finish("feasible", flow, -np.inf)
    return Finish("optimal" if proven else "feasible", flow, bound, reduced, lp_bound)


def finish_neighbourhood(
    model: FlowModel,
    rows: RelativesRows,
    plan: list[Stage],
    k: int,
    flow: IntArray,
    people: IntArray,
    time_limit_s: float,
    *,
    threads: int = 1,
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
) -> IntArray | None:
    """Stage ``k`` solved exactly around ``people`` (relatives in conflict in ``flow``):
    their arcs, every pair arc into the units they hold and the arcs those meet are
    free (:meth:`~optimizer.solve.flow.FlowModel.neighbourhood`), every other arc keeps
    its value in ``flow``, whatever the size of the rest of the open part.  The flow
    found (every relatives row holds), or ``None``."""
    keep = model.neighbourhood(flow, people)
    with model.held_outside(keep, flow):
        finish = finish_stage(model, rows, plan, k, flow, time_limit_s, threads=threads, seed=seed, stop=stop)
    return finish.flow if finish.status != "no_solution" else None
