"""The exact finish (``optimizer/solve/exact.py``) against the whole-model MIP.

After a stage's multiplier search has fixed what its reduced costs prove, the MIP over
the open part must find the stage's true optimum: the same first-priority value as
HiGHS on the whole model, never below the multipliers' bound.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from test_solve_properties import instances

from optimizer.check import objective_terms
from optimizer.data import Problem
from optimizer.solve.baselines import highs_mip
from optimizer.solve.candidates import build_candidates
from optimizer.solve.engine import stage_plan
from optimizer.solve.exact import finish_stage
from optimizer.solve.flow import FlowInfeasible, FlowModel
from optimizer.solve.lagrange import Rows, StageSearch, stage_value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_open_part_mip_finds_the_first_stage_optimum(problem: Problem) -> None:
    if problem.objective.weights is not None:
        return
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    search = StageSearch(model, Rows(model), plan, 0, lambda: None, lambda *_: None)
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
