"""Multipliers carried from stage to stage (``optimizer/solve/lagrange.py``).

A stage starts from the best multipliers of the one before, rescaled to its own costs:
a relatives row that bound the first stage prices the second one from its first flow.
Any multipliers give a valid bound, so the carry may only change the speed.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import build
from test_solve_rules import chair_and_relative

from optimizer.check import check_placement
from optimizer.solve import lagrange
from optimizer.solve.candidates import build_candidates
from optimizer.solve.flow import FlowModel
from optimizer.solve.lagrange import RelativesRows, StageSearch

PLAN = [(("unplaced", "moves"), (100, 1)), (("commute",), (1,))]


def test_rows_carry_multipliers_rescaled_and_projected() -> None:
    problem = chair_and_relative()
    rows = RelativesRows(FlowModel(problem, build_candidates(problem)))
    for key in ((0, 1, 0), (1, 0, 0), (0, 1, 1)):
        rows._add(key)
    rows.equality[1] = True
    rows.carry(np.array([4, -2], dtype=np.int64), unit=2.0)  # the third row came later
    assert rows.start(6.0).tolist() == [12, -6, 0]
    rows.carry(np.array([-4, -2, 3], dtype=np.int64), unit=1.0)
    assert rows.start(1.0).tolist() == [0, -2, 3]  # an inequality row stays ≥ 0


def _second_stage_first_bound(carry: bool) -> tuple[int, int, int]:
    problem = chair_and_relative()
    model = FlowModel(problem, build_candidates(problem))
    rows = RelativesRows(model)
    first = StageSearch(model, rows, PLAN, 0, lambda: None, lambda *_: None)
    first.run(None)
    assert rows.carried.any()  # the relatives row bound the first stage
    if not carry:
        rows.carried[:] = 0.0
    bounds: list[int] = []
    second = StageSearch(model, rows, PLAN, 1, lambda: None, lambda it, value, bound, c: bounds.append(bound))
    report = second.run(first.incumbent)
    assert second.incumbent is not None
    assert check_placement(problem, model.assignment(second.incumbent.flow)) == []
    assert report.value is not None
    return bounds[0], report.value, report.bound


def test_a_stage_starts_from_the_carried_multipliers() -> None:
    """The first flow of the second stage already prices the relatives row: its bound is
    above the zero-multiplier relaxation's, and both searches prove the same optimum."""
    carried_first, carried_value, carried_bound = _second_stage_first_bound(carry=True)
    zero_first, zero_value, zero_bound = _second_stage_first_bound(carry=False)
    assert carried_first > zero_first
    assert carried_value == carried_bound == zero_value == zero_bound


def test_multipliers_all_0_are_carried_without_the_stages_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage's unit (the median magnitude of its arc costs: passes over millions of arcs
    on the city) only rescales multipliers: stages that start and end with every one at
    0 never read it, and carry zeros."""
    problem = build(
        [0, 10],
        [{"unit": 0, "position": "chair", "leadership": True}, {"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["chair"]}, {"origin": 0, "positions": ["a"]}],  # a commute to pay
        relations=[(0, 1)],  # in two units: the rule never binds
    )
    model = FlowModel(problem, build_candidates(problem))
    rows = RelativesRows(model)

    def no_median(values: np.ndarray) -> float:
        raise AssertionError("the unit was read")

    monkeypatch.setattr(lagrange, "median", no_median)
    incumbent = None
    for stage in range(len(PLAN)):
        search = StageSearch(model, rows, PLAN, stage, lambda: None, lambda *_: None)
        report = search.run(incumbent)
        incumbent = search.incumbent
        assert report.value == report.bound
        assert not rows.carried.any()
    rows._add((0, 1, 0))
    rows.carried[:] = 1.0  # a multiplier carried in is rescaled by the unit
    with pytest.raises(AssertionError, match="unit was read"):
        StageSearch(model, rows, PLAN, 1, lambda: None, lambda *_: None).run(incumbent)
