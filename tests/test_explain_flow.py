"""``optimizer.explain`` on the solver's flow model: potentials computed once per
explainer, and forcings on a generated province equal to full solves of the forced
problem and accepted by the independent checker."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from generated import solved_province

from optimizer import explain as explain_module
from optimizer.check import check_placement, objective_terms
from optimizer.data import Problem
from optimizer.explain import Explainer, Forcing, with_fix_pin
from optimizer.i18n import set_lang
from optimizer.solve import solve
from optimizer.solve.candidates import build_candidates
from optimizer.solve.engine import stage_plan
from optimizer.solve.flow import FlowModel


@pytest.fixture(autouse=True)
def english() -> None:
    set_lang("en")


def province(name: str) -> tuple[Problem, np.ndarray]:
    """A generated province of 300 people and its proven placement."""
    return solved_province(name, 300)


def with_relatives(problem: Problem) -> set[int]:
    rel = problem.relations
    return {int(i) for i in np.concatenate([rel.a_idx, rel.b_idx])}


def applied(x: np.ndarray, person: int, force: Forcing) -> np.ndarray:
    new = np.array(x)
    for m in force.moves:
        new[m.staff_idx] = m.to_post
    new[person] = force.post_idx
    return new


def test_the_potentials_are_computed_once_per_explainer(monkeypatch: pytest.MonkeyPatch) -> None:
    problem, x = province("city-like")
    calls: list[int] = []
    real = explain_module.potentials

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(explain_module, "potentials", counted)
    ex = Explainer(problem, x)
    placed = np.flatnonzero(x >= 0).tolist()
    while not calls:  # until a forcing searched a path
        ex.explain(placed.pop(0), alternatives=3)
    first = len(calls)
    # one Bellman-Ford per stage of the solver's plan and one for the hops tie-break (and
    # as many again with the relatives' closed arcs open, to certify on small graphs)
    stages = stage_plan(problem, FlowModel(problem, build_candidates(problem)))
    assert len(stages) + 1 <= first <= 2 * (len(stages) + 1)
    forcings = 0
    for person in placed[:5]:
        exp = ex.explain(person, alternatives=3)
        forcings += sum(a.forcing is not None and a.forcing.method == "path" for a in exp.alternatives)
    assert forcings >= 5
    assert len(calls) == first  # none more, however many people are explained


@pytest.mark.parametrize("name", ["pinned-relatives-any", "calibrated-surplus"])
def test_forcings_equal_full_solves_on_a_generated_province(name: str) -> None:
    problem, x = province(name)
    ex = Explainer(problem, x)
    kin = with_relatives(problem)
    placed = [int(i) for i in np.flatnonzero(x >= 0)]
    people = [i for i in placed if i in kin][:3] + [i for i in placed if i not in kin][:3]
    checked = 0
    for person in people:
        for alt in ex.explain(person, alternatives=4).alternatives:
            force = alt.forcing
            if force is None or (force.reason is not None and force.reason.rule == "relatives"):
                continue  # excluded by a pair rule, or by a relative where the run put them
            forced = with_fix_pin(problem, person, alt.unit_idx)
            full = solve(forced)
            assert force.feasible == full.has_placement
            if not force.feasible:
                continue
            checked += 1
            ranked = problem.objective.priorities
            assert {k: force.values[k] for k in ranked} == {k: full.values[k] for k in ranked}
            new = applied(x, person, force)
            assert check_placement(forced, new) == []
            assert objective_terms(problem, new) == force.values
    assert checked >= 6
