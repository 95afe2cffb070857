"""``optimizer.fairness``: blocking pairs of preferences, one rule of the definition at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from builders import build
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.data import Problem
from optimizer.fairness import BlockingPair, blocking_pairs, fairness_kpis


def pair_problem(**changes: Any) -> tuple[Problem, np.ndarray]:
    """A (home 2 km from unit 1, origin unit 0) prefers unit 1 and sits in unit 0; B (home
    9 km from unit 1, origin unit 2) sits in unit 1's only post: a blocking pair.
    ``changes`` edit A's and B's fields (``a_*`` / ``b_*``), the posts or the rules."""
    a = {"origin": 0, "positions": ["a"], "home": 12, "prefs": (1, 0)}
    b = {"origin": 2, "positions": ["a"], "home": 19}
    a.update({k[2:]: v for k, v in changes.items() if k.startswith("a_")})
    b.update({k[2:]: v for k, v in changes.items() if k.startswith("b_")})
    post1 = {"unit": 1, "position": "a", **changes.get("post1", {})}
    p = build(
        [0, 10, 25],
        [{"unit": 0, "position": "a"}, post1, {"unit": 2, "position": "a"}],
        [a, b],
        pins=changes.get("pins", ()),
        rules=changes.get("rules"),
    )
    return p, np.array([0, 1])


def test_blocking_pair_found() -> None:
    p, x = pair_problem()
    assert blocking_pairs(p, x) == [
        BlockingPair(0, 1, 1, 1, pytest.approx(2.0, abs=0.01), pytest.approx(9.0, abs=0.01))
    ]
    assert fairness_kpis(p, x) == {
        "blocking_pairs": 1,
        "people_blocked": 1,
        "holders_outranked": 1,
        "units_involved": 1,
        "people_with_preferences": 1,
        "blocked_rate": 1.0,
    }


@pytest.mark.parametrize(
    ("why", "changes"),
    [
        ("the holder comes from the unit's predecessors", {"b_origin": 1}),
        ("the holder lives nearer", {"b_home": 11}),
        ("the person is not qualified", {"post1": {"position": "b"}, "b_positions": ["b"]}),
        (
            "the post is non-local and the person local there",
            {"post1": {"non_local": True}, "a_local": [0, 1]},
        ),
        ("the holder's post is a signed decision", {"pins": [(1, 1, None, "fix")]}),
        ("the person's own post is a signed decision", {"pins": [(0, 0, None, "fix")]}),
        ("a pin forbids the unit to the person", {"pins": [(0, 1, None, "forbid")]}),
        ("the unit is beyond the commute cap", {"rules": {"max_commute_km": 1.5}}),
        ("the person got the unit they prefer most", {"a_prefs": (0, 1)}),
    ],
)
def test_no_blocking_pair_when(why: str, changes: dict[str, Any]) -> None:
    p, x = pair_problem(**changes)
    assert blocking_pairs(p, x) == [], why


def test_an_unplaced_person_blocks_every_listed_unit() -> None:
    p, _ = pair_problem()
    x = np.array([-1, 1])
    assert [(b.person, b.unit) for b in blocking_pairs(p, x)] == [(0, 1)]
    p, _ = pair_problem(a_prefs=(2, 1))
    assert {b.unit for b in blocking_pairs(p, x)} == {1}  # unit 2 is empty: nobody to outrank


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=1, max_size=6), st.data())
def test_everyone_in_their_first_choice_blocks_nobody(origins: list[int], data: st.DataObject) -> None:
    units = [0.0, 8.0, 16.0]
    staff = [{"origin": o, "positions": ["a"], "prefs": (o, (o + 1) % 3)} for o in origins]
    posts = [{"unit": u, "position": "a", "max": len(origins)} for u in range(3)]
    p = build(units, posts, staff)
    x = np.array(origins)
    assert blocking_pairs(p, x) == []
    kpis = fairness_kpis(p, x)
    assert kpis["people_with_preferences"] == len(origins) and kpis["blocked_rate"] == 0.0
    # move one person away from their first choice: they may now block, never anyone else
    mover = data.draw(st.integers(0, len(origins) - 1))
    x[mover] = (origins[mover] + 1) % 3
    assert {b.person for b in blocking_pairs(p, x)} <= {mover}
