"""The repair of the relatives rule (``StageSearch._repair`` and ``_guards``).

A repair bans one relative of each conflict from the shared unit and solves again; the
guards keep every relative out of the posts that would break the rule next to where
the other one is now, so that a solve does not trade the conflicts it repairs for new
ones.  When the guards leave no flow, the round is solved without them.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import build

from optimizer.check import check_placement
from optimizer.data import Problem
from optimizer.solve import lagrange
from optimizer.solve.candidates import build_candidates
from optimizer.solve.engine import stage_plan
from optimizer.solve.flow import FlowModel
from optimizer.solve.lagrange import RelativesRows, StageSearch
from optimizer.solve.relatives import relative_conflicts

CHAIR = {"position": "chair", "leadership": True}


def three_relatives(scope: str = "leadership") -> Problem:
    """A chair pinned in unit 0 (person 0) and their relative (1) in post a of unit 0;
    person 1's only other post is a of unit 1, whose chair (2) is person 1's relative
    too, and may also chair unit 2 (or hold post a).  Everyone must be placed."""
    return build(
        [0, 10, 20],
        [
            {"unit": 0, **CHAIR},
            {"unit": 0, "position": "a"},
            {"unit": 1, "position": "a"},
            {"unit": 1, **CHAIR},
            {"unit": 2, **CHAIR},
        ],
        [
            {"origin": 0, "positions": ["chair"]},
            {"origin": 0, "positions": ["a"]},
            {"origin": 1, "positions": ["chair", "a"]},
        ],
        relations=[(0, 1), (1, 2)],
        pins=[(0, 0, None, "fix")],
        rules={"require_all_placed": True, "relatives_scope": scope},
    )


def _search(problem: Problem) -> tuple[FlowModel, StageSearch]:
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    return model, StageSearch(model, RelativesRows(model), plan, 0, lambda: None, lambda *_: None)


def test_guards_keep_each_relative_out_of_the_others_unit_as_the_scope_says() -> None:
    """Person 1 holds post a of unit 1 and its relative, person 2, chairs unit 2: person 2
    may not lead in unit 1 (scope leadership) or enter it at all (scope any), and
    person 1 may enter neither unit 2 nor unit 0, where its relatives lead.  Person 0
    is pinned: never guarded."""
    for scope in ("leadership", "any"):
        problem = three_relatives(scope)
        model, search = _search(problem)
        guards = search._guards(np.array([0, 2, 4]))  # 0: chair u0, 1: a u1, 2: chair u2
        expected = np.zeros(model.num_arcs, dtype=bool)
        expected[model.unit_arcs(2, 1, leadership_only=scope == "leadership")] = True
        expected[model.unit_arcs(1, 2)] = True
        expected[model.unit_arcs(1, 0)] = True
        assert np.array_equal(guards, expected), scope
        into_unit_1 = model.unit_arcs(2, 1)
        assert guards[into_unit_1].sum() == (1 if scope == "leadership" else 2)  # chair, and a


def test_a_repair_whose_guards_leave_no_flow_still_places_everyone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Person 1 must leave unit 0 (its relative is pinned there as chair), and its only
    way out is unit 1, where its other relative leads: the guards (here from the first
    round) forbid that, so the round is solved without them, and the next round moves
    person 2 to unit 2."""
    monkeypatch.setattr(lagrange, "UNGUARDED_ROUNDS", 0)
    guarded: list[int] = []
    guards = StageSearch._guards

    def counted(self: StageSearch, assignment: np.ndarray) -> np.ndarray:
        out = guards(self, assignment)
        guarded.append(int(out.sum()))
        return out

    monkeypatch.setattr(StageSearch, "_guards", counted)
    problem = three_relatives()
    model, search = _search(problem)
    relaxed = model.solve(search.cost, np.ones(model.num_arcs, dtype=bool))
    assert relative_conflicts(problem, model.assignment(relaxed.flow))  # 0 and 1 in unit 0
    repaired = search._repair(relaxed, np.zeros(0, dtype=np.int64))
    assert repaired is not None
    assignment = model.assignment(repaired)
    assert assignment.tolist() == [0, 2, 4]
    assert check_placement(problem, assignment) == []
    assert guarded and guarded[0] > 0  # the first round ran with guards


def test_the_priced_cost_adds_each_rows_multiplier_to_its_arcs() -> None:
    """At zero multipliers a flow is solved at the stage cost itself (no copy); a row's
    multiplier adds to every arc of that row, once per row holding it."""
    problem = three_relatives("any")
    _, search = _search(problem)
    rows = search.rows
    assert search.priced_cost(np.zeros(0, dtype=np.int64)) is search.cost
    rows.violated(np.array([0, 1, 4]))  # persons 0 and 1 in unit 0: a row met
    assert len(rows)
    assert search.priced_cost(np.zeros(len(rows), dtype=np.int64)) is search.cost
    lam = np.arange(1, len(rows) + 1, dtype=np.int64)
    expected = search.cost.copy()
    for arcs, value in zip(rows.arcs, lam, strict=True):
        np.add.at(expected, arcs, value)
    assert np.array_equal(search.priced_cost(lam), expected)
