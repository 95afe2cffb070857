"""The solver's guarantees on any input (README, "Guarantees of the solver").

A repair never bans a pinned arc, and the conflicts it cannot clear go to the exact
finish of their neighbourhood; greedy is the floor incumbent; decimal weights are
scaled exactly; the printed gap never reads 0 when value and bound differ; workers are
capped at the cores; the whole-model MIP runs where the memory estimate says it fits.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from builders import build

from optimizer.check import check_placement
from optimizer.data import Problem
from optimizer.errors import InputError
from optimizer.io.scenario import load_scenario, scaled_weights, user_weights
from optimizer.labels import gap_percent, number
from optimizer.solve import engine
from optimizer.solve.baselines import greedy, highs_mip, valid_greedy
from optimizer.solve.candidates import build_candidates
from optimizer.solve.exact import finish_neighbourhood
from optimizer.solve.flow import FlowModel
from optimizer.solve.lagrange import RelativesRows, StageSearch
from optimizer.solve.relatives import relative_conflicts

CHAIR = {"position": "chair", "leadership": True, "min": 1}


def pinned_pair() -> Problem:
    """Two relatives both fix-pinned (unit only) to unit 0, which has a chair line (min 1)
    and two posts a; either may chair.  Scope leadership: the only valid placements keep
    both on posts a and leave the chair short."""
    return build(
        [0, 10],
        [{"unit": 0, **CHAIR}, {"unit": 0, "position": "a", "max": 2}, {"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["chair", "a"]}, {"origin": 0, "positions": ["chair", "a"]}],
        relations=[(0, 1)],
        pins=[(0, 0, None, "fix"), (1, 0, None, "fix")],
        rules={"relatives_scope": "leadership"},
    )


def test_a_placement_the_checker_refuses_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The independent checker judges the final placement (once): one that breaks a hard
    rule (here both relatives on the chair line, past its maximum of one) ends the solve
    without a placement and says why, instead of being returned."""
    problem = pinned_pair()
    both_chair = np.zeros(problem.num_staff, dtype=np.int64)
    assert check_placement(problem, both_chair)
    monkeypatch.setattr(engine, "_whole_model", lambda run: (both_chair, False))
    result = engine.solve(problem)
    assert result.status == "no_solution" and not result.has_placement
    assert result.failure is not None and result.failure.code == "solve_stopped_relatives"
    assert result.assignment.tolist() == [-1, -1]


def test_a_repair_never_bans_a_pinned_arc() -> None:
    """The relaxed flow puts one pinned relative in the chair: banning either from unit 0
    (what the repair used to do) leaves no flow, so no placement came until the
    multipliers had priced the chair out, one unit per two iterations.  Now the repair
    bans only the chair arcs and the first iteration has the optimal placement."""
    problem = pinned_pair()
    model = FlowModel(problem, build_candidates(problem))
    plan = engine.stage_plan(problem, model)
    steps: list[tuple[int, int | None]] = []
    search = StageSearch(
        model, RelativesRows(model), plan, 0, lambda: None, lambda i, v, b, c: steps.append((i, v))
    )
    report = search.run(None)
    assert steps[0][1] is not None  # a placement at the first iteration
    assert report.value == report.bound
    assert search.incumbent is not None
    assignment = model.assignment(search.incumbent.flow)
    assert check_placement(problem, assignment) == []
    assert assignment.tolist() == [1, 1]


def test_conflicts_no_ban_can_clear_go_to_the_exact_finish_of_their_neighbourhood() -> None:
    """Scope any, both relatives pinned to unit 0 on the way to an infeasible pair, plus a
    third person elsewhere: the neighbourhood of a conflicting flow is solved exactly; with
    one pin dropped it finds the conflict-free flow and leaves the far unit untouched."""
    problem = pinned_pair()
    problem = dataclasses.replace(
        problem,
        rules=dataclasses.replace(problem.rules, relatives_scope="any"),
        pins=dataclasses.replace(
            problem.pins,
            staff_idx=problem.pins.staff_idx[:1],
            unit_idx=problem.pins.unit_idx[:1],
            position=problem.pins.position[:1],
            mode=problem.pins.mode[:1],
            note=problem.pins.note[:1],
        ),
    )
    model = FlowModel(problem, build_candidates(problem))
    plan = engine.stage_plan(problem, model)
    relaxed = model.solve(model.stage_cost(*plan[0]), np.ones(model.num_arcs, dtype=bool))
    assert relative_conflicts(problem, model.assignment(relaxed.flow))
    flow = finish_neighbourhood(model, RelativesRows(model), plan, 0, relaxed.flow, np.array([0, 1]), 30.0)
    assert flow is not None
    assignment = model.assignment(flow)
    assert relative_conflicts(problem, assignment) == []
    assert check_placement(problem, assignment) == []
    assert assignment[0] in (0, 1) and assignment[1] in (-1, 2)


def test_greedy_is_the_floor_incumbent_even_on_a_stop_before_the_first_flow() -> None:
    problem = pinned_pair()
    stop = threading.Event()
    stop.set()
    result = engine.solve(problem, stop=stop)
    assert result.interrupted and result.status == "feasible"
    assert check_placement(problem, result.assignment) == []
    assert (result.assignment >= 0).all()  # greedy placed both


def test_decimal_weights_are_scaled_exactly() -> None:
    objective = scaled_weights({"shortfall": 1000.0, "unplaced": 100, "commute": 0.01, "preference": 0.125})
    assert objective.weights_scale == 200
    assert dict(objective.weights) == {
        "shortfall": 200_000,
        "unplaced": 20_000,
        "commute": 2,
        "preference": 25,
    }
    assert user_weights(objective) == {
        "shortfall": 1000,
        "unplaced": 100,
        "commute": 0.01,
        "preference": 0.125,
    }


def test_a_scenario_with_decimal_weights_is_proven_like_its_integer_twin(tmp_path: Path) -> None:
    problem = pinned_pair()
    decimal = dataclasses.replace(problem, objective=scaled_weights({"shortfall": 10.5, "moves": 0.25}))
    whole = dataclasses.replace(problem, objective=scaled_weights({"shortfall": 42, "moves": 1}))
    a, b = engine.solve(decimal), engine.solve(whole)
    assert a.proven and b.proven
    assert a.values == b.values
    scenario = tmp_path / "s.toml"
    tiny = Path(__file__).resolve().parents[1] / "scenarios" / "tiny" / "scenario.toml"
    scenario.write_text(
        f'extends = "{tiny}"\nname = "w"\n[objective]\nweights = {{ shortfall = 1000.0, commute = 0.01 }}\n'
    )
    loaded = load_scenario(scenario).objective
    assert loaded.weights_scale == 100 and dict(loaded.weights) == {"shortfall": 100_000, "commute": 1}


def test_weights_too_fine_for_the_flow_are_refused_naming_them() -> None:
    problem = pinned_pair()
    fine = dataclasses.replace(problem, objective=scaled_weights({"shortfall": 10**6, "moves": 1e-12}))
    with pytest.raises(InputError) as err:
        engine.solve(fine)
    assert "moves" in (err.value.issues[0].hint or "")


def test_the_printed_gap_never_reads_zero_when_value_and_bound_differ() -> None:
    def shown(value: int, bound: int) -> str:
        return gap_percent(value, bound, lang="en")

    assert shown(200_000, 199_997) == "0.0015"
    assert shown(5099, 5099) == "0.00"
    assert shown(14893, 149) == "99.00"
    assert "gap 0.002 %" in engine.Progress("unplaced", 200_000, 199_997, 1.0).describe("en")
    assert "gap 0.000010 %" in engine.Progress("commute", 10**7, 10**7 - 1, 1.0).describe("en")


def test_workers_are_capped_at_the_cores() -> None:
    cores = os.cpu_count() or 1
    assert engine.capped_workers(100_000) == cores
    assert engine.capped_workers(1) == 1
    problem = dataclasses.replace(
        pinned_pair(), solver=dataclasses.replace(pinned_pair().solver, workers=100_000, time_limit_s=20)
    )
    notes: list[str] = []
    result = engine.solve(problem, progress=lambda e: notes.append(e.stage))
    assert result.proven and "workers" in notes


def test_the_whole_model_mip_runs_where_memory_allows() -> None:
    assert engine.whole_model_fits(1_000_000, available=2 * 10**9)
    assert not engine.whole_model_fits(1_000_000, available=10**8)


def test_the_whole_model_mip_agrees_on_the_pinned_pair() -> None:
    problem = pinned_pair()
    result = engine.solve(problem)
    exact = highs_mip(problem, 30.0)
    assert exact.status == "optimal" and result.proven
    assert result.assignment.tolist() == exact.assignment.tolist()


def test_an_unproven_stage_says_why_for_whom_and_what_to_try(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped after the first multiplier iteration of a stage whose relaxed flow puts a
    chair and their relative in one unit: the result names the cause and the pair, and
    the planner reads it in Vietnamese and in English."""
    from test_solve_rules import chair_and_relative, no_relaxation

    from optimizer.unproven import unproven_lines, unproven_notes

    monkeypatch.setattr(engine, "relax_stage", no_relaxation)
    problem = chair_and_relative()
    stop = threading.Event()

    def progress(event: engine.Progress) -> None:
        if event.note == "iteration":
            stop.set()

    result = engine.solve(problem, progress=progress, stop=stop)
    assert not result.proven and result.unproven
    first = result.unproven[0]
    assert first.cause == "stopped"
    assert first.conflicts and set(first.conflicts[0][:2]) == {0, 1}
    notes = unproven_notes(problem, result)
    english = "\n".join(unproven_lines(notes, "r0001", "en"))
    vietnamese = "\n".join(unproven_lines(notes, "r0001", "vi"))
    for text in (english, vietnamese):
        assert "S0" in text and "S1" in text and "r0001" in text and "--time-limit" in text
    assert "stopped" in english and "dừng" in vietnamese
    proven = engine.solve(problem)
    assert proven.proven and proven.unproven == ()


def two_must_place(relative_far: bool = False) -> Problem:
    """Everyone must be placed: person 0 (first in the roster) may take post line 0
    (unit 0, nearest), 1 (unit 2, two posts) or 2 (unit 3, farthest); person 1 is
    ``fix``-pinned to unit 0, whose only line is 0.  Greedy gives line 0 to person 0 and
    leaves person 1 unplaced.  With ``relative_far``, person 2 (person 0's relative, scope
    any) lives in unit 2 and holds line 1, so person 0 must go to line 2 instead (and
    the relaxed flow puts the two relatives together in unit 2)."""
    lines = [
        {"unit": 0, "position": "a"},
        {"unit": 2, "position": "a", "max": 2},
        {"unit": 3, "position": "a"},
    ]
    people = [{"origin": 0, "positions": ["a"]}, {"origin": 0, "positions": ["a"]}]
    if relative_far:
        people.append({"origin": 2, "positions": ["a"]})
    return build(
        [0, 30, 10, 25],
        lines,
        people,
        relations=[(0, 2)] if relative_far else [],
        pins=[(1, 0, None, "fix")],
        rules={"require_all_placed": True, "relatives_scope": "any"},
    )


def test_greedy_made_valid_places_everyone_who_must_be_placed() -> None:
    for relative_far, expected in ((False, [1, 0]), (True, [2, 0, 1])):
        problem = two_must_place(relative_far)
        raw = greedy(problem).assignment
        assert check_placement(problem, raw)  # greedy alone breaks require_all_placed
        floor = valid_greedy(problem)
        assert floor.status == "feasible"
        assert check_placement(problem, floor.assignment) == []
        assert floor.assignment.tolist() == expected


def test_greedy_made_valid_fills_the_hard_minimums() -> None:
    """Person 0 takes the nearest line (min 0); the far line's hard minimum of 1 stays
    unfilled by greedy, and the chain moves person 0 there."""
    problem = build(
        [0, 10],
        [{"unit": 0, "position": "a"}, {"unit": 1, "position": "a", "min": 1}],
        [{"origin": 0, "positions": ["a"]}],
        rules={"min_is_hard": True},
    )
    assert check_placement(problem, greedy(problem).assignment)
    floor = valid_greedy(problem)
    assert floor.status == "feasible" and floor.assignment.tolist() == [1]


def test_a_stop_before_the_first_flow_keeps_greedy_made_valid() -> None:
    """Greedy alone is not valid here (it leaves a pinned person unplaced although
    everyone must be placed): the stored placement is greedy made valid, not nothing."""
    problem = two_must_place(relative_far=True)
    stop = threading.Event()
    stop.set()
    result = engine.solve(problem, stop=stop)
    assert result.interrupted and result.status == "feasible"
    assert check_placement(problem, result.assignment) == []
    assert result.assignment.tolist() == valid_greedy(problem).assignment.tolist()


def test_decimal_weights_show_the_objective_in_the_scenarios_units(tmp_path: Path) -> None:
    """The issue's weights: the stage's value and bound — in the result, in the stored
    run (what show, the API and the web pages read) and in the progress events (what the
    CLI and the web job print) — are the terms weighted by the scenario's own decimals,
    not the scaled integers the solver works in (here 100 times larger)."""
    from fractions import Fraction

    from optimizer import service

    weights = {
        "shortfall": "1000.0",
        "unplaced": "100.0",
        "moves": "10.0",
        "long_commute": "5.0",
        "commute": "0.01",
        "preference": "1.0",
    }
    tiny = Path(__file__).resolve().parents[1] / "scenarios" / "tiny" / "scenario.toml"
    scenario = tmp_path / "s.toml"
    listed = ", ".join(f"{k} = {v}" for k, v in weights.items())
    scenario.write_text(f'extends = "{tiny}"\nname = "w"\n[objective]\nweights = {{ {listed} }}\n')
    loaded = service.load(scenario)
    assert loaded.problem.objective.weights_scale == 100
    events: list[engine.Progress] = []
    store = service.open_store(tmp_path / "runs.db", create=True)
    recorded = service.solve_and_record(loaded, store, progress=events.append)
    result = recorded.result
    assert result.proven and len(result.stages) == 1
    expected = sum(Fraction(w) * result.values[t] for t, w in weights.items())
    assert expected.denominator > 1  # the commute at 0.01 per 100 m leaves decimals
    stage = result.stages[0]
    assert stage.value == pytest.approx(float(expected)) and stage.bound == stage.value
    stored = recorded.run.meta["stages"][0]
    assert stored["value"] == pytest.approx(float(expected)) and stored["bound"] == stored["value"]
    last = [e for e in events if e.objective is not None][-1]
    assert last.objective == pytest.approx(float(expected)) and last.bound == last.objective
    shown = number(float(expected), 2, "en")
    assert f"value {shown}" in last.describe("en")
    from optimizer.web.jobs import _progress_dict  # what the web job's page shows

    job = _progress_dict(last)
    assert job["objective"] == last.objective and job["digits"] == 2


def test_greedy_made_valid_makes_way_for_a_relative_kept_in_the_unit() -> None:
    """A leader and a relative both ``fix``-pinned to unit 0 (scope leadership): greedy
    seats the leader in the chair and then cannot place the relative anywhere; made
    valid, the leader steps down to the unit's other line and the relative joins it."""
    problem = build(
        [0, 10],
        [{"unit": 0, **CHAIR}, {"unit": 0, "position": "z", "max": 2}],
        [{"origin": 0, "positions": ["chair", "z"]}, {"origin": 0, "positions": ["z"]}],
        relations=[(0, 1)],
        pins=[(0, 0, None, "fix"), (1, 0, None, "fix")],
        rules={"relatives_scope": "leadership"},
    )
    assert greedy(problem).assignment.tolist() == [0, -1]
    floor = valid_greedy(problem)
    assert floor.status == "feasible" and floor.assignment.tolist() == [1, 1]
    assert check_placement(problem, floor.assignment) == []
