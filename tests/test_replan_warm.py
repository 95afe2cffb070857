"""Proven re-plans on generated provinces of several shapes: every stage optimal, the same
stage values as a cold solve of the same re-planned problem (no parting step), accepted by
the independent checker with every term recomputed; a stage whose first flow keeps every
rule is proven by it, and the parting step proves stages whose first flow puts a few
relatives together, both without a linear relaxation."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from generated import solved_province

from optimizer.check import check_placement, objective_terms
from optimizer.data import CHANGES, Problem
from optimizer.i18n import set_lang
from optimizer.replan import PARTING_FLOWS, ChangeSet, read_changes, replan
from optimizer.solve import engine, solve
from optimizer.solve.candidates import build_candidates
from optimizer.solve.engine import EngineParams
from optimizer.solve.flow import ENTER_ALL, ENTER_PER_PERSON, FlowModel
from optimizer.solve.lagrange import StageSearch, median


@pytest.fixture(autouse=True)
def english() -> None:
    set_lang("en")


@pytest.fixture
def relaxations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The stage of every linear relaxation the solves of a test run, in order."""
    stages: list[int] = []
    real = engine.relax_stage

    def counted(*args: Any, **kwargs: Any) -> Any:
        stages.append(args[3])  # the stage
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "relax_stage", counted)
    return stages


def province(name: str) -> tuple[Problem, np.ndarray]:
    """A generated province of 400 people and its proven placement."""
    return solved_province(name, 400)


def departures(folder: Path, problem: Problem, x: np.ndarray, count: int, seed: int = 0) -> ChangeSet:
    """``count`` placed people without a fix pin leave (a changes file in ``folder``)."""
    fixed = set(problem.pins.staff_idx[np.array(problem.pins.mode, dtype=object) == "fix"].tolist())
    placed = [int(i) for i in np.flatnonzero(x >= 0) if int(i) not in fixed]
    leavers = np.random.default_rng(seed).choice(placed, size=count, replace=False)
    path = folder / "departures.csv"
    rows = ["action,staff_id,reason", *(f"leave,{problem.staff.ids[i]},test" for i in leavers)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return read_changes(path, problem)


#: Shapes whose re-plans are compared with cold solves: relatives of either scope, pinned
#: leaders' relatives, one post per line, hard minimums, decimal weights, large lines.
SHAPES = [
    "city-like",
    "pinned-relatives-any",
    "pinned-relatives-leadership",
    "single-posts",
    "min-hard",
    "decimal-weights",
    "large-lines",
    "pins-heavy",
]


@pytest.mark.parametrize("name", SHAPES)
def test_a_proven_replan_equals_a_cold_solve_of_the_same_problem(name: str, tmp_path: Path) -> None:
    problem, x = province(name)
    plan = replan(problem, x, departures(tmp_path, problem, x, 12), prove=True)
    assert plan.result.status == "optimal"
    assert all(st.status == "optimal" and st.bound == st.value for st in plan.result.stages)
    assert check_placement(plan.problem, plan.result.assignment) == []
    assert objective_terms(plan.problem, plan.result.assignment, plan.reference) == plan.result.values
    cold = solve(plan.problem, reference=plan.reference, prove=True, params=EngineParams(parting=0))
    assert cold.status == "optimal"
    assert check_placement(plan.problem, cold.assignment) == []
    assert [st.value for st in plan.result.stages] == [st.value for st in cold.stages]
    assert plan.result.values[CHANGES] >= 0 and len(plan.changes) >= 12


# (on min-hard the base placement kept, the first incumbent, proves what the cold
# solve's relaxation proved before: no relaxation on either side any more)
@pytest.mark.parametrize("name", ["single-posts", "large-lines", "pinned-relatives-any"])
def test_the_parting_step_proves_a_stage_the_cold_solve_needs_a_relaxation_for(
    name: str, tmp_path: Path, relaxations: list[int]
) -> None:
    problem, x = province(name)
    plan = replan(problem, x, departures(tmp_path, problem, x, 12), prove=True)
    warm = list(relaxations)
    relaxations.clear()
    cold = solve(plan.problem, reference=plan.reference, prove=True, params=EngineParams(parting=0))
    # the cold solve's first flow of some stage puts relatives together: it proves that
    # stage by its relaxation; the re-plan's parting flows prove it without one
    assert relaxations and len(warm) < len(relaxations)
    assert plan.result.status == cold.status == "optimal"
    assert [st.value for st in plan.result.stages] == [st.value for st in cold.stages]
    assert check_placement(plan.problem, plan.result.assignment) == []
    assert objective_terms(plan.problem, plan.result.assignment, plan.reference) == plan.result.values


def test_a_pricing_round_with_few_entering_arcs_brings_them_all_in() -> None:
    problem, _ = province("city-like")
    model = FlowModel(problem, build_candidates(problem))
    person = int(np.bincount(model.cand.person).argmax())
    arcs = model.person_arcs(person)[: ENTER_PER_PERSON + 5]
    assert len(arcs) > ENTER_PER_PERSON  # one person, more arcs than the per-person cap
    rc = -np.arange(1, len(arcs) + 1, dtype=np.int64)
    assert sorted(model._most_negative(arcs, rc).tolist()) == sorted(arcs.tolist())
    # a flood (more than ENTER_ALL arcs) keeps the cap per person
    many = np.resize(arcs, ENTER_ALL + 1)
    taken = model._most_negative(many, -np.ones(len(many), dtype=np.int64))
    assert len(taken) == ENTER_PER_PERSON
    # a re-plan's solves take more per person (EngineParams.enter_per_person)
    model.enter_per_person = 3
    assert len(model._most_negative(many, -np.ones(len(many), dtype=np.int64))) == 3


def test_a_stage_with_few_free_arcs_starts_from_all_of_them() -> None:
    problem, _ = province("city-like")
    model = FlowModel(problem, build_candidates(problem))
    pairs = len(model.cand)
    keys = [model.cost_of("commute")]
    cheapest = model.cheapest(keys, 2)
    assert cheapest[:pairs].sum() <= 2 * problem.num_staff and cheapest[pairs:].all()
    # a later stage: most pair arcs fixed, about one free per person
    model.free[:pairs] = np.random.default_rng(0).random(pairs) < problem.num_staff / pairs
    free = int(model.free[:pairs].sum())
    model.all_free_per_person = 2
    assert free <= 2 * problem.num_staff
    everything = model.cheapest(keys, 2)
    assert np.array_equal(everything[:pairs], model.free[:pairs]) and everything[pairs:].all()
    # more free than that: each person's cheapest, as before
    model.all_free_per_person = 0
    assert np.array_equal(model.cheapest(keys, 2), cheapest)


def test_a_stage_whose_first_flow_keeps_every_rule_needs_no_relaxation(
    tmp_path: Path, relaxations: list[int]
) -> None:
    base, x = province("city-like")
    problem = dataclasses.replace(base, rules=dataclasses.replace(base.rules, relatives_scope="off"))
    plan = replan(problem, x, departures(tmp_path, problem, x, 12), prove=True)
    # no relatives rule: every flow is a placement at its own bound, which proves its stage
    assert plan.result.status == "optimal" and len(plan.result.stages) >= 3
    assert relaxations == []
    cold = solve(plan.problem, reference=plan.reference, prove=True)
    assert [st.value for st in plan.result.stages] == [st.value for st in cold.stages]
    assert check_placement(plan.problem, plan.result.assignment) == []


def test_the_way_out_of_a_unit_is_priced_whole_as_a_ban_from_it_costs() -> None:
    problem, _ = province("city-like")
    model = FlowModel(problem, build_candidates(problem))
    # as few unplaced as can be, then the least commute
    cost = model.stage_cost(("unplaced", "commute"), (model.term_range("commute") + 1, 1))
    everything = np.ones(model.num_arcs, dtype=bool)
    sol = model.solve(cost, everything)
    x = model.assignment(sol.flow)
    placed = np.flatnonzero(x >= 0)
    people = np.random.default_rng(0).choice(placed, size=25, replace=False)
    leavers = [(int(p), int(problem.posts.unit_idx[x[p]])) for p in people]
    priced = model.way_out_costs(sol, leavers)
    beyond_first_arc = 0
    for (person, unit), way in zip(leavers, priced, strict=True):
        banned = np.zeros(model.num_arcs, dtype=bool)
        banned[model.unit_arcs(person, unit)] = True
        if not (model.free & ~banned & np.isin(np.arange(model.num_arcs), model.person_arcs(person))).any():
            continue
        # the optimum without the person in that unit is exactly the way out's price
        assert model.solve(cost, everything, banned=banned).value - sol.value == way
        first = model.leave_cost(sol, person, unit)
        assert first <= way
        beyond_first_arc += first < way
    # the first arc alone understates some ways out (the people who make room pay too)
    assert beyond_first_arc > 0


@pytest.mark.parametrize("size", [1, 2, 7, 1000, 20_001])
@pytest.mark.parametrize("top", [1, 5, 300, 10**9])
def test_a_stages_unit_is_the_median_of_its_arc_costs_counted_or_selected(size: int, top: int) -> None:
    # a re-plan's changes+moves stage: millions of arc costs of a few values, counted
    values = np.random.default_rng(size + top).integers(1, top + 1, size=size)
    assert median(values) == float(np.median(values))


def test_a_replan_starts_from_the_base_placement_kept_when_it_keeps_every_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem, x = province("city-like")
    floors: list[str] = []
    kept, greedy = engine.kept_incumbent, engine.floor_incumbent

    def counted_kept(model: FlowModel, reference: np.ndarray) -> Any:
        found = kept(model, reference)
        floors.append("kept" if found is not None else "refused")
        return found

    def counted_greedy(*args: Any) -> Any:
        floors.append("greedy")
        return greedy(*args)

    monkeypatch.setattr(engine, "kept_incumbent", counted_kept)
    monkeypatch.setattr(engine, "floor_incumbent", counted_greedy)
    plan = replan(problem, x, departures(tmp_path, problem, x, 12), prove=True)
    # the base placement less the departures keeps every rule: no greedy floor
    assert floors == ["kept"]
    assert check_placement(plan.problem, plan.reference) == []
    assert plan.result.status == "optimal"
    assert check_placement(plan.problem, plan.result.assignment) == []
    # one more person on a full post line: refused, the greedy floor as in a plain run
    model = FlowModel(plan.problem, build_candidates(plan.problem, plan.reference))
    filled = np.bincount(plan.reference[plan.reference >= 0], minlength=plan.problem.num_posts)
    full = int(np.flatnonzero(filled == plan.problem.posts.max)[0])
    crowded = plan.reference.copy()
    crowded[int(np.flatnonzero((crowded >= 0) & (crowded != full))[0])] = full
    assert check_placement(plan.problem, crowded) != []
    assert kept(model, crowded) is None


def test_each_stage_of_a_replan_starts_from_the_arcs_the_stage_before_priced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem, x = province("pinned-relatives-any")
    searches: list[tuple[StageSearch, list[np.ndarray]]] = []

    real = FlowModel.solve

    class Recorded(StageSearch):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            searches.append((self, []))

    def recorded(model: FlowModel, cost: Any, active: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        searches[-1][1].append(active.copy())  # the arcs each flow solve starts from
        return real(model, cost, active, *args, **kwargs)

    monkeypatch.setattr(engine, "StageSearch", Recorded)
    monkeypatch.setattr(FlowModel, "solve", recorded)
    plan = replan(problem, x, departures(tmp_path, problem, x, 12), prove=True)
    assert plan.result.status == "optimal" and len(searches) >= 3
    assert searches[0][0].start is None
    for (before, _), (search, starts) in itertools.pairwise(searches):
        # the first flow starts from every arc the stage before priced in
        assert before.priced.any() and search.start is before.priced
        assert starts[0][before.priced].all()
    monkeypatch.undo()
    # pricing rounds only: the same stage values as a solve whose stages start afresh
    afresh = EngineParams(parting=PARTING_FLOWS)
    fresh = solve(plan.problem, reference=plan.reference, prove=True, params=afresh)
    assert [st.value for st in plan.result.stages] == [st.value for st in fresh.stages]
    assert check_placement(plan.problem, plan.result.assignment) == []
    assert objective_terms(plan.problem, plan.result.assignment, plan.reference) == plan.result.values
