"""The solver on the shipped tiny scenario reaches the optimum worked out by hand in
``scenarios/tiny/README.md`` (terms and placement), proven optimal."""

from __future__ import annotations

from pathlib import Path

from test_tiny_scenario import readme_optimum

from optimizer.check import check_placement, objective_terms
from optimizer.io import load_problem, load_scenario
from optimizer.solve import solve

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny" / "scenario.toml"


def test_solver_reaches_the_hand_derived_optimum() -> None:
    problem, _ = load_problem(load_scenario(TINY))
    result = solve(problem)
    terms, placement = readme_optimum()
    assert result.status == "optimal"
    assert result.proven
    assert check_placement(problem, result.assignment) == []
    assert objective_terms(problem, result.assignment) == result.values
    assert result.values == terms
    posts = problem.posts
    got = {
        problem.staff.ids[i]: ("—", "—")
        if p < 0
        else (problem.units.ids[posts.unit_idx[p]], posts.position[p])
        for i, p in enumerate(result.assignment)
    }
    assert got == placement
