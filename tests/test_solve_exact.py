"""The exact finish (``optimizer/solve/exact.py``) against the whole-model MIP.

After a stage's multiplier search has fixed what its reduced costs prove, the MIP over
the open part must find the stage's true optimum: the same first-priority value as
HiGHS on the whole model, never below the multipliers' bound.  It starts from the best
placement, and a stop interrupts it without losing that placement.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
from builders import build
from hypothesis import HealthCheck, given, settings
from test_solve_properties import instances
from test_solve_rules import chair_and_relative, relaxed

from optimizer.check import check_placement, objective_terms
from optimizer.data import Objective, Problem
from optimizer.solve import engine
from optimizer.solve.baselines import highs_mip
from optimizer.solve.candidates import build_candidates
from optimizer.solve.engine import stage_plan
from optimizer.solve.exact import Finish, Stage, finish_stage, relax_stage
from optimizer.solve.flow import FlowInfeasible, FlowModel
from optimizer.solve.lagrange import RelativesRows, StageSearch, stage_value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_open_part_mip_finds_the_first_stage_optimum(problem: Problem) -> None:
    if problem.objective.weights is not None:
        return
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    search = StageSearch(model, RelativesRows(model), plan, 0, lambda: None, lambda *_: None)
    try:
        report = search.run(None)
    except FlowInfeasible:
        return
    if search.incumbent is None:
        return
    finish = finish_stage(model, search.rows, plan, 0, search.incumbent.flow, 30.0)
    exact = highs_mip(problem, time_limit_s=30)
    if exact.status == "infeasible":
        # Only hard minimums make the whole model infeasible while the first stage
        # (shortfall alone) still has placements: they all leave some shortfall.
        assert problem.rules.min_is_hard and report.bound > 0
        return
    assert exact.status == "optimal"
    terms, weights = plan[0]
    optimum = stage_value(objective_terms(problem, exact.assignment), terms, weights)
    assert report.bound <= optimum <= report.value
    assert finish.status == "optimal", finish
    assert finish.flow is not None
    found = model.term_values(finish.flow, terms)
    assert stage_value(found, terms, weights) == optimum
    assert finish.bound == optimum


def _one_iteration(problem: Problem) -> tuple[FlowModel, RelativesRows, list[Stage], StageSearch]:
    """The first stage searched by one flow and its repair only: left with a gap."""
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    search = StageSearch(
        model, RelativesRows(model), plan, 0, lambda: None, lambda *_: None, max_iterations=1
    )
    search.run(None)
    return model, search.rows, plan, search


def test_the_finish_starts_from_the_best_placement_and_a_stop_keeps_it() -> None:
    """Stopped at once, HiGHS returns the start it was given (the repaired placement) and
    proves nothing; left to run, it proves the one-move optimum (here the start itself,
    which the one flow left unproven)."""
    problem = chair_and_relative()
    model, rows, plan, search = _one_iteration(problem)
    assert search.incumbent is not None
    start = search.incumbent.flow
    terms, weights = plan[0]
    start_value = stage_value(model.term_values(start, terms), terms, weights)
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return True

    stopped = finish_stage(model, rows, plan, 0, start, 30.0, stop=stop)
    assert asked  # HiGHS polled the stop
    assert stopped.status == "feasible"
    assert stopped.flow is not None and np.array_equal(stopped.flow, start)
    assert not stopped.bound >= start_value  # no proof from an interrupted finish
    done = finish_stage(model, rows, plan, 0, start, 30.0)
    assert done.status == "optimal" and done.flow is not None
    optimum = stage_value(model.term_values(done.flow, terms), terms, weights)
    assert search.bound is not None and search.bound < start_value
    assert optimum <= start_value and done.bound == optimum
    assert model.term_values(done.flow, terms)["moves"] == 1
    assert check_placement(problem, model.assignment(done.flow)) == []


def test_a_stop_during_the_finish_keeps_a_valid_placement_not_proven(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while HiGHS finishes a stage: the solve returns at once with a placement that
    obeys every rule, marked interrupted, with the stage's bound still below its value."""
    params = engine.EngineParams(max_iterations=1, relaxation=False)  # leave the stage with a gap
    problem = chair_and_relative()
    stop = threading.Event()

    def progress(event: engine.Progress) -> None:
        if event.note == "open_part":  # just before the exact finish
            stop.set()

    result = engine.solve(problem, progress=progress, stop=stop, params=params)
    assert result.interrupted and not result.proven and result.status == "feasible"
    assert "exact" in result.timings
    assert check_placement(problem, result.assignment) == []
    first = result.stages[0]
    assert first.bound is not None and first.value is not None and first.bound < first.value
    proven = engine.solve(problem)  # the same search left to finish is proven by the MIP
    assert proven.proven and "exact" in proven.timings
    assert proven.values["moves"] == 1


def test_highs_runs_with_any_thread_count_in_one_process() -> None:
    """HiGHS sizes one thread pool per process: runs asking 1, 2, then 1 threads all solve
    (without the pool rebuilt, the second run silently did nothing)."""
    problem = chair_and_relative()
    for threads in (1, 2, 1):
        exact = highs_mip(problem, 30.0, threads=threads)
        assert exact.status == "optimal"
        assert objective_terms(problem, exact.assignment)["moves"] == 1


class _Misreporting:
    """A HiGHS instance whose info reports the objective 5 above the solution's."""

    def __init__(self, highs: object) -> None:
        self._highs = highs

    def __getattr__(self, name: str) -> object:
        return getattr(self._highs, name)

    def getInfo(self) -> object:  # HiGHS's own name
        info = self._highs.getInfo()  # type: ignore[attr-defined]
        info.objective_function_value += 5
        return info


def test_a_misreported_objective_proves_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When HiGHS's objective differs from the one recomputed from its flow (as HiGHS
    1.16 did with presolve and a start), the finish keeps the flow but gives no bound,
    and the solve does not call the stage proven."""
    import optimizer.solve.exact as exact

    real = exact.new_highs
    monkeypatch.setattr(exact, "new_highs", lambda *a, **k: _Misreporting(real(*a, **k)))
    problem = chair_and_relative()
    model, rows, plan, search = _one_iteration(problem)
    assert search.incumbent is not None
    finish = finish_stage(model, rows, plan, 0, search.incumbent.flow, 30.0)
    assert finish.status == "feasible" and finish.flow is not None
    assert finish.bound == -np.inf
    assert "its bound is not used" in caplog.text
    assert check_placement(problem, model.assignment(finish.flow)) == []

    # leave the stage to the finish, and no whole-model MIP
    params = engine.EngineParams(max_iterations=1, relaxation=False, highs_bytes_per_pair=2**62)
    result = engine.solve(problem, params=params)
    assert "exact" in result.timings
    assert not result.proven
    first = result.stages[0]
    assert first.bound is not None and first.value is not None and first.bound < first.value
    assert check_placement(problem, result.assignment) == []


def triangle_of_relatives() -> Problem:
    """Three relatives of one another from unit 0, whose post has two seats, and one free
    seat in each of units 1–3 (scope ``any``): only one may stay, two moves.  The linear
    relaxation keeps half of each at home (one and a half moves)."""
    problem = build(
        [0, 10, 20, 30],
        [
            {"unit": 0, "position": "a", "max": 2},
            {"unit": 1, "position": "a"},
            {"unit": 2, "position": "a"},
            {"unit": 3, "position": "a"},
        ],
        [{"origin": 0, "positions": ["a"]}] * 3,
        relations=[(0, 1), (1, 2), (0, 2)],
    )
    return relaxed(problem, relatives_scope="any")


def _finish_of_moves_stage(problem: Problem) -> tuple[FlowModel, Finish, int]:
    """Earlier stages searched in full, the moves stage by one flow, then its finish;
    with the stage's value in the finish's placement."""
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    rows = RelativesRows(model)
    incumbent = None
    k = next(i for i, (terms, _) in enumerate(plan) if "moves" in terms)
    for i in range(k + 1):
        search = StageSearch(
            model, rows, plan, i, lambda: None, lambda *_: None, max_iterations=1 if i == k else 40
        )
        search.run(incumbent)
        incumbent = search.incumbent
    assert incumbent is not None
    finish = finish_stage(model, rows, plan, k, incumbent.flow, 30.0)
    assert finish.flow is not None
    return model, finish, stage_value(model.term_values(finish.flow, plan[k][0]), *plan[k])


def test_a_fractional_relaxation_goes_on_to_the_mip() -> None:
    problem = triangle_of_relatives()
    model, finish, value = _finish_of_moves_stage(problem)
    assert finish.status == "optimal"
    assert model.term_values(finish.flow, ("moves",))["moves"] == 2  # type: ignore[arg-type]
    assert finish.bound == value
    assert finish.lp_bound < value  # the relaxation was fractional: the MIP proved it
    assert check_placement(problem, model.assignment(finish.flow)) == []  # type: ignore[arg-type]


def test_an_integral_relaxation_proves_the_stage_and_fixes_arcs() -> None:
    """The chair's relative: the relaxation of the open part is integral, so it alone
    proves the one-move optimum, and its reduced costs fix the arcs no optimum uses."""
    problem = chair_and_relative()
    model, finish, value = _finish_of_moves_stage(problem)
    assert finish.status == "optimal" and finish.lp_bound == finish.bound == value
    assert finish.reduced is not None and finish.flow is not None
    free_before = int(model.free.sum())
    model.fix_relaxed(finish.reduced, finish.flow, value - finish.lp_bound)
    assert int(model.free.sum()) < free_before
    # every optimum of the stage survives: the flow found keeps all its arcs
    assert (model.free | (finish.flow == model.fixed_flow)).all()


@pytest.mark.parametrize("used", [True, False])
def test_reduced_costs_that_disagree_with_the_placement_fix_nothing(
    used: bool, caplog: pytest.LogCaptureFixture
) -> None:
    problem = chair_and_relative()
    model, finish, _ = _finish_of_moves_stage(problem)
    assert finish.reduced is not None and finish.flow is not None
    wrong = finish.reduced.copy()
    # "no placement as good uses this arc", but the best one does; or "every placement as
    # good fills it", but the best one leaves it empty
    arc = np.flatnonzero(model.free & ((finish.flow > 0) == used))[0]
    wrong[arc] = 1e9 if used else -1e9
    free_before = model.free.copy()
    model.fix_relaxed(wrong, finish.flow, 0.0)
    assert np.array_equal(model.free, free_before)
    assert "no arc fixed" in caplog.text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_the_relaxation_prices_every_free_arc_and_bounds_the_stage(problem: Problem) -> None:
    """The stage's relaxation, started from the best placement's arcs alone, reaches the
    same bound as one given every arc; that bound is below the first stage's optimum
    (HiGHS on the whole model), and an integral relaxation is a valid placement at it."""
    if problem.objective.weights is not None or problem.rules.min_is_hard:
        return
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    rows = RelativesRows(model)
    search = StageSearch(model, rows, plan, 0, lambda: None, lambda *_: None, max_iterations=1)
    try:
        search.run(None)
    except FlowInfeasible:
        return
    if search.incumbent is None:
        return
    start, first = search.incumbent.flow, search.relaxed
    assert first is not None
    none = replace(first, active=np.zeros(model.num_arcs, dtype=bool))
    every = replace(first, active=np.ones(model.num_arcs, dtype=bool))
    no_multipliers = np.zeros(model.num_arcs, dtype=np.int64)
    priced = relax_stage(model, rows, plan, 0, start, none, no_multipliers, 30.0)
    whole = relax_stage(model, rows, plan, 0, start, every, no_multipliers, 30.0)
    assert priced is not None and whole is not None
    assert priced.bound == pytest.approx(whole.bound, abs=1e-6)
    exact = highs_mip(problem, time_limit_s=30)
    assert exact.status == "optimal"
    terms, weights = plan[0]
    optimum = stage_value(objective_terms(problem, exact.assignment), terms, weights)
    assert priced.bound <= optimum + 1e-6
    if priced.flow is not None:
        assert priced.solution is None  # integral: the flow is the solution
        assert check_placement(problem, model.assignment(priced.flow)) == []
        assert stage_value(model.term_values(priced.flow, terms), terms, weights) == pytest.approx(
            priced.bound
        )


def test_a_fractional_relaxation_leaves_the_proof_to_the_finish() -> None:
    """The triangle of relatives: the relaxation gives no placement and a bound below
    the optimum; the solve still proves two moves (the exact finish's MIP)."""
    problem = triangle_of_relatives()
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    rows = RelativesRows(model)
    incumbent = None
    k = next(i for i, (terms, _) in enumerate(plan) if "moves" in terms)
    for i in range(k):
        search = StageSearch(model, rows, plan, i, lambda: None, lambda *_: None)
        search.run(incumbent)
        incumbent = search.incumbent
    search = StageSearch(model, rows, plan, k, lambda: None, lambda *_: None, max_iterations=1)
    multipliers = rows.arc_costs(rows.start(search.unit))  # those of the stage's first flow
    search.run(incumbent)
    assert search.incumbent is not None and search.relaxed is not None
    everything = replace(search.relaxed, active=np.ones(model.num_arcs, dtype=bool))
    relaxation = relax_stage(model, rows, plan, k, search.incumbent.flow, everything, multipliers, 30.0)
    assert relaxation is not None and relaxation.flow is None
    # its fractional solution over every arc (the support finish starts from it)
    assert relaxation.solution is not None and len(relaxation.solution) == model.num_arcs
    assert np.any(np.abs(relaxation.solution - np.rint(relaxation.solution)) > 1e-6)
    optimum = stage_value(model.term_values(search.incumbent.flow, plan[k][0]), *plan[k])
    assert relaxation.bound < optimum
    result = engine.solve(problem)
    assert result.proven and result.values["moves"] == 2
    assert check_placement(problem, result.assignment) == []


def test_the_finish_of_a_stage_of_few_costs_solves_its_relaxation_by_interior_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The finish's linear relaxation starts cold: on a stage of few arc costs (moves:
    one per move) dual simplex stalls on the degenerate program (45,149 iterations and
    22.6 s of CPU on the 16,000-person ``min-hard`` province's preference stage), so it
    goes to the interior point method, as the stage relaxation does when cold; the MIP
    after it is solved as before, to the same proven optimum."""
    from optimizer.solve import exact, highs

    solvers: list[tuple[str, int]] = []
    run = exact.run_highs

    def spied(h, threads):  # type: ignore[no-untyped-def]
        run(h, threads)
        solvers.append((h.getOptionValue("solver")[1], int(h.getInfo().ipm_iteration_count)))

    monkeypatch.setattr(exact, "run_highs", spied)
    monkeypatch.setattr(highs, "run_highs", spied)  # the MIP's (optimizer.solve.killable)
    triangle = triangle_of_relatives()  # moves alone after shortfall and unplaced
    problem = replace(triangle, objective=Objective(priorities=("shortfall", "unplaced", "moves")))
    model, finish, value = _finish_of_moves_stage(problem)
    assert solvers[-2][0] == "ipm" and solvers[-2][1] > 0  # the finish's relaxation
    assert solvers[-1][0] == "choose"  # its MIP, in a new HiGHS instance
    assert finish.status == "optimal" and finish.bound == value
    assert model.term_values(finish.flow, ("moves",))["moves"] == 2  # type: ignore[arg-type]
