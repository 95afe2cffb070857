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
dual bound so far.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.data import IntArray
from optimizer.solve.baselines import new_highs, pass_model, run_highs
from optimizer.solve.flow import PAIR, UNPLACED, FlowModel, shortfall_constant
from optimizer.solve.lagrange import Rows
from optimizer.solve.side import relative_rows

log = logging.getLogger(__name__)

#: The exact finish runs only when at most this many pair arcs are still free.
OPEN_PART_MAX_ARCS = 500_000
#: Largest distance from an integer at which a relaxation's value counts as integral.
INTEGRAL_TOLERANCE = 1e-6

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


def finish_stage(
    model: FlowModel,
    rows: Rows,
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

    net = model.net
    free = np.flatnonzero(model.free)
    ncol = len(free)
    col = np.full(model.num_arcs, -1, dtype=np.int64)
    col[free] = np.arange(ncol)
    fixed_flow = np.where(model.free, 0, model.fixed_flow)

    entries_r: list[IntArray] = []
    entries_c: list[IntArray] = []
    entries_v: list[np.ndarray] = []
    lower: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    # Flow conservation at every node but the sink.
    sink = net.sink
    for end, sign in ((net.tail[free], 1.0), (net.head[free], -1.0)):
        keep = end != sink
        entries_r.append(end[keep])
        entries_c.append(np.arange(ncol)[keep])
        entries_v.append(np.full(int(keep.sum()), sign))
    supply = model.supply[:sink].astype(float)
    lower.append(supply)
    upper.append(supply)
    r = sink

    def add_row(arcs: IntArray, lo: float, hi: float, coef: np.ndarray | None = None) -> None:
        nonlocal r
        on = model.free[arcs]
        entries_r.append(np.full(int(on.sum()), r))
        entries_c.append(col[arcs[on]])
        entries_v.append(np.ones(int(on.sum())) if coef is None else coef[on].astype(float))
        lower.append(np.array([lo]))
        upper.append(np.array([hi]))
        r += 1

    # Every relatives row (candidate index == pair arc index), and the equality rows.
    for arcs in relative_rows(model.problem, model.cand):
        if model.free[arcs].any():
            add_row(arcs, -np.inf, 1.0 - float(fixed_flow[arcs].sum()))
    for arcs, equal in zip(rows.arcs, rows.equality, strict=True):
        if equal and model.free[arcs].any():
            rest = 1.0 - float(fixed_flow[arcs].sum())
            add_row(arcs, rest, rest)
    # Earlier stages keep their values.
    for stage in plan[:k]:
        cost = model.stage_cost(*stage)
        nz = free[cost[free] != 0]
        if len(nz):
            value = float((cost[nz] * incumbent_flow[nz]).sum())
            add_row(nz, value, value, cost[nz])

    a = sp.csc_matrix(
        (np.concatenate(entries_v), (np.concatenate(entries_r), np.concatenate(entries_c))),
        shape=(r, ncol),
    )
    cost = model.stage_cost(*plan[k])
    offset = float((cost * fixed_flow).sum()) + stage_constant(model, plan[k])
    kind = net.kind[free]
    integer = (kind == PAIR) | (kind == UNPLACED)
    h = new_highs(seed, stop)
    h.setOptionValue("presolve", "off")
    t0 = time.perf_counter()
    h.setOptionValue("time_limit", max(1.0, float(time_limit_s)))
    # The linear relaxation first: on these open parts it is usually integral, and
    # simplex solves it several times faster than HiGHS's MIP root; its reduced costs
    # fix arcs for the next stages.
    pass_model(
        h, a, cost[free], net.cap[free], np.concatenate(lower), np.concatenate(upper), np.zeros_like(integer)
    )
    run_highs(h, threads)
    reduced: np.ndarray | None = None
    lp_bound = -np.inf
    if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
        solution = h.getSolution()
        reduced = np.full(model.num_arcs, np.inf)
        reduced[free] = np.asarray(solution.col_dual)
        lp_bound = float(h.getInfo().objective_function_value) + offset
        x = np.asarray(solution.col_value)
        if np.all(np.abs(x[integer] - np.rint(x[integer])) <= INTEGRAL_TOLERANCE):
            flow = fixed_flow.copy()
            flow[free] = np.rint(x).astype(np.int64)
            return _checked(cost, free, flow, lp_bound - offset, offset, proven=True, reduced=reduced)
    if stop is not None and stop():
        return Finish("feasible", incumbent_flow.copy(), -np.inf)

    # "Optimal" must mean optimal: the objective is integral, so a gap below 1 closes it
    # (HiGHS stops at a 0.01 % relative gap by default).
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1.0 - 1e-6)
    h.setOptionValue("time_limit", max(1.0, float(time_limit_s) - (time.perf_counter() - t0)))
    cols = np.flatnonzero(integer).astype(np.int32)
    h.changeColsIntegrality(len(cols), cols, np.full(len(cols), highspy.HighsVarType.kInteger))
    start = highspy.HighsSolution()
    start.col_value = incumbent_flow[free].astype(float).tolist()
    start.value_valid = True
    h.setSolution(start)
    run_highs(h, threads)
    status = h.getModelStatus()
    info = h.getInfo()
    bound = max(float(info.mip_dual_bound) + offset, lp_bound)
    if status == highspy.HighsModelStatus.kInfeasible or info.primal_solution_status != 2:
        return Finish("no_solution", None, bound, reduced, lp_bound)
    flow = fixed_flow.copy()
    flow[free] = np.rint(np.asarray(h.getSolution().col_value)).astype(np.int64)
    proven = status == highspy.HighsModelStatus.kOptimal
    return _checked(
        cost, free, flow, float(info.objective_function_value), offset, proven, reduced, bound, lp_bound
    )


def _checked(
    cost: IntArray,
    free: IntArray,
    flow: IntArray,
    reported: float,
    offset: float,
    proven: bool,
    reduced: np.ndarray | None,
    bound: float | None = None,
    lp_bound: float | None = None,
) -> Finish:
    """The finish of ``flow``, once HiGHS's ``reported`` objective matches the one
    recomputed from the flow; when they differ, nothing it says is used as a proof."""
    recomputed = float((cost[free] * flow[free]).sum())
    if abs(recomputed - reported) > 0.5:
        log.warning(
            "HiGHS reported objective %s for a flow worth %s: its bound is not used", reported, recomputed
        )
        return Finish("feasible", flow, -np.inf)
    value = reported + offset
    return Finish(
        "optimal" if proven else "feasible",
        flow,
        value if bound is None else bound,
        reduced,
        value if lp_bound is None else lp_bound,
    )
