"""``optimizer.explain``: the binding rule of each excluded alternative, and forcing costs
that equal the difference of two full solves."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from builders import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.check import check_placement, objective_terms
from optimizer.data import Objective, Pins, Problem
from optimizer.explain import Explainer, with_fix_pin
from optimizer.i18n import set_lang, t
from optimizer.solve import solve


@pytest.fixture(autouse=True)
def english() -> None:
    set_lang("en")


def solved(problem: Problem) -> np.ndarray:
    result = solve(problem)
    assert result.has_placement, result.message
    return result.assignment


def rules(problem: Problem, **changes: Any) -> Problem:
    return dataclasses.replace(problem, rules=dataclasses.replace(problem.rules, **changes))


def no_pins(problem: Problem) -> Problem:
    return dataclasses.replace(problem, pins=Pins(np.zeros(0, np.int32), np.zeros(0, np.int32), (), (), ()))


# --------------------------------------------------------------------------- one case per rule
# Each case: a problem, the person, the alternative unit, the rule that must be named, and
# the same problem with that rule relaxed, under which the unit is no longer excluded.

A = {"position": "a"}


def case_qualification() -> tuple[Problem, Problem]:
    p = build([0, 5], [{"unit": 0, **A}, {"unit": 1, "position": "b"}], [{"origin": 0, "positions": ["a"]}])
    relaxed = dataclasses.replace(p, staff=dataclasses.replace(p.staff, positions=(("a", "b"),)))
    return p, relaxed


def case_bloc_change() -> tuple[Problem, Problem]:
    p = build(
        [0, 5],
        [{"unit": 0, **A}, {"unit": 1, **A, "bloc": "party", "department": "party_office"}],
        [{"origin": 0, "positions": ["a"]}],
        rules={"bloc_change": "forbid"},
    )
    return p, rules(p, bloc_change="penalize")


def case_island() -> tuple[Problem, Problem]:
    p = build(
        [0, 180], [{"unit": 0, **A}, {"unit": 1, **A}], [{"origin": 0, "positions": ["a"]}], island=(1,)
    )
    return p, dataclasses.replace(p, staff=dataclasses.replace(p.staff, island_ok=np.array([True])))


def case_commute_cap() -> tuple[Problem, Problem]:
    p = build([0, 40], [{"unit": 0, **A}, {"unit": 1, **A}], [{"origin": 0, "positions": ["a"]}])
    return p, rules(p, max_commute_km=45.0)


def case_non_local() -> tuple[Problem, Problem]:
    p = build(
        [0, 5],
        [{"unit": 0, **A}, {"unit": 1, **A, "non_local": True}],
        [{"origin": 0, "positions": ["a"], "local": [0, 1]}],
    )
    return p, dataclasses.replace(p, staff=dataclasses.replace(p.staff, local_idx=((0,),)))


def case_service_left() -> tuple[Problem, Problem]:
    p = build(
        [0, 5],
        [{"unit": 0, **A}, {"unit": 1, **A, "leadership": True}],
        [{"origin": 0, "positions": ["a"], "birth": "1965-01-01"}],
    )
    return p, rules(p, min_service_months=0)


def case_pins_fix() -> tuple[Problem, Problem]:
    p = build(
        [0, 5],
        [{"unit": 0, **A}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}],
        pins=[(0, 0, None, "fix")],
    )
    return p, no_pins(p)


def case_pins_forbid() -> tuple[Problem, Problem]:
    p = build(
        [0, 5],
        [{"unit": 0, **A}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}],
        pins=[(0, 1, None, "forbid")],
    )
    return p, no_pins(p)


PAIR_CASES: dict[str, Callable[[], tuple[Problem, Problem]]] = {
    "qualification": case_qualification,
    "bloc_change": case_bloc_change,
    "island": case_island,
    "commute_cap": case_commute_cap,
    "non_local": case_non_local,
    "service_left": case_service_left,
    "pins": case_pins_fix,
    "pins_forbid": case_pins_forbid,
}


@pytest.mark.parametrize("name", list(PAIR_CASES))
def test_pair_rule_named_and_binding(name: str) -> None:
    problem, relaxed = PAIR_CASES[name]()
    rule = name.split("_forbid")[0]
    x = solved(problem)
    exp = Explainer(problem, x).explain(0, alternatives=1)
    assert [a.unit_idx for a in exp.alternatives] == [1]
    alt = exp.alternatives[0]
    assert [r.rule for r in alt.excluded] == [rule]
    assert alt.forcing is None
    assert alt.excluded[0].text  # a sentence, in the current language
    # Relaxing that rule, and only it, makes the unit an allowed alternative.
    after = Explainer(relaxed, solved(relaxed)).explain(0, alternatives=1).alternatives[0]
    assert after.excluded == ()
    assert after.forcing is not None and after.forcing.feasible


def case_relatives() -> tuple[Problem, int, int, Problem]:
    # S1 holds the leadership post of unit 1 (fixed there) and is S0's relative: S0 cannot
    # join unit 1.
    p = build(
        [0, 5],
        [{"unit": 0, **A}, {"unit": 1, **A}, {"unit": 1, "position": "lead", "leadership": True}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 1, "positions": ["lead"]}],
        relations=[(0, 1)],
        pins=[(1, 1, None, "fix")],
    )
    return p, 0, 1, rules(p, relatives_scope="off")


def case_post_max() -> tuple[Problem, int, int, Problem]:
    # Unit 1's only post is held by S1, fixed there by a signed decision.
    p = build(
        [0, 5],
        [{"unit": 0, **A}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 1, "positions": ["a"]}],
        pins=[(1, 1, None, "fix")],
    )
    return p, 0, 1, no_pins(p)


def case_post_min() -> tuple[Problem, int, int, Problem]:
    # S0 holds the only post of unit 0, whose minimum is hard; nobody else can take it.
    p = build(
        [0, 5],
        [{"unit": 0, **A, "min": 1}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}],
        rules={"min_is_hard": True},
    )
    return p, 0, 1, rules(p, min_is_hard=False)


def case_one_post() -> tuple[Problem, int, int, Problem]:
    # S1 holds unit 1's only post, and has nowhere else to go while all must be placed.
    p = build(
        [0, 5, 60],
        [{"unit": 0, **A}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 1, "positions": ["a"], "home": 60}],
        rules={"require_all_placed": True, "max_commute_km": 58.0},
    )
    return p, 0, 1, rules(p, require_all_placed=False)


STATE_CASES = {
    "relatives": case_relatives,
    "post_max": case_post_max,
    "post_min": case_post_min,
    "one_post": case_one_post,
}


@pytest.mark.parametrize("rule", list(STATE_CASES))
def test_rule_that_blocks_forcing_named_and_binding(rule: str) -> None:
    problem, person, unit, relaxed = STATE_CASES[rule]()
    x = solved(problem)
    assert int(problem.posts.unit_idx[x[person]]) != unit
    alt = Explainer(problem, x).explain(person, alternatives=0, units=(unit,)).alternatives[0]
    assert [r.rule for r in alt.excluded] == [rule]
    # the forced problem really is infeasible, and feasible once the rule is relaxed
    assert not solve(with_fix_pin(problem, person, unit)).has_placement
    after = Explainer(relaxed, solved(relaxed)).explain(person, alternatives=0, units=(unit,)).alternatives[0]
    assert after.excluded == ()
    assert after.forcing is not None and after.forcing.feasible


def test_every_hard_rule_id_is_covered() -> None:
    from optimizer.data import RULE_IDS

    named = {n.split("_forbid")[0] for n in PAIR_CASES} | set(STATE_CASES)
    assert named == set(RULE_IDS)


# --------------------------------------------------------------------------- forcing costs


def swap_problem() -> Problem:
    # Units at 0, 10 and 30 km, one post line "a" each.  A lives at 0 (origin unit 0), B at
    # 10 (origin unit 1); the optimum keeps both at home: moves 0, commute 0.
    # Forcing A into unit 1 pushes B out: B can take A's seat (10 km) or unit 2 (20 km);
    # both are one move, so commute decides: A 10 km + B 10 km = 200 units of 100 m.
    # Forcing cost: moves +2, commute +200; B moves from unit 1 to unit 0.
    return build(
        [0, 10, 30],
        [{"unit": 0, **A}, {"unit": 1, **A}, {"unit": 2, **A}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 1, "positions": ["a"]}],
    )


def test_forcing_cost_worked_by_hand() -> None:
    p = swap_problem()
    x = solved(p)
    assert x.tolist() == [0, 1]
    force = Explainer(p, x).force(0, 1)
    assert force.feasible and force.method == "path"
    assert force.post_idx == 1
    assert {k: v for k, v in force.deltas.items() if v} == {"moves": 2, "commute": 200}
    assert [(m.staff_idx, m.from_post, m.to_post) for m in force.moves] == [(1, 1, 0)]


def applied(ex: Explainer, person: int, force: Any) -> np.ndarray:
    """The run's placement with a forcing applied (the person and everyone it moves)."""
    new = np.array(ex.x)
    for m in force.moves:
        new[m.staff_idx] = m.to_post
    new[person] = force.post_idx
    return new


def test_forcing_cost_equals_two_full_solves_with_relatives_and_pins() -> None:
    # S0 and S1 are relatives, S2 is fixed to unit 2; two post lines have minimums.
    p = build(
        [0, 8, 16, 26],
        [
            {"unit": 0, **A, "max": 2, "min": 1},
            {"unit": 1, **A, "max": 1},
            {"unit": 1, "position": "lead", "leadership": True, "min": 1},
            {"unit": 2, **A, "max": 2},
            {"unit": 3, **A, "max": 1, "min": 1},
        ],
        [
            {"origin": 0, "positions": ["a", "lead"]},
            {"origin": 1, "positions": ["a"], "prefs": (1, 0)},
            {"origin": 2, "positions": ["a"]},
            {"origin": 3, "positions": ["a"], "home": 20},
            {"origin": 1, "positions": ["lead", "a"]},
            {"origin": 0, "positions": ["a"], "prefs": (2,)},
        ],
        relations=[(0, 1)],
        pins=[(2, 2, None, "fix")],
    )
    base = solve(p)
    ex = Explainer(p, base.assignment)
    checked = 0
    for person in range(p.num_staff):
        for unit in range(p.num_units):
            if base.assignment[person] >= 0 and p.posts.unit_idx[base.assignment[person]] == unit:
                continue
            if ex.exclusions(person, unit):
                continue
            force = ex.force(person, unit)
            full = solve(with_fix_pin(p, person, unit))
            assert force.feasible == full.has_placement
            if force.feasible:
                checked += 1
                assert force.values == full.values
                assert force.deltas == {k: full.values[k] - base.values[k] for k in base.values}
                assert check_placement(with_fix_pin(p, person, unit), applied(ex, person, force)) == []
    assert checked >= 8


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    num_units = draw(st.integers(2, 4))
    units = sorted(draw(st.lists(st.floats(0, 50), min_size=num_units, max_size=num_units)))
    posts = []
    for u in range(num_units):
        for pos in ("a", "b"):
            if draw(st.booleans()):
                hi = draw(st.integers(0, 2))
                posts.append(
                    {
                        "unit": u,
                        "position": pos,
                        "max": hi,
                        "min": draw(st.integers(0, hi)),
                        "leadership": draw(st.booleans()),
                    }
                )
    if not posts:
        posts.append({"unit": 0, "position": "a"})
    staff = []
    for _ in range(draw(st.integers(1, 6))):
        origin = draw(st.integers(0, num_units - 1))
        staff.append(
            {
                "origin": origin,
                "positions": draw(st.sampled_from([["a"], ["b"], ["a", "b"], ["b", "a"]])),
                "home": units[origin] + draw(st.floats(-8, 8)),
                "prefs": tuple(draw(st.permutations(range(num_units)))[: draw(st.integers(0, 2))]),
            }
        )
    objective = draw(
        st.sampled_from(
            [
                Objective(),
                Objective(
                    priorities=("moves", "shortfall", "unplaced", "commute", "long_commute", "preference")
                ),
                Objective(weights=(("shortfall", 100), ("unplaced", 50), ("moves", 7), ("commute", 1))),
            ]
        )
    )
    return build(
        units,
        posts,
        staff,
        rules={"max_commute_km": 35.0, "require_all_placed": draw(st.booleans())},
        objective=objective,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_forcing_cost_equals_the_difference_of_two_full_solves(p: Problem) -> None:
    base = solve(p)
    if not base.has_placement:
        return
    ex = Explainer(p, base.assignment)
    for person in range(p.num_staff):
        for unit in range(p.num_units):
            post = base.assignment[person]
            if (post >= 0 and p.posts.unit_idx[post] == unit) or ex.exclusions(person, unit):
                continue
            force = ex.force(person, unit)
            full = solve(with_fix_pin(p, person, unit))
            assert force.feasible == full.has_placement
            if force.feasible:
                # Lexicographic: the optimum fixes every ranked term.  Weighted: only the
                # weighted sum (terms outside it, and its split between terms, are ties).
                if p.objective.weights is None:
                    ranked = p.objective.priorities
                    assert {k: force.values[k] for k in ranked} == {k: full.values[k] for k in ranked}
                    assert {k: force.deltas[k] for k in ranked} == {
                        k: full.values[k] - base.values[k] for k in ranked
                    }
                else:
                    weights = dict(p.objective.weights)

                    def score(values: dict[str, int], w: dict[str, int] = weights) -> int:
                        return sum(w[k] * values[k] for k in w)

                    assert score(force.values) == score(full.values)
                    assert score(force.deltas) == score(full.values) - score(base.values)
                new = applied(ex, person, force)
                assert check_placement(with_fix_pin(p, person, unit), new) == []
                assert objective_terms(p, new) == force.values


def test_relative_leaving_a_unit_opens_it_to_the_other() -> None:
    # S1 holds a leadership post of unit 0; its relative S0 (post line b of unit 1) is kept
    # out of unit 0.  Forcing S1 into unit 1 frees that leadership post, which S0 is the
    # one to take: a search that kept S0 out of unit 0 would leave the post short.
    p = build(
        [29.94, 33.44],
        [
            {"unit": 0, **A, "max": 2, "min": 1},
            {"unit": 0, "position": "b", "max": 2, "min": 2, "leadership": True},
            {"unit": 1, **A, "max": 2, "min": 1},
            {"unit": 1, "position": "b", "max": 1},
        ],
        [
            {"origin": 1, "positions": ["b"], "home": 24.75, "prefs": (1, 0)},
            {"origin": 0, "positions": ["a", "b"], "home": 19.99, "prefs": (0, 1)},
            {"origin": 0, "positions": ["a"], "home": 20.87, "prefs": (0, 1)},
            {"origin": 0, "positions": ["a"], "home": 31.47},
            {"origin": 0, "positions": ["a"], "home": 25.60},
        ],
        relations=[(0, 1)],
    )
    base = solve(p)
    assert base.assignment[0] == 3 and base.assignment[1] == 1
    force = Explainer(p, base.assignment).force(1, 1)
    full = solve(with_fix_pin(p, 1, 1))
    assert force.feasible and force.values == full.values
    assert force.values["shortfall"] == base.values["shortfall"]


def test_a_placement_that_is_not_optimal_is_solved_in_full() -> None:
    # C and D sit in each other's origin unit: swapping them back is a negative cycle, so
    # the path search cannot converge and the forced problem is solved from scratch.
    p = build(
        [0, 10, 30, 60, 70],
        [{"unit": u, **A} for u in range(5)],
        [{"origin": u, "positions": ["a"]} for u in (0, 1, 3, 4)],
    )
    worse = np.array([0, 1, 4, 3])
    force = Explainer(p, worse).force(0, 2)
    full = solve(with_fix_pin(p, 0, 2))
    assert force.method == "solve"
    assert force.values == full.values
    assert {(m.staff_idx, m.to_post) for m in force.moves} == {(2, 3), (3, 4)}


# --------------------------------------------------------------------------- explanations


def test_explanation_of_a_placement() -> None:
    p = build(
        [0, 5, 12],
        [{"unit": 0, **A}, {"unit": 1, **A}, {"unit": 2, **A}],
        [{"origin": 0, "positions": ["a"], "home": 4, "prefs": (1, 0)}],
    )
    x = solved(p)
    exp = Explainer(p, x).explain(0, alternatives=5)
    assert exp.unit_idx == 0 and exp.post_idx == 0
    assert exp.distance_km == pytest.approx(4.0, abs=0.01)
    assert exp.preference_rank == 2
    assert [a.unit_idx for a in exp.alternatives] == [1, 2]  # nearest first, the own unit left out
    assert exp.alternatives[0].preference_rank == 1
    assert exp.reason == t("explain.why.stays", origin="Phường 0", unit="Phường 0", position="a")
    force = exp.alternatives[0].forcing
    assert force is not None and force.deltas["moves"] == 1 and force.deltas["preference"] == -1


def test_short_reasons_name_the_rule_that_moved_a_person() -> None:
    p = build(
        [0, 5],
        [{"unit": 0, **A, "non_local": True}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 1, "positions": ["b"]}],
    )
    x = solved(p)
    ex = Explainer(p, x)
    rule_text = ex.exclusions(0, 0)[0].text
    assert rule_text in ex.short_reason(0)
    assert ex.short_reason(1).startswith(t("explain.why.unplaced", reason="")[:5])
    assert set(ex.short_reasons()) == {0, 1}


def test_pinned_person_reason_quotes_the_pin_note() -> None:
    p = build(
        [0, 5],
        [{"unit": 0, **A}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}],
        pins=[(0, 1, None, "fix")],
    )
    x = solved(p)
    note = p.pins.note[0] or t("explain.why.pin_no_note")
    assert Explainer(p, x).short_reason(0) == t(
        "explain.why.pinned", note=note, unit="", origin="", position=""
    )
