"""The solve pipeline: candidates → lexicographic flow → side-rule repair → check (layer 6).

``solve(problem)`` returns a :class:`~optimizer.solution.SolveResult`.  The flow model
without the relatives rule is solved exactly stage by stage; its stage values are
lower bounds for the full model (it is a relaxation, and no candidate was pruned
beyond the hard rules).  Conflicts between relatives are repaired by forbidding one
relative the shared unit and solving again; a stage is proven optimal when its value
equals its bound.  The independent checker verifies every hard rule and recomputes
every term after every solve.
"""

from __future__ import annotations

import logging
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.check import assert_valid, check_placement, objective_terms
from optimizer.data import CHANGES, TERMS, IntArray, Problem
from optimizer.solution import SolveResult, StageResult, Status
from optimizer.solve.baselines import highs_mip
from optimizer.solve.candidates import Candidates, build_candidates
from optimizer.solve.flow import FlowInfeasible, LexicographicFlow, StageOutcome
from optimizer.solve.memory import check_memory
from optimizer.solve.reasons import unplaced_reasons
from optimizer.solve.side import choose_to_move, conflict_bound, relative_conflicts

log = logging.getLogger(__name__)

MAX_REPAIR_ROUNDS = 25
#: Below this many candidate pairs, a solve the repair could not prove is finished by
#: the exact MIP (relatives included) in the time left.
EXACT_FINISH_MAX_PAIRS = 50_000


@dataclass(frozen=True)
class Progress:
    """A progress event: the stage just finished (or running) and where the solve stands."""

    stage: str
    objective: int | None
    bound: int | None
    elapsed_s: float
    note: str = ""

    @property
    def gap(self) -> float | None:
        """Relative gap of the stage, when both numbers are known."""
        if self.objective is None or self.bound is None:
            return None
        return (self.objective - self.bound) / max(1.0, abs(self.objective))


ProgressFn = Callable[[Progress], None]


class Interrupted(Exception):
    """The stop event was set or the time limit passed."""


def stage_plan(problem: Problem, lf: LexicographicFlow) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
    """The stages to solve: lexicographic groups of the priorities, or one weighted stage.

    With ``min_is_hard`` a first stage minimises shortfall alone (it must reach 0).
    """
    obj = problem.objective
    if obj.weights is not None:
        w = dict(obj.weights)
        terms = tuple(t for t in (*TERMS, CHANGES) if w.get(t, 0) != 0)
        plan = [(terms, tuple(int(w[t]) for t in terms))]
    else:
        plan = lf.group_terms(tuple(obj.priorities))
    if problem.rules.min_is_hard:
        plan = [(("shortfall",), (1,)), *plan]
    return plan


def _peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Solver:
    """One solve: holds the clock, the stop event and the progress callback."""

    def __init__(self, problem: Problem, progress: ProgressFn | None, stop: threading.Event | None) -> None:
        self.problem = problem
        self.progress = progress
        self.stop = stop
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + problem.solver.time_limit_s
        self.interrupted = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def checkpoint(self) -> None:
        if (self.stop is not None and self.stop.is_set()) or time.perf_counter() > self.deadline:
            raise Interrupted

    def emit(self, stage: str, objective: int | None, bound: int | None, note: str = "") -> None:
        if self.progress is not None:
            self.progress(Progress(stage, objective, bound, self.elapsed(), note))

    def lexicographic(
        self, cand: Candidates, label: str, seeds: list[np.ndarray] | None = None
    ) -> tuple[list[StageOutcome], IntArray, LexicographicFlow]:
        """Solve every stage; on a stop after the first stage, return what is solved
        (a complete placement of the stages done) and set :attr:`interrupted`."""
        lf = LexicographicFlow(self.problem, cand, seeds)
        plan = stage_plan(self.problem, lf)
        outcomes = []
        for k, (terms, weights) in enumerate(plan):
            if k > 0:  # the first stage always runs: it yields the first placement
                try:
                    self.checkpoint()
                except Interrupted:
                    self.interrupted = True
                    break
            out = lf.solve_stage(terms, weights, fix=k < len(plan) - 1)
            outcomes.append(out)
            if self.problem.rules.min_is_hard and k == 0 and out.term_values["shortfall"] > 0:
                raise FlowInfeasible("hard minimums cannot all be met")
            note = " ".join(f"{term}={value}" for term, value in out.term_values.items())
            self.emit(f"{label}:{'+'.join(terms)}", out.value, None, note)
        return outcomes, lf.assignment(), lf


def _fallback_feasible(problem: Problem, assignment: IntArray) -> IntArray:
    """Make a relaxed placement obey the relatives rule by unplacing one relative of each
    conflicting pair (used only when a solve is interrupted before its repair ends)."""
    out = assignment.copy()
    fixed = np.zeros(problem.num_staff, dtype=bool)
    fixed[problem.pins.staff_idx[np.array(problem.pins.mode) == "fix"]] = True
    for a, b, _ in relative_conflicts(problem, out):
        if out[a] >= 0 and out[b] >= 0:
            out[choose_to_move(problem, out, a, b, fixed)] = -1
    return out


def solve(
    problem: Problem,
    *,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
    reference: IntArray | None = None,
) -> SolveResult:
    """Place everyone: the lexicographic (or weighted) optimum under every hard rule.

    Parameters
    ----------
    problem:
        Validated problem data.
    progress:
        Called after each stage with a :class:`Progress` event.
    stop:
        When set (e.g. on Ctrl-C), the solve returns the best placement found so far,
        marked interrupted (not proven).  The time limit acts the same way.
    reference:
        A base placement (post line per person, -1 unplaced) for a re-plan: enables the
        ``changes`` term, which the objective may then rank or weigh.

    Raises
    ------
    MemoryLimitError
        Before building anything, when the estimated memory exceeds what is available.
    """
    s = _Solver(problem, progress, stop)
    estimate = check_memory(problem)
    s.emit("memory", None, None, f"~{estimate / 2**20:.0f} MB")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cand = build_candidates(problem, reference)
    timings["candidates"] = time.perf_counter() - t
    s.emit("candidates", None, None, f"{len(cand)} pairs")

    t = time.perf_counter()
    try:
        relaxed, assignment, lf = s.lexicographic(cand, "flow")
        relaxed_lf = lf
    except FlowInfeasible as exc:
        timings["flow"] = time.perf_counter() - t
        timings["total"] = s.elapsed()
        return SolveResult(
            "infeasible",
            np.full(problem.num_staff, -1, dtype=np.int64),
            timings=timings,
            peak_memory_mb=_peak_memory_mb(),
            candidate_counts=_counts(cand),
            message=str(exc),
        )
    timings["flow"] = time.perf_counter() - t
    best = relaxed_assignment = assignment
    interrupted = s.interrupted

    # Repair the relatives rule (the side rule outside the network).
    t = time.perf_counter()
    final = relaxed
    fixed = np.zeros(problem.num_staff, dtype=bool)
    fixed[problem.pins.staff_idx[np.array(problem.pins.mode, dtype=object) == "fix"]] = True
    banned: set[tuple[int, int]] = set()
    rounds = 0
    status_infeasible = ""
    exact_proven: bool | None = None  # set when the exact MIP finished the solve
    relaxed_conflicts = conflicts = relative_conflicts(problem, assignment)
    conflicts_seen = bool(conflicts)
    try:
        if interrupted:
            raise Interrupted
        while conflicts:
            rounds += 1
            if rounds > MAX_REPAIR_ROUNDS:
                raise Interrupted
            for a, b, u in conflicts:
                banned.add((choose_to_move(problem, assignment, a, b, fixed, lf.resolve_cost), u))
            s.checkpoint()
            ban_person = np.array([p for p, _ in banned], dtype=np.int64)
            ban_unit = np.array([u for _, u in banned], dtype=np.int64)
            key = cand.person * problem.num_units + cand.unit
            keep = ~np.isin(key, ban_person * problem.num_units + ban_unit)
            try:
                final, assignment, lf = s.lexicographic(
                    cand.subset(keep), f"repair{rounds}", relaxed_lf.seeds_for(keep)
                )
            except FlowInfeasible:
                # The repair's choices closed every way out: solve the whole model
                # exactly (MIP, relatives included) in the time that is left.
                exact = highs_mip(problem, max(1.0, s.deadline - time.perf_counter()), cand)
                s.emit("exact", None, None, exact.status)
                if exact.status == "infeasible":
                    status_infeasible = "infeasible"
                elif exact.status == "no_solution":
                    raise Interrupted from None
                else:
                    assignment, exact_proven = exact.assignment, exact.status == "optimal"
                break
            best = assignment
            if s.interrupted:
                raise Interrupted
            conflicts = relative_conflicts(problem, assignment)
    except Interrupted:
        interrupted = True
        assignment = _fallback_feasible(problem, best)
    timings["repair"] = time.perf_counter() - t
    if status_infeasible:
        timings["total"] = s.elapsed()
        return SolveResult(
            "infeasible",
            np.full(problem.num_staff, -1, dtype=np.int64),
            timings=timings,
            peak_memory_mb=_peak_memory_mb(),
            candidate_counts=_counts(cand),
            message="the relatives rule cannot be met together with the other hard rules",
        )

    if (
        not interrupted
        and exact_proven is None
        and conflicts_seen
        and len(cand) <= EXACT_FINISH_MAX_PAIRS
        and s.deadline - time.perf_counter() > 1.0
    ):
        t = time.perf_counter()
        exact = highs_mip(problem, s.deadline - time.perf_counter(), cand)
        timings["exact"] = time.perf_counter() - t
        s.emit("exact", None, None, exact.status)
        if exact.status == "optimal":
            assignment, exact_proven = exact.assignment, True

    if interrupted and check_placement(problem, assignment):
        # Stopped before the repair ended, and unplacing one relative per conflict would
        # break require_all_placed or a pin: no valid placement to keep.
        timings["total"] = s.elapsed()
        return SolveResult(
            "no_solution",
            np.full(problem.num_staff, -1, dtype=np.int64),
            timings=timings,
            peak_memory_mb=_peak_memory_mb(),
            candidate_counts=_counts(cand),
            interrupted=True,
            message="stopped before the relatives rule could be met",
        )
    t = time.perf_counter()
    assert_valid(problem, assignment)
    values = objective_terms(problem, assignment, reference)
    if not interrupted and exact_proven is None:
        flow_values = {k: v for o in final for k, v in o.term_values.items()}
        for term, v in flow_values.items():
            if values[term] != v:
                raise AssertionError(f"term {term}: flow says {v}, recomputed {values[term]}")
    timings["check"] = time.perf_counter() - t

    def extra_bound(stage: int) -> int:
        return conflict_bound(
            problem,
            relaxed_assignment,
            relaxed_conflicts,
            lambda x, u, below: relaxed_lf.resolve_cost(x, u, stage, below),
        )

    stages, bounds = _stage_results(relaxed, values, interrupted, timings, exact_proven, extra_bound)
    timings["total"] = s.elapsed()
    status: Status = (
        "optimal" if all(st.status == "optimal" for st in stages) and not interrupted else "feasible"
    )
    log.info("solve %s in %.2f s (%d repair rounds)", status, timings["total"], rounds)
    return SolveResult(
        status=status,
        assignment=assignment,
        stages=tuple(stages),
        values=values,
        bounds=bounds,
        unplaced_reasons=unplaced_reasons(problem, cand, assignment),
        timings=timings,
        peak_memory_mb=_peak_memory_mb(),
        candidate_counts=_counts(cand),
        interrupted=interrupted,
        message=status_infeasible,
    )


def _counts(cand: Candidates) -> dict[str, int]:
    return {"pairs": len(cand), **{f"removed_{k}": v for k, v in cand.removed.items()}}


def _stage_results(
    relaxed: list[StageOutcome],
    values: dict[str, int],
    interrupted: bool,
    timings: dict[str, float],
    exact_proven: bool | None = None,
    extra_bound: Callable[[int], int] | None = None,
) -> tuple[list[StageResult], dict[str, int]]:
    """Stage statuses: value of the final placement against the relaxation's bound.

    A stage's bound is valid only while every earlier stage sits at its bound, since a
    lexicographic bound is conditional on the earlier terms.  The first stage whose
    value exceeds the relaxation's gets the relatives-conflict bound added
    (:func:`~optimizer.solve.side.conflict_bound`); later stages have no bound.  When
    the exact MIP finished the solve and proved it optimal, every stage is optimal.
    """
    stages: list[StageResult] = []
    bounds: dict[str, int] = {}
    tight = True  # every earlier stage sits at its bound
    for k, out in enumerate(relaxed):
        value = sum(w * values[t] for t, w in zip(out.terms, out.weights, strict=True))
        bound: int | None = None
        if tight:
            bound = out.value
            if value > bound and extra_bound is not None:
                bound = min(value, bound + extra_bound(k))
            bounds.update(_term_bounds(out, values, bound))
        if exact_proven:
            bound = value
            bounds.update({t: values[t] for t in out.terms})
        proven = bound is not None and value == bound and not interrupted
        stages.append(
            StageResult(
                "+".join(out.terms),
                out.terms,
                "optimal" if proven else "feasible",
                value,
                bound,
                0.0,
            )
        )
        tight = tight and value == bound
    share = timings.get("flow", 0.0) / max(1, len(stages))
    stages = [StageResult(st.name, st.terms, st.status, st.value, st.bound, share) for st in stages]
    return stages, bounds


def _term_bounds(out: StageOutcome, values: dict[str, int], bound: int) -> dict[str, int]:
    """Per-term bounds inside a stage with weighted-stage bound ``bound``.

    Terms that equal their relaxed value keep it as bound; the first term that differs
    gets the bound implied by the stage bound; later terms of the stage get none.
    """
    out_bounds: dict[str, int] = {}
    spent = 0
    for t, w in zip(out.terms, out.weights, strict=True):
        if values[t] == out.term_values[t]:
            out_bounds[t] = values[t]
            spent += w * values[t]
            continue
        out_bounds[t] = max(out.term_values[t], (bound - spent) // w)
        break
    return out_bounds
