"""``optimizer.rules``: one object per rule id, and every consumer agrees with it.

Per-rule cases ("given this pair → removed by ``commute_cap``", and not once relaxed);
a Hypothesis property tying the solver's candidates, the registry's masks, explain's
exclusions, the fairness audit and the independent checker on every pair of random
instances; the binding rule behind explain's notes and the unplaced reasons (issue 16
part 6); reasons rendered in both languages; and a lint that no rule predicate is
written outside ``optimizer/rules/`` and the checker.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_solve_properties import instances

from optimizer import fairness
from optimizer.check import CHECKS, check_placement
from optimizer.data import RULE_IDS, Problem
from optimizer.explain import Explainer
from optimizer.i18n import set_lang, t
from optimizer.io.validate import line_supply
from optimizer.rules import PAIR_RULES, RULES, binding, relatives
from optimizer.rules.pair import allowed, qualified_pairs
from optimizer.rules.reason import Reason, render
from optimizer.solve import solve
from optimizer.solve.candidates import build_candidates

A = {"position": "a"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def english() -> None:
    set_lang("en")


def relax(problem: Problem, **changes: Any) -> Problem:
    return dataclasses.replace(problem, rules=dataclasses.replace(problem.rules, **changes))


def removed_by(problem: Problem, person: int, post: int) -> list[str]:
    """Every pair rule that removes (person, post)."""
    unit = problem.posts.unit_idx[[post]]
    return [r.id for r in PAIR_RULES if r.removes(problem, np.array([person]), np.array([post]), unit)[0]]


# --------------------------------------------------------------------------- one case per rule
# (problem where pair (0, line 1) is removed by exactly the rule, the same relaxed)

CASES: dict[str, Any] = {
    "qualification": lambda: (
        p := build(
            [0, 5], [{"unit": 0, **A}, {"unit": 1, "position": "b"}], [{"origin": 0, "positions": ["a"]}]
        ),
        dataclasses.replace(p, staff=dataclasses.replace(p.staff, positions=(("a", "b"),))),
    ),
    "bloc_change": lambda: (
        p := build(
            [0, 5],
            [{"unit": 0, **A}, {"unit": 1, **A, "bloc": "party"}],
            [{"origin": 0, "positions": ["a"]}],
            rules={"bloc_change": "forbid"},
        ),
        relax(p, bloc_change="penalize"),
    ),
    "island": lambda: (
        p := build(
            [0, 180], [{"unit": 0, **A}, {"unit": 1, **A}], [{"origin": 0, "positions": ["a"]}], island=(1,)
        ),
        dataclasses.replace(p, staff=dataclasses.replace(p.staff, island_ok=np.array([True]))),
    ),
    "commute_cap": lambda: (
        p := build([0, 30.5], [{"unit": 0, **A}, {"unit": 1, **A}], [{"origin": 0, "positions": ["a"]}]),
        relax(p, max_commute_km=31.0),
    ),
    "non_local": lambda: (
        p := build(
            [0, 5],
            [{"unit": 0, **A}, {"unit": 1, **A, "non_local": True}],
            [{"origin": 0, "positions": ["a"], "local": [0, 1]}],
        ),
        dataclasses.replace(p, staff=dataclasses.replace(p.staff, local_idx=((0,),))),
    ),
    "service_left": lambda: (
        p := build(
            [0, 5],
            [{"unit": 0, **A}, {"unit": 1, **A, "leadership": True}],
            [{"origin": 0, "positions": ["a"], "birth": "1965-01-01"}],
        ),
        relax(p, min_service_months=0),
    ),
    "pins": lambda: (
        p := build(
            [0, 5],
            [{"unit": 0, **A}, {"unit": 1, **A}],
            [{"origin": 0, "positions": ["a"]}],
            pins=[(0, 1, None, "forbid")],
        ),
        dataclasses.replace(p, pins=build([0], [], []).pins),
    ),
}


@pytest.mark.parametrize("rule", list(CASES))
def test_each_pair_rule_removes_its_pair_and_no_more(rule: str) -> None:
    problem, relaxed = CASES[rule]()
    assert removed_by(problem, 0, 1) == [rule]
    assert removed_by(problem, 0, 0) == []
    assert removed_by(relaxed, 0, 1) == []
    cand = build_candidates(problem)
    assert cand.removed[rule] == 1 and list(zip(cand.person, cand.post, strict=True)) == [(0, 0)]
    assert [v.rule for v in check_placement(problem, np.array([1]))] == [rule]  # the checker agrees
    assert check_placement(relaxed, np.array([1])) == []


def test_island_units_have_no_commute_cap() -> None:
    p = build(
        [0, 180], [{"unit": 1, **A}], [{"origin": 0, "positions": ["a"], "island_ok": True}], island=(1,)
    )
    assert removed_by(p, 0, 0) == []
    assert binding.verdict(p, np.array([-1]), 0, 1).kind == "room"


def test_registry_covers_every_rule_id_with_its_switch() -> None:
    assert list(RULES) == list(RULE_IDS) == list(CHECKS)
    assert {r.id for r in PAIR_RULES} <= set(RULE_IDS)
    assert RULES["relatives"].setting == "rules.relatives_scope=off"
    assert RULES["post_min"].setting == "rules.min_is_hard=false"
    assert RULES["post_max"].setting == ""


@pytest.mark.parametrize("scope", ["leadership", "any", "off"])
def test_relatives_scope_read_once(scope: str) -> None:
    # 0 and 1 are relatives in unit 0; 0 leads there, 1 does not; 2 and 3 share unit 1, no lead
    p = build(
        [0, 5],
        [
            {"unit": 0, "position": "a", "leadership": True},
            {"unit": 0, "position": "b"},
            {"unit": 1, "position": "b", "max": 2},
        ],
        [{"origin": 0, "positions": ["a"]}, {"origin": 0, "positions": ["b"]}]
        + [{"origin": 1, "positions": ["b"]}] * 2,
        relations=[(0, 1), (2, 3)],
        rules={"relatives_scope": scope},
    )
    x = np.array([0, 1, 2, 2])
    expected = {"leadership": [(0, 1, 0)], "any": [(0, 1, 0), (2, 3, 1)], "off": []}[scope]
    assert relatives.conflicts(p, x) == expected
    assert [v.staff_idx for v in check_placement(p, x) if v.rule == "relatives"] == [
        a for a, _, _ in expected
    ]
    assert relatives.conflicts_per_person(p, x).tolist() == [
        int(any(i in c[:2] for c in expected)) for i in range(4)
    ]


# --------------------------------------------------------------------------- the property


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_candidates_registry_explain_fairness_and_checker_agree(problem: Problem) -> None:
    """A pair is a candidate ⇔ no rule masks it ⇔ explain lists no exclusion for its unit
    (some line of the unit) ⇔ fairness allows it ⇔ the checker finds no pair-wise
    violation when the person alone takes it."""
    cand = build_candidates(problem)
    in_cand = set(zip(cand.person.tolist(), cand.post.tolist(), strict=True))
    people = np.repeat(np.arange(problem.num_staff), problem.num_posts)
    lines = np.tile(np.arange(problem.num_posts), problem.num_staff)
    mask = allowed(problem, people, lines)
    assert {(int(i), int(k)) for i, k in zip(people[mask], lines[mask], strict=True)} == in_cand
    none = np.full(problem.num_staff, -1)
    ex = Explainer(problem, none)
    pair_ids = {r.id for r in PAIR_RULES}
    fixed = fairness._fixed(problem)
    contested = fairness._contested(problem, none, fixed)  # nobody placed: every listed unit
    listed = {
        (i, k)
        for i, k in in_cand
        if not fixed[i] and int(problem.posts.unit_idx[k]) in problem.staff.preferences[i]
    }
    assert {(int(i), int(k)) for i, _, k in zip(*contested, strict=True)} == listed
    for i in range(problem.num_staff):
        for u in range(problem.num_units):
            some = any(problem.posts.unit_idx[k] == u for j, k in in_cand if j == i)
            excluded = ex.exclusions(i, u)
            assert (excluded == ()) == some
            assert all(r.rule in pair_ids for r in excluded)
        for k in range(problem.num_posts):
            x = none.copy()
            x[i] = k
            broken = [v for v in check_placement(problem, x) if v.rule in pair_ids and v.staff_idx == i]
            assert (broken == []) == ((i, k) in in_cand)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_qualified_pairs_of_some_people_are_the_whole_list_filtered(problem: Problem) -> None:
    person, post = qualified_pairs(problem)
    some = np.flatnonzero(np.random.default_rng(problem.num_staff).random(problem.num_staff) < 0.4)
    mine, theirs = qualified_pairs(problem, some)
    keep = np.isin(person, some)
    assert np.array_equal(mine, person[keep]) and np.array_equal(theirs, post[keep])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_verdicts_are_each_pairs_binding_by_unit(problem: Problem, data: st.DataObject) -> None:
    """binding.verdicts (masks reduced per group, read back in one pass) equals the
    binding worked out pair by pair for every (person, unit) of the qualified pairs, on
    any placement (lines held past their maximum included)."""
    x = np.array([data.draw(st.integers(-1, problem.num_posts - 1)) for _ in range(problem.num_staff)])
    person, post = qualified_pairs(problem)
    fill = np.bincount(x[x >= 0], minlength=problem.num_posts)
    units = problem.posts.unit_idx
    expected = []
    for i, u in sorted({(int(i), int(units[k])) for i, k in zip(person, post, strict=True)}):
        lines = sorted(int(k) for j, k in zip(person, post, strict=True) if j == i and units[k] == u)
        pair = {k: (np.array([i]), np.array([k]), np.array([u])) for k in lines}
        rules_of = {k: {r.id for r in PAIR_RULES[1:] if r.removes(problem, *pair[k])[0]} for k in lines}
        kept = [k for k in lines if not rules_of[k]]
        open_ = [k for k in kept if not relatives.closed(problem, x, *pair[k])[0]]
        room = [k for k in open_ if fill[k] - (x[i] == k) < problem.posts.max[k]]
        kind = "rules" if not kept else "relatives" if not open_ else "full" if not room else "room"
        named = [r.id for r in PAIR_RULES[1:] if any(r.id in rules_of[k] for k in lines)]
        expected.append(binding.Verdict(i, u, kind, tuple(named) if kind == "rules" else (), tuple(open_)))
    assert binding.verdicts(problem, x, person, post) == expected


# --------------------------------------------------------------------------- reasons that are right


def test_moved_because_of_a_relative_says_so_not_full() -> None:
    """Issue 16 part 6, NV011: her sibling leads in her unit; the note names the relative."""
    p = build(
        [0, 5],
        [
            {"unit": 0, "position": "vc", "leadership": True},
            {"unit": 1, "position": "vc", "leadership": True},
        ],
        [{"origin": 0, "positions": ["vc"]}, {"origin": 0, "positions": ["vc"]}],
        relations=[(0, 1)],
    )
    x = solve(p).assignment
    moved = int(np.flatnonzero(p.posts.unit_idx[x] == 1)[0])
    ex = Explainer(p, x)
    note = ex.short_reason(moved)
    detail = ex.explain(moved, units=(0,)).alternatives[0]
    assert [r.rule for r in detail.excluded] == ["relatives"]
    assert detail.excluded[0].text in note
    assert "full" not in note


def test_unplaced_names_each_units_own_cause() -> None:
    """Issue 16 part 6, NV002: non-local at one unit, 31.5 km at the other — not "full"."""
    p = build(
        [0, 10, 31.5],
        [{"unit": 1, "position": "chair", "non_local": True}, {"unit": 2, "position": "chair"}],
        [{"origin": 0, "positions": ["chair"], "local": [0, 1]}],
    )
    x = solve(p).assignment
    assert x.tolist() == [-1]
    reason = binding.unplaced_reasons(p, x)[0]
    assert reason.code == "unplaced_units"
    text = Explainer(p, x).short_reason(0)
    for unit in (1, 2):
        for r in Explainer(p, x).exclusions(0, unit):
            assert r.text in text
    assert "31.5 km" in text and "non-local" in text and "full" not in text
    assert "31,5 km" in render(reason, "vi")


def test_unplaced_when_every_reachable_post_is_full_is_surplus() -> None:
    p = build(
        [0, 5, 90],
        [{"unit": 0, **A}, {"unit": 1, **A}, {"unit": 2, **A}],
        [{"origin": 0, "positions": ["a"]}] * 3,
    )
    x = solve(p).assignment
    unplaced = int(np.flatnonzero(x < 0)[0])
    reason = binding.unplaced_reasons(p, x)[unplaced]
    assert reason.code == "unplaced_full" and reason.params == {"positions": ["a"], "units": 2}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_unplaced_reasons_read_each_persons_verdicts(problem: Problem, data: st.DataObject) -> None:
    """Each unplaced person's reason (made from the bindings as lists, only the units it
    names made into verdicts) is the one read off the person's verdicts, nearest unit
    first: no qualified line, every unit within reach full, or the nearest units not
    merely full with their bindings and the counts of the others."""
    x = np.array([data.draw(st.integers(-1, problem.num_posts - 1)) for _ in range(problem.num_staff)])
    found = binding.unplaced_reasons(problem, x)
    assert sorted(found) == np.flatnonzero(x < 0).tolist()
    for i, reason in found.items():
        mine, lines = qualified_pairs(problem, np.array([i]))
        dist = problem.dist_km[i].tolist()
        vs = sorted(binding.verdicts(problem, x, mine, lines), key=lambda v: (dist[v.unit], v.unit))
        near = [v for v in vs if not {"island", "commute_cap"} & set(v.rules)]
        full = [v for v in vs if v.kind == "full"]
        others = [v for v in vs if v.kind != "full"]
        if not vs:
            assert reason.code == "no_post"
        elif near and len(full) == len(near):
            positions = list(dict.fromkeys(problem.posts.position[k] for v in near for k in v.open_lines))
            assert reason == Reason("unplaced_full", {"positions": positions, "units": len(near)})
        else:
            named = [problem.units.names[v.unit] for v in others[: binding.UNITS_NAMED]]
            items = reason.params["items"]
            assert [item["params"]["unit"] for item in items[: len(named)]] == named
            for item, v in zip(items, others[: len(named)], strict=False):
                why = [r.to_dict() for _, r in v.reasons(problem, x)] or [Reason("room").to_dict()]
                assert item["params"]["why"] == why
            counts = [(item["code"], item["params"]["count"]) for item in items[len(named) :]]
            more = len(others) - binding.UNITS_NAMED
            assert counts == [("units_full", len(full))] * bool(full) + [("units_more", more)] * (more > 0)


def test_reasons_render_in_both_languages_and_round_trip() -> None:
    r = Reason("commute_cap", {"km": 31.5, "cap": 30.0})
    assert render(r, "en") == "31.5 km from home, beyond the 30 km commute cap"
    assert render(r, "vi") == t("rule.commute_cap", "vi", km="31,5", cap="30")
    assert Reason.from_json(r.to_json()) == r


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_notes_and_detail_table_come_from_one_binding(problem: Problem) -> None:
    """Explain's short note (the annex's Ghi chú) names the same rules as the detail
    table for the unit it talks about: the origin of a moved person, every unit of an
    unplaced person's reason."""
    result = solve(problem)
    if not result.has_placement:
        return
    x = result.assignment
    ex = Explainer(problem, x)
    hard = {r.id for r in PAIR_RULES} | {"relatives"}
    unplaced = binding.unplaced_reasons(problem, x)
    fixed = set(problem.pins.staff_idx[np.array(problem.pins.mode) == "fix"].tolist())
    for i in range(problem.num_staff):
        note = ex.short_reason(i)
        origin = int(problem.staff.origin_idx[i])
        if x[i] >= 0 and i not in fixed and problem.posts.unit_idx[x[i]] != origin:
            alt = ex.explain(i, alternatives=0, units=(origin,)).alternatives[0]
            named = [r for r in alt.excluded if r.rule in hard]
            names = problem.units.names
            because = t(
                "explain.why.moved_rule",
                rule="",
                unit=names[problem.posts.unit_idx[x[i]]],
                origin=names[origin],
            )
            rule = "; ".join(r.text for r in named)
            assert note.startswith(because + rule) if named else not note.startswith(because)
        elif x[i] < 0:
            assert unplaced[i].render() in note
            for item in unplaced[i].params.get("items", []):
                if item["code"] != "at_unit":
                    continue
                unit = problem.units.names.index(item["params"]["unit"])
                texts = [render(Reason.from_dict(w)) for w in item["params"]["why"]]
                alt = ex.explain(i, alternatives=0, units=(unit,), forcing=False).alternatives[0]
                assert [r.text for r in alt.excluded] == texts or alt.excluded == ()


# --------------------------------------------------------------------------- the lint

#: Fields that only a rule reads to decide; where else they may be read, and why.
TELLTALES = {
    "max_commute_km",
    "relatives_scope",
    "non_local",
    "island_ok",
    "island",
    "min_service_months",
    "months_left",
    "local_mask",
}
ALLOWED = {
    "optimizer/rules": "the rules themselves",
    "optimizer/check.py": "the independent checker, a re-implementation on purpose",
    "optimizer/io": "the io layer parses and validates these fields",
    "optimizer/data.py": "where the fields are defined",
    "optimizer/synth.py": "the generator writes the fields",
    "optimizer/shapes.py": "the province-shape generator writes the fields",
    "optimizer/replan.py": "parses a change file's fields into new problem data",
    "optimizer/placement_tables.py": "copies non_local / local into the run's tables (no decision)",
    "optimizer/kpis.py": "compliance KPIs recomputed from stored tables, like the checker",
}


def test_no_rule_predicate_outside_the_rules_and_the_checker() -> None:
    found = []
    for path in sorted((ROOT / "optimizer").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if any(rel == a or rel.startswith(a + "/") for a in ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in TELLTALES:
                found.append(f"{rel}:{node.lineno} .{node.attr}")
    assert found == [], "a rule predicate outside optimizer/rules/ — ask the rule object instead"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_validate_capacity_counts_are_the_candidates_without_pins(problem: Problem) -> None:
    """validate's supply of each post line (people who could take it, pins aside) is the
    number of people the solver's candidates put on it once the pins are gone."""
    unpinned = dataclasses.replace(problem, pins=build([0], [], []).pins)
    cand = build_candidates(unpinned)
    count, can_work = line_supply(problem)
    pairs = set(zip(cand.person.tolist(), cand.post.tolist(), strict=True))
    assert count.tolist() == [sum(1 for _, k in pairs if k == line) for line in range(problem.num_posts)]
    assert can_work.tolist() == [any(i == j for j, _ in pairs) for i in range(problem.num_staff)]
