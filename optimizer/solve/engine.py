"""The solve pipeline: candidates → stages (flow, multipliers, repair) → check (layer 6).

``solve(problem)`` returns a :class:`~optimizer.solution.SolveResult`.  The whole solve
— the stage loop as pseudo-code with the function of each step, why each bound holds,
what is kept on a stop — is described in ``docs/ALGORITHM.md``; this module holds the
loop itself: :func:`solve` and its steps :func:`_start` (candidates, flow model, stage
plan, greedy floor), :func:`_run_stage` (one :class:`~optimizer.solve.lagrange.StageSearch`
and :func:`_finish_open_part`), :func:`_whole_model` and :func:`_assemble` (the checked
result).  :class:`EngineParams` holds the search's settings and :class:`Stop` the
deadline and the stop event.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import resource
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from optimizer.check import RuleViolationError, assert_valid, check_placement, objective_terms
from optimizer.data import TERMS, IntArray, Objective, Problem
from optimizer.errors import InputError, Issue
from optimizer.i18n import t as message
from optimizer.labels import gap_percent, label, number, relative_gap, terms_label
from optimizer.rules.binding import unplaced_reasons
from optimizer.rules.reason import Reason
from optimizer.solution import (
    SolveResult,
    StageResult,
    Status,
    Unproven,
    UnprovenCause,
)
from optimizer.solve.baselines import highs_mip, valid_greedy
from optimizer.solve.candidates import Candidates, build_candidates
from optimizer.solve.exact import OPEN_PART_MAX_ARCS, Stage, finish_neighbourhood, finish_stage, relax_stage
from optimizer.solve.flow import ENTER_PER_PERSON, PAIR, FlowInfeasible, FlowModel, open_arcs
from optimizer.solve.lagrange import (
    MAX_ITERATIONS,
    Incumbent,
    RelativesRows,
    StageReport,
    StageSearch,
    stage_value,
)
from optimizer.solve.memory import available_bytes, check_memory, small_pages, warmed_heap
from optimizer.solve.relatives import choose_to_move, relative_conflicts
from optimizer.solve.stages import objective_stages

log = logging.getLogger(__name__)

#: Bytes HiGHS needs per candidate pair for the whole-model MIP (measured: 7.3 GB for the
#: 9.4 million pairs of 4× the city, with room for its search): a solve left with a gap
#: is finished by the whole-model MIP in the time left when this estimate fits in memory.
HIGHS_BYTES_PER_PAIR = 1_000


@dataclass(frozen=True)
class Progress:
    """A progress event: the stage just finished (or running) and where the solve stands."""

    stage: str
    #: the stage's value and bound in the scenario's units (with decimal weights, the
    #: terms weighted by the scenario's own weights: see :func:`in_units`)
    objective: float | None
    bound: float | None
    elapsed_s: float
    note: str = ""
    args: Mapping[str, object] = field(default_factory=dict)
    #: the common denominator of decimal weights: value and bound are shown with as
    #: many decimals as it has digits after the first
    scale: int = 1

    def describe(self, lang: str | None = None) -> str:
        """The event in words: ``"[  0.92s] ghép cặp: 2.288.169 cặp ứng viên"``.

        ``note`` names a message ``progress.<note>`` formatted with ``args``; a stage named
        by its objective terms is shown with their names, and value, bound and gap follow
        (value and bound in the scenario's units, the gap never 0 when they differ).
        """
        head = f"[{self.elapsed_s:7.2f}s]"
        if self.stage in TERMS or "+" in self.stage:
            head += " " + terms_label(self.stage, lang) + ":"
        parts = []
        if self.note:
            shown = {k: _shown(k, v, lang) for k, v in self.args.items()}
            parts.append(message(f"progress.{self.note}", lang, **shown))
        digits = self.digits
        if self.objective is not None:
            parts.append(message("progress.value", lang, value=number(self.objective, digits, lang)))
        if self.bound is not None:
            parts.append(message("progress.bound", lang, bound=number(self.bound, digits, lang)))
        if self.gap is not None and self.objective is not None and self.bound is not None:
            parts.append(message("progress.gap", lang, gap=gap_percent(self.objective, self.bound, 3, lang)))
        return " ".join([head, ", ".join(parts)]).rstrip()

    @property
    def digits(self) -> int:
        """Decimals that show value and bound exactly in the scenario's units (0 without
        decimal weights; 2 for weights in hundredths)."""
        return len(str(self.scale)) - 1 if self.scale > 1 else 0

    @property
    def gap(self) -> float | None:
        """Relative gap of the stage, when both numbers are known."""
        if self.objective is None or self.bound is None:
            return None
        return relative_gap(self.objective, self.bound)


def _shown(key: str, value: object, lang: str | None) -> object:
    """A progress argument as a planner reads it: counts grouped, statuses named."""
    if key == "status":
        return label(value, "status", lang)
    return number(value, 0, lang) if isinstance(value, int) else value


ProgressFn = Callable[[Progress], None]


class Interrupted(Exception):
    """The stop event was set or the time limit passed."""


def stage_plan(problem: Problem, model: FlowModel) -> list[Stage]:
    """The stages to solve: those the objective asks for (:func:`~optimizer.solve.stages.objective_stages`),
    consecutive priorities grouped into one stage while their arc costs stay small
    (:meth:`~optimizer.solve.flow.FlowModel.group_terms`).

    Raises
    ------
    InputError
        When weights scale to costs the flow solver cannot take.
    """
    stages = objective_stages(problem)
    hard = stages[:1] if problem.rules.min_is_hard else []
    asked = stages[len(hard) :]
    if problem.objective.weights is not None:
        if not model.fits(asked[0]):
            raise InputError([_weights_too_fine(problem.objective)])
        return stages
    return [*hard, *model.group_terms(tuple(terms[0] for terms, _ in asked))]


def _weights_too_fine(obj: Objective) -> Issue:
    """The weights that scaled to integers overflow the flow's costs, finest first."""
    scale = obj.weights_scale
    fine = sorted(
        (
            (Fraction(w, scale).denominator, k)
            for k, w in obj.weights or ()
            if Fraction(w, scale).denominator > 1
        ),
        reverse=True,
    )
    names = ", ".join(k for _, k in fine) or ", ".join(k for k, _ in obj.weights or ())
    return Issue(
        file="objective.weights",
        message=message("solve.weights_too_fine", scale=scale),
        hint=message("solve.weights_too_fine_hint", names=names),
        code="weights_too_fine",
    )


def _peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass(frozen=True)
class EngineParams:
    """Settings of the search itself (tests and benchmarks change them; a scenario's
    ``[solver]`` table does not need them).

    Attributes
    ----------
    max_iterations:
        Flow solves per stage at most (multiplier iterations).
    open_part_max_arcs:
        A stage left with a gap goes to the exact finish of its open part when at most
        this many pair arcs are still free (``-1``: never).
    highs_bytes_per_pair:
        Memory the whole-model MIP needs per candidate pair: it runs on a solve left
        unproven when this estimate fits in the memory available.
    relaxation:
        Solve each stage's linear relaxation once (column generation) when the first
        flow leaves a gap.
    greedy_floor:
        Start from the greedy baseline as the first incumbent (when it is valid).
    warm_basis:
        Start each stage relaxation's simplex from the basis of the stage's first flow
        (:func:`~optimizer.solve.exact.warm_basis`).
    flow_backend:
        The min-cost flow solver: ``lemon``, ``ortools`` or ``auto`` (LEMON when
        installed, unless ``$STAFFPLAN_FLOW`` names another;
        :func:`~optimizer.solve.mincostflow.backend`).
    parting:
        Flows each stage may solve before its relaxation with the multipliers of the
        few rows its last flow broke raised by what parting the relatives costs
        (:meth:`~optimizer.solve.lagrange.StageSearch._parting`; re-plans, whose
        stages are mostly proven so); ``0``: none.
    carry_priced:
        Each stage's first flow starts from the arcs the stage before priced in, besides
        each person's cheapest ones (``StageSearch``'s ``start``): a re-plan's
        shortfall+unplaced stage, tied by ``changes``, prices in nearly every arc the
        changes+moves stage needs (its first flow: 2 pricing rounds instead of 6-9 on
        the city).  Pricing rounds only, never the optimum nor the bound.
    enter_per_person:
        Arcs a person may bring into a flow solve per pricing round
        (``FlowModel.enter_per_person``).
    all_free_per_person:
        A stage's first flow starts from every free pair arc once at most this many
        per person are free (``FlowModel.all_free_per_person``; ``0``: never).
    settle:
        Let the first flow of a stage whose relaxation runs stop its pricing a few arcs
        short when it puts relatives against the rule, the relaxation pricing those
        arcs in (:meth:`~optimizer.solve.lagrange.StageSearch._settle`).
    """

    max_iterations: int = MAX_ITERATIONS
    open_part_max_arcs: int = OPEN_PART_MAX_ARCS
    highs_bytes_per_pair: int = HIGHS_BYTES_PER_PAIR
    relaxation: bool = True
    greedy_floor: bool = True
    warm_basis: bool = True
    flow_backend: str = "auto"
    parting: int = 0
    carry_priced: bool = False
    enter_per_person: int = ENTER_PER_PERSON
    all_free_per_person: int = 0
    settle: bool = True


class Stop:
    """The one stop of a solve: its deadline (the time limit) and the stop event (set
    on Ctrl-C).  Calling it says whether the solve must stop; HiGHS gets it as its
    interrupt callback, the stage search through :meth:`checkpoint`."""

    def __init__(self, time_limit_s: float, event: threading.Event | None = None) -> None:
        self.event = event
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + time_limit_s

    def elapsed(self) -> float:
        """Seconds since the solve started."""
        return time.perf_counter() - self.t0

    def left(self) -> float:
        """Seconds left before the time limit (negative once it passed)."""
        return self.deadline - time.perf_counter()

    def __call__(self) -> bool:
        return (self.event is not None and self.event.is_set()) or time.perf_counter() > self.deadline

    def checkpoint(self) -> None:
        """Raise :class:`Interrupted` when the solve must stop."""
        if self():
            raise Interrupted

    @property
    def cause(self) -> UnprovenCause:
        """Why a stopped solve stopped."""
        return "time_limit" if self.left() < 0 else "stopped"


class _Failed(Exception):
    """A solve that ends without a placement (infeasible, or stopped with nothing)."""

    def __init__(self, status: Status, reason: Reason) -> None:
        super().__init__(reason.code)
        self.status = status
        self.reason = reason


@dataclass
class _Run:
    """The state one solve's steps share."""

    problem: Problem
    params: EngineParams
    prove: bool
    reference: IntArray | None
    stop: Stop
    progress: ProgressFn | None
    threads: int
    cand: Candidates
    model: FlowModel
    plan: list[Stage]
    rows: RelativesRows
    timings: dict[str, float]
    incumbent: Incumbent | None = None
    reports: list[StageReport] = field(default_factory=list)
    relaxed: IntArray | None = None
    open_conflicts: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    interrupted: bool = False
    #: the arcs the last stage's flows priced in (``EngineParams.carry_priced``)
    priced: np.ndarray | None = None

    def emit(
        self, stage: str, objective: int | None, bound: int | None, note: str = "", **args: object
    ) -> None:
        """Send a progress event (``objective`` and ``bound`` in stage units, shown in the
        scenario's units)."""
        if self.progress is not None:
            scale = self.scale
            shown = in_units(objective, scale), in_units(bound, scale)
            self.progress(Progress(stage, *shown, self.stop.elapsed(), note, args, scale))

    @property
    def scale(self) -> int:
        """The common denominator of the scenario's decimal weights (1 without weights)."""
        return self.problem.objective.weights_scale if self.problem.objective.weights else 1

    def add_time(self, phase: str, seconds: float) -> None:
        """Count ``seconds`` under ``phase`` in the timings."""
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds

    def highs(self) -> dict[str, Any]:
        """HiGHS settings of this solve: threads, seed and the stop."""
        return {"threads": self.threads, "seed": self.problem.solver.seed, "stop": self.stop}


def _fallback_feasible(problem: Problem, assignment: IntArray) -> IntArray:
    """Make a relaxed placement obey the relatives rule by unplacing one relative of each
    conflicting pair (used only when a solve is stopped before its first repair)."""
    out = assignment.copy()
    fixed = np.zeros(problem.num_staff, dtype=bool)
    fixed[problem.pins.staff_idx[np.array(problem.pins.mode) == "fix"]] = True
    for a, b, _ in relative_conflicts(problem, out):
        if out[a] >= 0 and out[b] >= 0:
            out[choose_to_move(problem, out, a, b, fixed)] = -1
    return out


@small_pages()
@warmed_heap()
def solve(
    problem: Problem,
    *,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
    reference: IntArray | None = None,
    prove: bool = True,
    params: EngineParams | None = None,
) -> SolveResult:
    """Place everyone: the lexicographic (or weighted) optimum under every hard rule.

    The steps (``docs/ALGORITHM.md``): candidates and the flow model, the greedy floor,
    each stage (:func:`_run_stage`, with :func:`_finish_open_part`), the whole-model
    fallback (:func:`_whole_model`) and the checked result (:func:`_assemble`).

    Parameters
    ----------
    problem:
        Validated problem data.
    progress:
        Called after each iteration of each stage with a :class:`Progress` event.
    stop:
        When set (e.g. on Ctrl-C), the solve returns the best placement found so far,
        marked interrupted (not proven).  The time limit acts the same way.
    reference:
        A base placement (post line per person, -1 unplaced) for a re-plan: enables the
        ``changes`` term, which the objective may then rank or weigh.
    prove:
        ``False`` for a quick placement (re-plans, explanations): each stage solves its
        relaxation and repairs it, with no multiplier search and no MIP; the stages
        are still reported with the bounds that come for free.
    params:
        Settings of the search (:class:`EngineParams`; the defaults otherwise).

    Raises
    ------
    MemoryLimitError
        Before building anything, when the estimated memory exceeds what is available.
    """
    run = _start(problem, progress, Stop(problem.solver.time_limit_s, stop), reference, prove, params)
    try:
        k: int | None = 0
        while k is not None and k < len(run.plan):
            k = _run_stage(run, k)
        whole, exact_proven = _whole_model(run)
        return _assemble(run, whole, exact_proven)
    except _Failed as failed:
        run.timings["total"] = run.stop.elapsed()
        return SolveResult(
            failed.status,
            np.full(problem.num_staff, -1, dtype=np.int64),
            timings=run.timings,
            peak_memory_mb=_peak_memory_mb(),
            candidate_counts=_counts(run.cand),
            interrupted=failed.status == "no_solution",
            failure=failed.reason,
        )


def _start(
    problem: Problem,
    progress: ProgressFn | None,
    stop: Stop,
    reference: IntArray | None,
    prove: bool,
    params: EngineParams | None,
) -> _Run:
    """Check the memory, cap the workers, build the candidates and the flow model, plan
    the stages and take the greedy floor as the first incumbent."""
    estimate = check_memory(problem)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cand = build_candidates(problem, reference)
    params = params or EngineParams()
    if params.greedy_floor and reference is None:
        cand.sort_nearest_ahead()  # for the greedy floor, while the flow model is built
    model = FlowModel(problem, cand, params.flow_backend)
    model.enter_per_person = params.enter_per_person
    model.all_free_per_person = params.all_free_per_person
    timings["candidates"] = time.perf_counter() - t
    run = _Run(
        problem,
        params,
        prove,
        reference,
        stop,
        progress,
        capped_workers(problem.solver.workers),
        cand,
        model,
        stage_plan(problem, model),
        RelativesRows(model),
        timings,
    )
    run.emit("memory", None, None, "memory", mb=round(estimate / 2**20))
    if run.threads != problem.solver.workers:
        log.warning("solver.workers = %d capped at %d cores", problem.solver.workers, run.threads)
        run.emit("workers", None, None, "workers", asked=problem.solver.workers, cores=run.threads)
    run.emit("candidates", None, None, "candidates", pairs=len(cand))
    if reference is not None:
        run.incumbent = kept_incumbent(model, reference)
    if run.params.greedy_floor and run.incumbent is None:
        t = time.perf_counter()
        run.incumbent = floor_incumbent(model, reference)
        timings["greedy"] = time.perf_counter() - t
        if run.incumbent is not None:
            run.emit("greedy", stage_value(run.incumbent.values, *run.plan[0]), None, "greedy")
    timings["flow"] = timings["repair"] = 0.0
    return run


def _search(run: _Run, k: int) -> StageSearch:
    """The search of stage ``k``, with its relaxation and neighbourhood finish bound."""
    model, rows, plan, stop = run.model, run.rows, run.plan, run.stop
    name = "+".join(plan[k][0])

    def step(iteration: int, value: int | None, bound: int, conflicts: int) -> None:
        run.emit(name, value, bound, "iteration", iteration=iteration, conflicts=conflicts)

    relax = functools.partial(
        relax_stage, model, rows, plan, k, time_limit_s=stop.left(), warm=run.params.warm_basis, **run.highs()
    )

    def neighbourhood(flow: IntArray, people: IntArray) -> IntArray | None:
        return finish_neighbourhood(model, rows, plan, k, flow, people, stop.left(), **run.highs())

    def support(flow: IntArray, solution: np.ndarray) -> IntArray | None:
        return finish_support(model, rows, plan, k, flow, solution, stop.left(), **run.highs())

    return StageSearch(
        model,
        rows,
        plan,
        k,
        stop.checkpoint,
        step,
        run.params.open_part_max_arcs,
        run.params.max_iterations if run.prove else 1,
        relax if run.prove and run.params.relaxation else None,
        neighbourhood,
        run.params.parting if run.prove else 0,
        support,
        run.priced,
        run.params.settle,
    )


#: A relaxation's arc counts as used above this value (its solution is floating point).
USED = 1e-6


def finish_support(
    model: FlowModel,
    rows: RelativesRows,
    plan: list[Stage],
    k: int,
    flow: IntArray,
    solution: np.ndarray,
    time_limit_s: float,
    *,
    threads: int = 1,
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
) -> IntArray | None:
    """A placement near a stage relaxation's fractional optimum ``solution``, from the
    best placement ``flow``: stage ``k`` solved exactly
    (:func:`~optimizer.solve.exact.finish_stage`) over the pair arcs that either uses,
    every arc of the people the relaxation splits between arcs (relatives, mostly) and
    every pair arc into the units where either puts them; every other pair arc is held
    at 0.  The flow found, or ``None``.

    Holding the arcs on which the two agree at 0 is the "relaxation induced
    neighbourhood" of MIP solvers: the program is small (58,065 columns on the
    16,000-person ``short-commute`` province's moves stage, whose relaxation had
    186,289), ``flow`` is one of its placements, so the earlier stages keep the
    values they have in it, and the relaxation's solution is one of its fractional
    solutions, so its optimum is near the relaxation's bound.  The split people's own
    arcs and units let the optimum send one of two relatives to a unit neither
    placement uses (``short-commute`` at 1,500 people: 31,264,384, the stage's optimum,
    against 31,533,437 over the two placements' arcs alone).  It proves nothing (a
    restriction of the stage): its placement's small gap lets the relaxation's reduced
    costs fix nearly every arc, which leaves the exact finish of the open part a small
    program.  Without it the commute stage of ``min-hard`` at 16,000 people stayed 3 %
    above its bound (every repaired flow broke the moves stage the relaxation had
    proven) and went to a 59 s MIP over 178,274 arcs.
    """
    net = model.net
    pair = net.kind == PAIR
    used = pair & (solution > USED)
    split = np.unique(net.tail[used & (solution < 1 - USED)])
    units = np.unique(model.arc_unit[(used | (pair & (flow > 0))) & np.isin(net.tail, split)])
    keep = ~pair | (flow > 0) | used | (pair & (np.isin(net.tail, split) | np.isin(model.arc_unit, units)))
    with model.held_outside(keep, flow):
        finish = finish_stage(model, rows, plan, k, flow, time_limit_s, threads=threads, seed=seed, stop=stop)
    return finish.flow if finish.status != "no_solution" else None


def _run_stage(run: _Run, k: int) -> int | None:
    """Search stage ``k``, finish its open part exactly when small, and merge it into the
    next stage when a gap is left; the next stage's index, or ``None`` once stopped."""
    plan, model = run.plan, run.model
    name = "+".join(plan[k][0])
    search = _search(run, k)
    t = time.perf_counter()
    try:
        if k > 0:
            run.stop.checkpoint()
        report = search.run(run.incumbent)
    except Interrupted:
        run.interrupted = True
    except FlowInfeasible as exc:  # only the first flow can be infeasible
        raise _Failed("infeasible", Reason("solve_must_place")) from exc
    finally:
        run.add_time("flow", time.perf_counter() - t - search.repair_s - search.relax_s)
        run.add_time("repair", search.repair_s)
        if search.relax_s:
            run.add_time("exact", search.relax_s)
        run.incumbent = search.incumbent
        run.open_conflicts[name] = search.open_conflicts
        if run.params.carry_priced:
            run.priced = search.priced
        if run.relaxed is None and search.relaxed is not None:
            run.relaxed = model.assignment(search.relaxed.flow)
    if run.interrupted:
        if search.bound is not None and search.incumbent is not None:
            # The stage's bound so far still holds: report it (not proven).
            value = search.value()
            run.reports.append(StageReport(*plan[k], value, min(search.bound, value or 0), 0, 0))
        return None
    if run.problem.rules.min_is_hard and k == 0 and report.bound > 0:
        raise _Failed("infeasible", Reason("solve_min_unreachable"))
    if report.value != report.bound:
        open_part = open_arcs(model)
        run.emit(name, report.value, report.bound, "open_part", arcs=open_part)
        if run.prove and search.incumbent is not None and open_part <= run.params.open_part_max_arcs:
            _finish_open_part(run, k, search, report)
            if run.interrupted:
                report.time_s = time.perf_counter() - t
                run.reports.append(report)
                return None
    gap_left = run.prove and report.value != report.bound and k + 1 < len(plan)
    merged = model.merge(plan[k], plan[k + 1]) if gap_left else None
    if merged is not None and model.fits(merged):
        # Left with a gap: the next stage's bound would be conditional on a value not
        # proven, so the stage is carried into the next one lexicographically.
        plan[k : k + 2] = [merged]
        return k
    report.time_s = time.perf_counter() - t
    run.reports.append(report)
    return k + 1


def _finish_open_part(run: _Run, k: int, search: StageSearch, report: StageReport) -> None:
    """HiGHS over stage ``k``'s open part (the arcs not fixed) from the best placement:
    its placement is offered, its reduced costs fix arcs, its bound raises the stage's."""
    assert search.incumbent is not None
    t = time.perf_counter()
    finish = finish_stage(
        run.model, run.rows, run.plan, k, search.incumbent.flow, run.stop.left(), **run.highs()
    )
    run.add_time("exact", time.perf_counter() - t)
    if finish.flow is not None:
        search.offer(finish.flow)
    run.incumbent = search.incumbent
    report.value = search.value()
    if run.incumbent is not None and report.value is not None and finish.reduced is not None:
        run.model.fix_relaxed(finish.reduced, run.incumbent.flow, report.value - finish.lp_bound)
    if math.isfinite(finish.bound):
        report.bound = min(report.value or 0, max(report.bound, math.ceil(finish.bound - 1e-6)))
    run.emit("+".join(run.plan[k][0]), report.value, report.bound, "exact", status=finish.status)
    if run.stop():  # HiGHS was interrupted: keep the placement and the bound
        run.interrupted = True


def _whole_model(run: _Run) -> tuple[IntArray | None, bool]:
    """The whole-model MIP on a solve left unproven (or without any placement), in the
    time left, where the memory estimate says it fits: its placement when it is optimal
    or better than every placement so far, and whether it is proven optimal."""
    proven_flow = not run.interrupted and all(r.value is not None and r.value == r.bound for r in run.reports)
    wanted = run.incumbent is None or (run.prove and not proven_flow)
    fits = whole_model_fits(len(run.cand), bytes_per_pair=run.params.highs_bytes_per_pair)
    if not wanted or run.interrupted or run.stop.left() <= 1.0 or not fits:
        return None, False
    t = time.perf_counter()
    exact = highs_mip(run.problem, run.stop.left(), run.cand, **run.highs())
    run.add_time("exact", time.perf_counter() - t)
    run.interrupted = exact.status != "optimal" and run.stop()  # stopped (time limit, Ctrl-C)
    run.emit("exact", None, None, "exact", status=exact.status)
    if exact.status == "infeasible":
        raise _Failed("infeasible", Reason("solve_relatives"))
    if exact.status == "optimal":
        return exact.assignment, True
    if exact.status == "feasible" and _better(
        run.problem, run.plan, exact.assignment, run.incumbent, run.reference
    ):
        return exact.assignment, False  # stopped early, yet better than every placement so far
    return None, False


def _assemble(run: _Run, whole: IntArray | None, exact_proven: bool) -> SolveResult:
    """The best placement, checked by the independent checker, with every term
    recomputed, each stage's value, bound and status, and why a stage is not proven."""
    problem = run.problem
    if whole is not None:
        assignment = whole
    elif run.incumbent is not None:
        assignment = run.model.assignment(run.incumbent.flow)
    elif run.relaxed is not None and run.interrupted:
        assignment = _fallback_feasible(problem, run.relaxed)
    else:
        assignment = np.full(problem.num_staff, -1, dtype=np.int64)
        run.interrupted = True
    t = time.perf_counter()
    try:
        assert_valid(problem, assignment)  # the independent checker, once
    except RuleViolationError as broken:
        # Stopped before any repair ended, and unplacing one relative per conflict would
        # break require_all_placed or a pin: no valid placement to keep.
        raise _Failed("no_solution", Reason("solve_stopped_relatives")) from broken
    values = objective_terms(problem, assignment, run.reference)
    if run.incumbent is not None and whole is None:
        for term, v in run.incumbent.values.items():
            if values[term] != v:
                raise AssertionError(f"term {term}: flow says {v}, recomputed {values[term]}")
    run.timings["check"] = time.perf_counter() - t
    stages, bounds = _stage_results(run.plan, run.reports, values, exact_proven, run.scale)
    cause: UnprovenCause = run.stop.cause if run.interrupted else "gap"
    unproven = tuple(
        Unproven(st.name, cause, tuple(run.open_conflicts.get(st.name, ())))
        for st in stages
        if st.status != "optimal"
    )
    run.timings["total"] = run.stop.elapsed()
    proven = all(st.status == "optimal" for st in stages) and not run.interrupted
    status: Status = "optimal" if proven else "feasible"
    log.info("solve %s in %.2f s", status, run.timings["total"])
    return SolveResult(
        status=status,
        assignment=assignment,
        stages=tuple(stages),
        values=values,
        bounds=bounds,
        unplaced_reasons=unplaced_reasons(problem, assignment),
        timings=run.timings,
        peak_memory_mb=_peak_memory_mb(),
        candidate_counts=_counts(run.cand),
        interrupted=run.interrupted,
        unproven=unproven,
    )


def _better(
    problem: Problem,
    plan: list[Stage],
    assignment: IntArray,
    incumbent: Incumbent | None,
    reference: IntArray | None,
) -> bool:
    """Whether ``assignment`` (valid) is lexicographically better than the incumbent."""
    if incumbent is None:
        return True
    values = objective_terms(problem, assignment, reference)
    key = [stage_value(values, *stage) for stage in plan]
    return key < [stage_value(incumbent.values, *stage) for stage in plan]


def capped_workers(workers: int) -> int:
    """``solver.workers`` capped at this machine's cores (more threads only slow HiGHS
    down and can keep it past the time limit)."""
    return max(1, min(int(workers), os.cpu_count() or 1))


def whole_model_fits(
    pairs: int, available: int | None = None, bytes_per_pair: int = HIGHS_BYTES_PER_PAIR
) -> bool:
    """Whether the whole-model MIP over ``pairs`` candidate pairs fits in the memory left."""
    have = available_bytes() if available is None else available
    return bytes_per_pair * pairs <= have


def floor_incumbent(model: FlowModel, reference: IntArray | None = None) -> Incumbent | None:
    """The greedy baseline on the model's candidates made valid (every hard rule,
    relatives included: :func:`~optimizer.solve.baselines.valid_greedy`), as the first
    incumbent of the solve: the stored placement is then never lexicographically worse
    than it.  ``None`` when greedy cannot be made valid."""
    problem = model.problem
    floor = valid_greedy(problem, model.cand)
    assignment = floor.assignment
    if floor.status == "no_solution" or check_placement(problem, assignment):
        return None
    flow = model.flow_of(assignment)
    if flow is None:
        return None
    return Incumbent(flow, objective_terms(problem, assignment, reference))


def kept_incumbent(model: FlowModel, reference: IntArray) -> Incumbent | None:
    """A re-plan's base placement (``reference``: the people who stay where they were,
    the others unplaced) as the first incumbent, when every hard rule holds in it and
    its pairs are candidates: no greedy floor is needed then (the stored placement is
    never lexicographically worse than the base placement kept).  ``None`` otherwise."""
    problem = model.problem
    if check_placement(problem, reference):
        return None
    flow = model.flow_of(reference)
    if flow is None:
        return None
    return Incumbent(flow, objective_terms(problem, reference, reference))


def _counts(cand: Candidates) -> dict[str, int]:
    return {"pairs": len(cand), **{f"removed_{k}": v for k, v in cand.removed.items()}}


def _stage_results(
    plan: list[Stage],
    reports: list[StageReport],
    values: dict[str, int],
    exact_proven: bool,
    scale: int = 1,
) -> tuple[list[StageResult], dict[str, int]]:
    """Stage statuses: the final placement's value against each stage's proven bound.

    A stage's bound is conditional on the earlier stages' values, so it is reported
    only while every earlier stage is proven optimal.  When the exact MIP proved the
    placement optimal, every stage is.  A stage whose value meets its proven bound is
    optimal even when a later one was stopped (the solve as a whole is then not proven).
    Values and bounds are given in the scenario's units (``scale``: the common
    denominator of decimal weights; the statuses are decided on the exact integers).
    """
    stages: list[StageResult] = []
    bounds: dict[str, int] = {}
    tight = True  # every earlier stage is proven
    for k, (terms, weights) in enumerate(plan):
        value = stage_value(values, terms, weights)
        report = reports[k] if k < len(reports) else None
        bound: int | None = None
        if exact_proven:
            bound = value
        elif tight and report is not None:
            bound = min(report.bound, value)
        if bound is not None:
            bounds.update(_term_bounds(terms, weights, values, bound))
        proven = bound is not None and value == bound  # a stop keeps the stages it proved
        time_s = report.time_s if report is not None else 0.0
        status: Status = "optimal" if proven else "feasible"
        shown = in_units(value, scale), in_units(bound, scale)
        stages.append(StageResult("+".join(terms), terms, status, *shown, time_s))
        tight = tight and value == bound
    return stages, bounds


def in_units(value: int | None, scale: int) -> float | None:
    """A stage value or bound in the scenario's units: divided by ``scale``, the common
    denominator of its decimal weights (a whole number stays an ``int``)."""
    if value is None or scale == 1:
        return value
    exact = Fraction(value, scale)
    return int(exact) if exact.denominator == 1 else float(exact)


def _term_bounds(
    terms: tuple[str, ...], weights: tuple[int, ...], values: dict[str, int], bound: int
) -> dict[str, int]:
    """Per-term bounds inside a stage whose weighted bound is ``bound``.

    The weights are lexicographic (each exceeds everything weighted below it), so the
    first term is at least ``bound // w``; while a term sits at its bound, the next one
    is bounded by what is left; after the first term above its bound, none is.
    """
    out: dict[str, int] = {}
    left = bound
    for term, w in zip(terms, weights, strict=True):
        # never above the value: the placement itself shows the optimum is no higher
        out[term] = min(values[term], max(0, left // w))
        if values[term] != out[term]:
            break
        left -= w * values[term]
    return out
