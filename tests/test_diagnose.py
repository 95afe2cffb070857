"""``optimizer.diagnose``: minimal conflicts, in words, and relaxations that really fix them.

Every verdict is checked against the solver itself: a scenario the diagnosis calls
feasible solves, a conflict's groups cannot hold together but drop any one and the rest
can, and a relaxation said to fix the scenario makes ``solve`` find a placement.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np
import pytest
from builders import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer import diagnose as diagnose_module
from optimizer.data import Problem, empty_pins
from optimizer.diagnose import Conflict, FeasibilityModel, Group, apply_relaxation, diagnose
from optimizer.i18n import set_lang, t
from optimizer.labels import label
from optimizer.solve import solve

A = {"position": "a"}


@pytest.fixture(autouse=True)
def english() -> None:
    set_lang("en")


def assert_minimal(problem: Problem, conflict: Conflict) -> None:
    """The conflict cannot hold, and dropping any one group lets the rest hold."""
    model = FeasibilityModel(problem)
    groups = list(conflict.groups)
    assert not model.feasible(groups)
    for g in groups:
        assert model.feasible([h for h in groups if h != g]), g


def assert_relaxations_work(problem: Problem, conflict: Conflict) -> None:
    """Every relaxation said to fix the whole scenario makes it solvable; the others at
    least resolve this conflict (checked again on the relaxed problem, pin rows renumbered)."""
    assert conflict.relaxations
    for r in conflict.relaxations:
        relaxed = apply_relaxation(problem, r)
        if r.fixes_all:
            assert solve(relaxed).has_placement, r.text
        mapped = [
            g for g in conflict.groups if not (g.rule == "pins" and g.index == r.pin) and g.rule != r.switch
        ]
        assert FeasibilityModel(relaxed).feasible(
            [
                g if g.rule != "pins" or r.pin < 0 or g.index < r.pin else Group("pins", g.index - 1)
                for g in mapped
            ]
        ), r.text


def hard_min_problem() -> Problem:
    # Phường 0 needs 2 finance officers.  S0 lives there; S1 (8 km away) is fixed to
    # Phường 1 by a signed decision; S2 is 40 km away, beyond the 30 km cap.  Only one
    # qualified person is within reach and not pinned elsewhere.
    return build(
        [0, 8, 40],
        [
            {"unit": 0, "position": "finance", "min": 2, "max": 2},
            {"unit": 1, "position": "finance", "max": 1},
            {"unit": 2, "position": "finance", "max": 1},
        ],
        [
            {"origin": 0, "positions": ["finance"]},
            {"origin": 1, "positions": ["finance"]},
            {"origin": 2, "positions": ["finance"]},
        ],
        pins=[(1, 1, None, "fix")],
        rules={"min_is_hard": True},
    )


def test_hard_minimum_with_a_pin() -> None:
    p = hard_min_problem()
    assert not solve(p).has_placement
    d = diagnose(p)
    assert not d.feasible and d.complete
    [conflict] = d.conflicts
    assert set(conflict.groups) == {Group("post_min", 0), Group("pins", 0)}
    # two minimum places plus S1, whom the pin forces to be placed; one place stays empty
    assert (conflict.required, conflict.achievable) == (3, 2)
    assert conflict.summary == t(
        "diagnose.summary.min",
        units="Phường 0",
        required=2,
        position=label("finance", "position"),
        cap="30",
        supply=1,
        pinned=t("diagnose.not_pinned"),
    )
    assert_minimal(p, conflict)
    assert_relaxations_work(p, conflict)
    kinds = {r.kind: r for r in conflict.relaxations}
    assert kinds["lower_min"].mins == ((0, 1),)
    assert kinds["release_pin"].pin == 0 and kinds["release_pin"].fixes_all
    assert kinds["commute_cap"].cap == pytest.approx(40.0, abs=0.1)  # S2 is 40 km from Phường 0
    assert conflict.relaxations[0].fixes_all  # best first


def test_require_all_placed_more_people_than_seats() -> None:
    p = build(
        [0, 10],
        [{"unit": 0, **A}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}] * 3,
        rules={"require_all_placed": True},
    )
    assert not solve(p).has_placement
    [conflict] = diagnose(p).conflicts
    assert {g.rule for g in conflict.groups} == {"one_post"} and len(conflict.groups) == 3
    assert (conflict.required, conflict.achievable) == (3, 2)
    assert_minimal(p, conflict)
    assert_relaxations_work(p, conflict)
    assert {r.kind for r in conflict.relaxations} >= {"raise_max", "rule"}
    assert all(r.fixes_all for r in conflict.relaxations)


def test_two_pins_on_one_post() -> None:
    p = build(
        [0, 10],
        [{"unit": 0, **A}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 1, "positions": ["a"]}],
        pins=[(0, 0, None, "fix"), (1, 0, None, "fix")],
    )
    [conflict] = diagnose(p).conflicts
    assert set(conflict.groups) == {Group("pins", 0), Group("pins", 1)}
    assert_minimal(p, conflict)
    assert_relaxations_work(p, conflict)
    raise_max = [r for r in conflict.relaxations if r.kind == "raise_max"]
    assert raise_max and raise_max[0].maxes == ((0, 2),)


def test_forbidden_bloc_change() -> None:
    p = build(
        [0],
        [{"unit": 0, "position": "a", "bloc": "party", "department": "party_office", "min": 1}],
        [{"origin": 0, "positions": ["a"]}],
        rules={"bloc_change": "forbid", "min_is_hard": True},
    )
    [conflict] = diagnose(p).conflicts
    assert set(conflict.groups) == {Group("post_min", 0), Group("bloc_change", 1)}
    assert_minimal(p, conflict)
    assert_relaxations_work(p, conflict)
    assert any(r.setting == "rules.bloc_change=penalize" and r.fixes_all for r in conflict.relaxations)


def fixed_relatives_problem() -> Problem:
    # Two relatives fixed into one unit by signed decisions: only the relatives rule fails.
    return build(
        [0, 10],
        [{"unit": 0, **A, "leadership": True}, {"unit": 0, "position": "b"}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 0, "positions": ["b"]}],
        relations=[(0, 1)],
        pins=[(0, 0, None, "fix"), (1, 0, None, "fix")],
    )


def test_relatives_fixed_into_one_unit() -> None:
    p = fixed_relatives_problem()
    assert not solve(p).has_placement
    [conflict] = diagnose(p).conflicts
    assert set(conflict.groups) == {Group("pins", 0), Group("pins", 1), Group("relatives", 0)}
    assert conflict.summary == t("diagnose.summary.relatives")
    assert_minimal(p, conflict)
    assert_relaxations_work(p, conflict)


def test_separate_conflicts_are_all_found() -> None:
    p = build(
        [0, 50],
        [{"unit": 0, **A, "min": 2, "max": 2}, {"unit": 1, "position": "b", "min": 1}],
        [{"origin": 0, "positions": ["a"]}],
        rules={"min_is_hard": True},
    )
    d = diagnose(p)
    assert len(d.conflicts) == 2
    assert {c.groups for c in d.conflicts} == {(Group("post_min", 0),), (Group("post_min", 1),)}
    # each relaxation fixes only its own conflict, except switching the minimums off
    for c in d.conflicts:
        assert {r.fixes_all for r in c.relaxations if r.kind == "lower_min"} == {False}
        assert [r.fixes_all for r in c.relaxations if r.kind == "rule"] == [True]
        assert_relaxations_work(p, c)


def test_feasible_scenario_has_nothing_to_diagnose() -> None:
    p = dataclasses.replace(hard_min_problem(), pins=empty_pins())
    assert solve(p).has_placement
    d = diagnose(p)
    assert d.feasible and d.conflicts == ()


@st.composite
def hard_problems(draw: st.DrawFn) -> Problem:
    num_units = draw(st.integers(1, 3))
    units = sorted(draw(st.lists(st.floats(0, 45), min_size=num_units, max_size=num_units)))
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
        posts.append({"unit": 0, **A, "min": 1})
    staff = []
    for _ in range(draw(st.integers(1, 5))):
        origin = draw(st.integers(0, num_units - 1))
        staff.append(
            {
                "origin": origin,
                "positions": draw(st.sampled_from([["a"], ["b"], ["a", "b"]])),
                "home": units[origin] + draw(st.floats(-20, 20)),
                "bloc": draw(st.sampled_from(["government", "party"])),
            }
        )
    pins = []
    for s in range(len(staff)):
        if draw(st.integers(0, 3)) == 0:
            pins.append(
                (s, draw(st.integers(0, num_units - 1)), None, draw(st.sampled_from(["fix", "forbid"])))
            )
    relations = [(0, 1)] if len(staff) > 1 and draw(st.booleans()) else []
    return build(
        units,
        posts,
        staff,
        relations=relations,
        pins=pins,
        rules={
            "min_is_hard": draw(st.booleans()),
            "require_all_placed": draw(st.booleans()),
            "bloc_change": draw(st.sampled_from(["forbid", "penalize"])),
            "relatives_scope": draw(st.sampled_from(["leadership", "any"])),
        },
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_problems())
def test_diagnosis_agrees_with_the_solver(p: Problem) -> None:
    d = diagnose(p)
    assert d.complete
    assert d.feasible == solve(p).has_placement
    for conflict in d.conflicts:
        relaxed = functools.reduce(apply_relaxation, conflict.assuming, p)  # the conflict's own scenario
        assert_minimal(relaxed, conflict)
        assert_relaxations_work(relaxed, conflict)
        assert all(not r.fixes_all and r.fixes_conflict for r in conflict.assuming)
    first = [c for c in d.conflicts if not c.assuming]
    if first:
        # dropping one group of every conflict found leaves a feasible scenario, or another conflict
        model = FeasibilityModel(p)
        rest = [g for g in model.groups if all(g not in c.groups for c in first)]
        assert model.feasible(rest) or len(first) == 3


def test_members_are_said_in_words() -> None:
    [conflict] = diagnose(hard_min_problem()).conflicts
    words = " ".join(conflict.members)
    assert "Phường 0" in words and label("finance", "position") in words and "S1" in words
    assert np.all([len(m) > 10 for m in conflict.members])


def island_conflict_problem() -> Problem:
    # One island_ok chair, at 0 km: Phường 1 (30.5 km, beyond the 30 km cap) and the island
    # Phường 2 both need a chair.  As it is, only Phường 1 conflicts; raising the cap to
    # 30.5 km fixes that but makes the two compete for the one chair.
    return build(
        [0, 30.5, 200],
        [
            {"unit": 1, "position": "chair", "min": 1, "leadership": True},
            {"unit": 2, "position": "chair", "min": 1, "leadership": True},
            {"unit": 0, "position": "a", "max": 3},
        ],
        [{"origin": 0, "positions": ["chair"], "island_ok": True}, {"origin": 0, "positions": ["a"]}],
        island=(2,),
        rules={"min_is_hard": True},
    )


def test_conflict_behind_a_partial_fix_is_found_in_the_same_run() -> None:
    p = island_conflict_problem()
    d = diagnose(p, max_conflicts=5)
    assert [c.groups for c in d.conflicts] == [
        (Group("post_min", 0),),
        (Group("post_min", 0), Group("post_min", 1)),
    ]
    first, second = d.conflicts
    cap = [r for r in first.relaxations if r.kind == "commute_cap"]
    assert [(r.cap, r.fixes_all) for r in cap] == [(30.5, False)]
    assert second.assuming == tuple(cap)
    relaxed = apply_relaxation(p, cap[0])
    assert_minimal(relaxed, second)
    assert not solve(relaxed).has_placement
    assert diagnose(p, max_conflicts=1).conflicts == (first,)


def test_island_units_are_never_said_to_have_a_commute_cap() -> None:
    p = island_conflict_problem()
    second = diagnose(p, max_conflicts=5).conflicts[1]
    assert "30.5 km" in second.summary and "Phường 2 is on an island: no commute cap" in second.summary
    only_island = build(
        [0, 200],
        [{"unit": 1, "position": "chair", "min": 1, "leadership": True}],
        [{"origin": 0, "positions": ["chair"]}],
        island=(1,),
        rules={"min_is_hard": True},
    )
    [conflict] = diagnose(only_island).conflicts
    assert "km" not in conflict.summary and "island" in conflict.summary
    assert all(r.kind != "commute_cap" for r in conflict.relaxations)


def test_the_relatives_mip_is_given_up_when_the_time_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two relatives fixed into one unit: only the MIP sees the conflict.  With its time
    # spent, a model no longer decides it, and the diagnosis says it is incomplete.
    p = fixed_relatives_problem()
    model = FeasibilityModel(p)
    assert model.mip(model.groups) is False
    spent = FeasibilityModel(p, deadline=time.monotonic() - 1)
    assert spent.mip(spent.groups) is None
    assert diagnose(p).complete
    monkeypatch.setattr(diagnose_module, "MIP_BUDGET_S", 0.0)
    late = diagnose(p)
    assert not late.complete and late.message == t("diagnose.too_large")
