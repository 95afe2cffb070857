"""One stage planner: the engine, the HiGHS and CP-SAT baselines minimise the stages of
:func:`optimizer.solve.stages.objective_stages`, in its order (the engine only groups
consecutive ones)."""

from __future__ import annotations

import dataclasses

from builders import build
from hypothesis import HealthCheck, given, settings
from test_solve_properties import instances

from optimizer.data import Objective, Problem
from optimizer.solve.baselines import highs_mip, naive_cpsat
from optimizer.solve.candidates import build_candidates
from optimizer.solve.engine import stage_plan
from optimizer.solve.flow import FlowModel
from optimizer.solve.stages import objective_stages


def flat(stages: list[tuple[tuple[str, ...], tuple[int, ...]]]) -> list[str]:
    return [term for terms, _ in stages for term in terms]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_the_engine_and_the_baselines_follow_the_objective_stages(problem: Problem) -> None:
    asked = objective_stages(problem)
    engine = stage_plan(problem, FlowModel(problem, build_candidates(problem)))
    assert flat(engine) == flat(asked)
    if problem.objective.weights is not None:
        assert engine == asked  # one weighted stage, as asked
    for baseline in (highs_mip(problem, 10.0), naive_cpsat(problem, 10.0, workers=1)):
        if baseline.status == "optimal":  # every stage solved, each reported under its terms
            assert list(baseline.bounds) == list(dict.fromkeys("+".join(terms) for terms, _ in asked))


def test_objective_stages_put_hard_minimums_first_and_keep_weights() -> None:
    lex = build(
        [0.0],
        [{"unit": 0, "position": "office_admin"}],
        [{"origin": 0, "positions": ("office_admin",)}],
        objective=Objective(priorities=("unplaced", "moves")),
    )
    hard = build(
        [0.0],
        [{"unit": 0, "position": "office_admin"}],
        [{"origin": 0, "positions": ("office_admin",)}],
        rules={"min_is_hard": True},
        objective=Objective(priorities=("unplaced", "moves")),
    )
    assert objective_stages(lex) == [(("unplaced",), (1,)), (("moves",), (1,))]
    assert objective_stages(hard) == [(("shortfall",), (1,)), (("unplaced",), (1,)), (("moves",), (1,))]
    weighted = dataclasses.replace(
        lex, objective=Objective(weights=(("moves", 3), ("unplaced", 7), ("commute", 0)))
    )
    assert objective_stages(weighted) == [(("unplaced", "moves"), (7, 3))]
