"""Per-rule model tests: each hard rule binds in a tiny case, and breaking it by hand is
caught by the independent checker.  Every solve is checked and recomputed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from builders import build

from optimizer.check import CHECKS, check_placement, objective_terms
from optimizer.data import RULE_IDS, Problem
from optimizer.solve import engine, solve


def solved(problem: Problem) -> np.ndarray:
    """Solve, then check every rule and recompute every term independently."""
    result = solve(problem)
    assert result.has_placement, result.message
    assert check_placement(problem, result.assignment) == []
    assert objective_terms(problem, result.assignment) == result.values
    return result.assignment


def relaxed(problem: Problem, **rules: object) -> Problem:
    """The same problem with some rules changed."""
    return dataclasses.replace(problem, rules=dataclasses.replace(problem.rules, **rules))


def violated(problem: Problem, assignment: list[int], rule: str) -> bool:
    """True when the checker reports ``rule`` on a hand-made assignment."""
    return any(v.rule == rule for v in check_placement(problem, np.array(assignment)))


def test_every_rule_has_a_checker() -> None:
    assert tuple(CHECKS) == RULE_IDS


# one_post -------------------------------------------------------------------------


def test_one_post_require_all_placed_binds() -> None:
    # With moves ranked above unplaced, the second person would rather stay unplaced than
    # move; require_all_placed forces the move.
    from optimizer.data import Objective

    p = build(
        [0, 25],
        [{"unit": 0, "position": "a"}, {"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 0, "positions": ["a"]}],
        objective=Objective(("moves", "unplaced", "shortfall", "long_commute", "commute", "preference")),
    )
    assert sorted(solved(p).tolist()) == [-1, 0]
    assert sorted(solved(relaxed(p, require_all_placed=True)).tolist()) == [0, 1]


def test_one_post_require_all_placed_infeasible_when_no_seat() -> None:
    p = build(
        [0],
        [{"unit": 0, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}] * 2,
        rules={"require_all_placed": True},
    )
    assert solve(p).status == "infeasible"
    assert solved(relaxed(p, require_all_placed=False)).tolist().count(-1) == 1


def test_one_post_checker() -> None:
    p = build(
        [0],
        [{"unit": 0, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}],
        rules={"require_all_placed": True},
    )
    assert violated(p, [-1], "one_post")
    assert violated(p, [5], "one_post")
    assert not violated(p, [0], "one_post")


# post_max ---------------------------------------------------------------------------


def test_post_max_binds() -> None:
    p = build(
        [0, 10],
        [{"unit": 0, "position": "a", "max": 1}, {"unit": 1, "position": "a", "max": 1}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 0, "positions": ["a"]}],
    )
    a = solved(p)
    assert sorted(a.tolist()) == [0, 1]  # one of them had to go to unit 1
    assert violated(p, [0, 0], "post_max")


# post_min ---------------------------------------------------------------------------


def test_post_min_soft_gives_shortfall_hard_is_infeasible() -> None:
    p = build(
        [0, 100],
        [{"unit": 1, "position": "a", "min": 1, "max": 1}],
        [{"origin": 0, "positions": ["a"]}],
    )
    r = solve(p)
    assert r.values["shortfall"] == 1
    assert solve(relaxed(p, min_is_hard=True)).status == "infeasible"


def test_post_min_hard_binds_against_priorities() -> None:
    # Shortfall placed last in the priorities: without min_is_hard the solver prefers
    # keeping the person home (no move); with it, the person must fill unit 1's minimum.
    from optimizer.data import Objective

    p = build(
        [0, 10],
        [{"unit": 0, "position": "a"}, {"unit": 1, "position": "a", "min": 1}],
        [{"origin": 0, "positions": ["a"]}],
        objective=Objective(("unplaced", "moves", "long_commute", "commute", "preference", "shortfall")),
    )
    assert solved(p).tolist() == [0]
    hard = relaxed(p, min_is_hard=True)
    assert solved(hard).tolist() == [1]
    assert violated(hard, [0], "post_min")


# qualification ------------------------------------------------------------------------


def test_qualification_binds() -> None:
    p = build(
        [0, 10],
        [{"unit": 0, "position": "b"}, {"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}],
    )
    assert solved(p).tolist() == [1]
    assert violated(p, [0], "qualification")
    other_category = build(
        [0],
        [{"unit": 0, "position": "a", "category": "cadre"}],
        [{"origin": 0, "positions": ["a"]}],
    )
    assert solved(other_category).tolist() == [-1]
    assert violated(other_category, [0], "qualification")


# commute_cap --------------------------------------------------------------------------


def test_commute_cap_binds() -> None:
    p = build([0, 40], [{"unit": 1, "position": "a"}], [{"origin": 0, "positions": ["a"]}])
    assert solved(p).tolist() == [-1]
    assert solved(relaxed(p, max_commute_km=50.0)).tolist() == [0]
    assert violated(p, [0], "commute_cap")


# island --------------------------------------------------------------------------------


def test_island_takes_only_island_ok_and_is_exempt_from_the_cap() -> None:
    p = build(
        [0, 180],
        [{"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 0, "positions": ["a"], "island_ok": True}],
        island=(1,),
    )
    assert solved(p).tolist() == [-1, 0]
    assert violated(p, [0, -1], "island")
    assert not violated(p, [-1, 0], "commute_cap")


# non_local ------------------------------------------------------------------------------


def test_non_local_binds() -> None:
    p = build(
        [0, 10],
        [
            {"unit": 0, "position": "chair", "leadership": True, "non_local": True, "min": 1},
            {"unit": 1, "position": "chair", "leadership": True, "non_local": True, "min": 1},
        ],
        [{"origin": 0, "positions": ["chair"]}, {"origin": 1, "positions": ["chair"]}],
    )
    assert solved(p).tolist() == [1, 0]  # each chairs the other unit
    assert violated(p, [0, 1], "non_local")


# relatives ---------------------------------------------------------------------------------


def test_relatives_binds_with_leadership_scope() -> None:
    p = build(
        [0, 10],
        [
            {"unit": 0, "position": "chair", "leadership": True},
            {"unit": 0, "position": "a"},
            {"unit": 1, "position": "a"},
        ],
        [{"origin": 0, "positions": ["chair"]}, {"origin": 0, "positions": ["a"]}],
        relations=[(0, 1)],
    )
    assert solved(p).tolist() == [0, 2]
    assert solved(relaxed(p, relatives_scope="off")).tolist() == [0, 1]
    assert violated(p, [0, 1], "relatives")


def test_relatives_any_scope_covers_non_leadership() -> None:
    p = build(
        [0, 10],
        [{"unit": 0, "position": "a", "max": 2}, {"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 0, "positions": ["a"]}],
        relations=[(0, 1)],
    )
    assert solved(p).tolist() == [0, 0]  # leadership scope: allowed
    strict = relaxed(p, relatives_scope="any")
    assert sorted(solved(strict).tolist()) == [0, 1]
    assert violated(strict, [0, 0], "relatives")


def no_relaxation(*args: object, **kwargs: object) -> None:
    """Stands for :func:`optimizer.solve.exact.relax_stage` where a test needs a stage
    left with a gap after its first flow (the relaxation would prove it at once)."""
    return None


def chair_and_relative() -> Problem:
    """A chair and their relative both from unit 0, where the relative holds post a;
    posts a of units 1 and 2 are free: the rule costs exactly one move."""
    return build(
        [0, 10, 20],
        [
            {"unit": 0, "position": "chair", "leadership": True},
            {"unit": 0, "position": "a"},
            {"unit": 1, "position": "a"},
            {"unit": 2, "position": "a"},
        ],
        [
            {"origin": 0, "positions": ["chair"]},
            {"origin": 0, "positions": ["a"]},
            {"origin": 1, "positions": ["a"]},
        ],
        relations=[(0, 1)],
    )


def test_multipliers_prove_a_placement_where_relatives_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any LP or MIP (relaxation, whole or open part), the Lagrangian bound alone
    proves every stage: the relaxed flow puts both relatives in unit 0 (moves 0), the
    bound rises to 1 move and the repaired placement meets it."""

    def no_exact(*args: object, **kwargs: object) -> None:
        raise AssertionError("no exact solve may run here")

    monkeypatch.setattr(engine, "relax_stage", no_exact)
    monkeypatch.setattr(engine, "finish_stage", no_exact)
    monkeypatch.setattr(engine, "highs_mip", no_exact)
    p = chair_and_relative()
    params = engine.EngineParams(highs_bytes_per_pair=2**62, open_part_max_arcs=-1, relaxation=False)
    result = solve(p, params=params)
    assert result.proven and result.status == "optimal"
    assert result.values["moves"] == 1 and result.bounds["moves"] == 1
    assert check_placement(p, result.assignment) == []
    off = solve(relaxed(p, relatives_scope="off"))
    assert off.values["moves"] == 0  # the rule is what costs the move


# service_left -------------------------------------------------------------------------------


def test_service_left_binds() -> None:
    p = build(
        [0],
        [{"unit": 0, "position": "chair", "leadership": True}],
        [{"origin": 0, "positions": ["chair"], "birth": "1965-01-10"}],  # retires 2026
    )
    assert solved(p).tolist() == [-1]
    assert solved(relaxed(p, min_service_months=6)).tolist() == [0]
    assert violated(p, [0], "service_left")


# pins --------------------------------------------------------------------------------------------


def test_fix_pin_binds() -> None:
    p = build(
        [0, 10],
        [{"unit": 0, "position": "a"}, {"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}],
        pins=[(0, 1, None, "fix")],
    )
    assert solved(p).tolist() == [1]
    assert violated(p, [0], "pins")


def test_forbid_pin_binds() -> None:
    p = build(
        [0, 10],
        [{"unit": 0, "position": "a"}, {"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}],
        pins=[(0, 0, "a", "forbid")],
    )
    assert solved(p).tolist() == [1]
    assert violated(p, [0], "pins")


def test_fix_pin_that_cannot_hold_is_infeasible() -> None:
    p = build(
        [0, 50],
        [{"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}],
        pins=[(0, 1, None, "fix")],
    )
    assert solve(p).status == "infeasible"


# bloc_change ------------------------------------------------------------------------------------


def test_bloc_change_forbid_and_penalize() -> None:
    p = build(
        [0, 10],
        [{"unit": 0, "position": "a", "bloc": "party"}, {"unit": 1, "position": "a"}],
        [{"origin": 0, "positions": ["a"]}],
    )
    # penalize: staying home in the other bloc costs 1 (bloc change) = moving: tie broken
    # by commute, so the person stays home in the party bloc.
    r = solve(p)
    assert r.assignment.tolist() == [0] and r.values["moves"] == 1
    allow = solve(relaxed(p, bloc_change="allow"))
    assert allow.values["moves"] == 0
    forbid = relaxed(p, bloc_change="forbid")
    assert solved(forbid).tolist() == [1]
    assert violated(forbid, [0], "bloc_change")


# interrupted solves ---------------------------------------------------------------------


def test_a_stop_keeps_a_placement_that_obeys_every_rule() -> None:
    """Stopped before the first flow: the greedy floor (the chair at home, the relative in
    unit 1) is kept, checked and marked not proven, with require_all_placed too."""
    import threading

    p = build(
        [0, 10],
        [
            {"unit": 0, "position": "chair", "leadership": True},
            {"unit": 0, "position": "a"},
            {"unit": 1, "position": "a"},
        ],
        [{"origin": 0, "positions": ["chair"]}, {"origin": 0, "positions": ["a"]}],
        relations=[(0, 1)],
    )
    stop = threading.Event()
    stop.set()
    result = solve(p, stop=stop)
    assert result.interrupted and not result.proven
    assert result.status == "feasible"
    assert check_placement(p, result.assignment) == []
    assert result.assignment.tolist() == [0, 2]
    strict = solve(relaxed(p, require_all_placed=True), stop=stop)
    assert strict.status == "feasible" and strict.interrupted
    assert strict.assignment.tolist() == [0, 2]


def test_a_stop_keeps_the_bound_of_the_stage_it_interrupts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped after the first multiplier iteration (the repaired placement costs a move
    the relaxation does not): the placement obeys every rule, nothing is proven, and the
    interrupted stage still reports the bound its multipliers reached."""
    import threading

    monkeypatch.setattr(engine, "relax_stage", no_relaxation)  # leave the stage with a gap
    p = chair_and_relative()
    stop = threading.Event()

    def progress(event: engine.Progress) -> None:
        if event.note == "iteration" and event.args["iteration"] == 1:  # after the first multiplier iteration
            stop.set()

    result = solve(p, progress=progress, stop=stop)
    assert result.interrupted and not result.proven and result.status == "feasible"
    assert check_placement(p, result.assignment) == []
    first = result.stages[0]
    assert first.bound is not None and first.value is not None and first.bound < first.value
    assert all(st.status == "feasible" for st in result.stages)
