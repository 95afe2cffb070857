"""``optimizer.edit``: the edit-by-hand check of a stored placement (DESIGN §10 ``check_edit``).

Each hard rule: a move that breaks it is reported under its rule id with the people it
concerns, a move that does not is not.  On random instances the violations are exactly
the checker's on the edited placement, and every term change equals the recomputed
objective after minus before.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_solve_properties import instances

from optimizer.check import check_placement, objective_terms
from optimizer.data import Problem
from optimizer.edit import EditMove, EditSession, SessionSnapshots
from optimizer.errors import InputError
from optimizer.i18n import set_lang
from optimizer.replan import load_run
from optimizer.solve import solve

A = {"position": "a"}
TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"


@pytest.fixture(autouse=True)
def english() -> None:
    set_lang("en")


def two_units(**rules: Any) -> Problem:
    """S0 on U0/a, S1 and S2 on U1/a (of 3); U2 at 40 km; U3 an island; U1 has a non-local
    leadership line 'lead', U0 a leadership line 'chief' and a party line 'b'.  S0 is
    local to U0 and U1; S2 retires within 60 months."""
    return build(
        [0, 5, 40, 200],
        [
            {"unit": 0, **A},
            {"unit": 1, **A, "max": 3},
            {"unit": 1, "position": "lead", "leadership": True, "non_local": True},
            {"unit": 2, **A},
            {"unit": 3, **A},
            {"unit": 0, "position": "b", "bloc": "party"},
            {"unit": 0, "position": "chief", "leadership": True},
        ],
        [
            {"origin": 0, "positions": ["a", "lead", "b"], "local": [0, 1]},
            {"origin": 1, "positions": ["a", "chief"], "birth": "1990-01-01"},
            {"origin": 1, "positions": ["a", "chief"], "birth": "1964-01-01"},
        ],
        island=(3,),
        rules=rules or None,
    )


def check(problem: Problem, x: list[int], *moves: EditMove) -> list[tuple[str, tuple[str, ...]]]:
    result = EditSession(problem, np.array(x)).check(moves)
    assert not result.problems
    return [(v.rule, v.staff_ids) for v in result.violations]


BASE = [0, 1, 1]  # S0 on U0/a, S1 and S2 on U1/a


@pytest.mark.parametrize(
    ("rule", "problem", "bad", "good"),
    [
        ("qualification", two_units(), EditMove("S2", "U0", "b"), EditMove("S0", "U0", "b")),
        ("commute_cap", two_units(), EditMove("S0", "U2"), EditMove("S0", "U1")),
        ("island", two_units(), EditMove("S0", "U3"), EditMove("S0", "U0")),
        ("non_local", two_units(), EditMove("S0", "U1", "lead"), EditMove("S0", "U1", "a")),
        ("service_left", two_units(), EditMove("S2", "U0", "chief"), EditMove("S1", "U0", "chief")),
        (
            "bloc_change",
            two_units(bloc_change="forbid"),
            EditMove("S0", "U0", "b"),
            EditMove("S0", "U0", "a"),
        ),
        ("post_max", two_units(), EditMove("S1", "U0"), EditMove("S0", "U1")),
        ("one_post", two_units(require_all_placed=True), EditMove("S0", None), EditMove("S0", "U1")),
    ],
)
def test_each_rule_broken_or_not(rule: str, problem: Problem, bad: EditMove, good: EditMove) -> None:
    assert [r for r, _ in check(problem, BASE, bad)] == [rule]
    assert check(problem, BASE, good) == []


def test_post_max_names_the_holders_and_a_swap_keeps_it() -> None:
    p = two_units()
    assert check(p, BASE, EditMove("S1", "U0")) == [("post_max", ("S0", "S1"))]
    assert check(p, BASE, EditMove("S1", "U0"), EditMove("S0", "U1")) == []


def test_hard_minimum_and_pins() -> None:
    p = build(
        [0, 5],
        [{"unit": 0, **A, "min": 1}, {"unit": 1, **A, "max": 2}],
        [{"origin": 0, "positions": ["a"]}, {"origin": 1, "positions": ["a"]}],
        pins=[(1, 1, None, "fix")],
        rules={"min_is_hard": True},
    )
    assert check(p, [0, 1], EditMove("S0", "U1")) == [("post_min", ())]
    assert check(p, [0, 1], EditMove("S1", "U0"), EditMove("S0", "U1")) == [("pins", ("S1",))]
    assert check(p, [0, 1], EditMove("S1", None)) == [("pins", ("S1",))]
    soft = build(
        [0, 5], [{"unit": 0, **A, "min": 1}, {"unit": 1, **A, "max": 2}], [{"origin": 0, "positions": ["a"]}]
    )
    result = EditSession(soft, np.array([0])).check([EditMove("S0", "U1")])
    assert result.ok and result.deltas["shortfall"] == 1 and result.deltas["moves"] == 1


@pytest.mark.parametrize("scope", ["leadership", "any"])
def test_relatives(scope: str) -> None:
    p = build(
        [0, 5],
        [{"unit": 0, "position": "lead", "leadership": True}, {"unit": 1, **A, "max": 2}, {"unit": 0, **A}],
        [{"origin": 0, "positions": ["lead", "a"]}, {"origin": 1, "positions": ["a", "lead"]}],
        relations=[(0, 1)],
        rules={"relatives_scope": scope},
    )
    x = [0, 1]
    assert check(p, x, EditMove("S1", "U0")) == [("relatives", ("S1", "S0"))]
    moved_apart = check(p, [2, 1], EditMove("S1", "U0", "lead"))
    assert moved_apart == [("relatives", ("S1", "S0"))]
    assert check(p, x, EditMove("S0", "U1")) == ([("relatives", ("S0", "S1"))] if scope == "any" else [])


def test_unreadable_moves_are_reported_and_left_out() -> None:
    result = EditSession(two_units(), np.array(BASE)).check(
        [EditMove("nobody", "U1"), EditMove("S0", "U9"), EditMove("S0", "U2", "lead"), EditMove("S1", "U0")]
    )
    assert [r.code for r in result.problems] == [
        "edit_unknown_staff",
        "edit_unknown_unit",
        "edit_no_position",
    ]
    assert [v.rule for v in result.violations] == ["post_max"] and not result.ok
    assert "U2" not in result.problems[2].render() and "Phường 2" in result.problems[2].render()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_violations_and_deltas_equal_the_checker_and_recomputed_terms(
    problem: Problem, data: st.DataObject
) -> None:
    result = solve(problem)
    if not result.has_placement:
        return
    x = result.assignment
    moves = []
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, problem.num_staff - 1))
        unit = data.draw(st.sampled_from([None, *problem.units.ids]))
        moves.append(EditMove(problem.staff.ids[i], unit))
    reference = x if data.draw(st.booleans()) else None
    check = EditSession(problem, x, reference).check(moves)
    after = check.assignment
    assert objective_terms(problem, after, reference) == check.after
    before = objective_terms(problem, x, reference)
    assert check.deltas == {k: check.after[k] - before[k] for k in before}
    expected = sorted(
        (v.rule, v.post_idx if v.rule.startswith("post_") else -1) for v in check_placement(problem, after)
    )
    got = sorted((v.rule, v.post_idx if v.rule.startswith("post_") else -1) for v in check.violations)
    assert [r for r, _ in got] == [r for r, _ in expected] and got == expected


def test_service_check_edit_on_a_stored_run(tmp_path: Path) -> None:
    from optimizer import service

    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    store = service.open_store(tmp_path / "runs.db", create=True)
    run = service.solve_and_record(service.load(folder / "scenario.toml"), store).run
    ctx = load_run(store, run.run_id)
    p, x = ctx.problem, ctx.assignment
    placed = int(np.flatnonzero(x >= 0)[0])
    staff_id = p.staff.ids[placed]
    result = service.check_edit(store, run.run_id, [{"staff_id": staff_id, "unit_id": None}])
    after = x.copy()
    after[placed] = -1
    assert result.after == objective_terms(p, after) and result.deltas["unplaced"] == 1
    assert sorted(v.rule for v in result.violations) == sorted(v.rule for v in check_placement(p, after))
    assert service.edit_session(store, "latest") is service.edit_session(store, run.run_id)  # kept open
    with pytest.raises(InputError):
        service.check_edit(store, "r9999", [])


def test_a_run_kept_open_is_read_back_signed_and_never_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer import replan, service

    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    store = service.open_store(tmp_path / "runs.db", create=True)
    loaded = service.load(folder / "scenario.toml")
    recorded = service.solve_and_record(loaded, store)
    run = recorded.run
    snapshots = SessionSnapshots(tmp_path / "sessions", b"k" * 32)
    service.keep_edit_session(loaded.problem, recorded, snapshots)  # as a web worker does
    ctx = load_run(store, run.run_id)
    moves = [EditMove("S04", "T03", "health")]  # a health worker onto the island: rule island
    rebuilt = EditSession(ctx.problem, ctx.assignment).check(moves)
    assert "island" in [v.rule for v in rebuilt.violations]

    def no_rebuild(*_: object) -> None:
        raise AssertionError("the run was rebuilt from its inputs")

    monkeypatch.setattr(replan, "load_run", no_rebuild)
    service._edit_sessions.clear()
    kept = service.check_edit(store, run.run_id, moves, snapshots)
    assert (kept.violations, kept.after, kept.names) == (rebuilt.violations, rebuilt.after, rebuilt.names)
    assert rebuilt.names == {
        s: ctx.problem.staff.full_name[ctx.problem.staff.id2idx[s]]
        for v in rebuilt.violations
        for s in v.staff_ids
    }
    # another key, or one byte changed: the file is not read (None), never unpickled
    path = snapshots.path(run.run_id, run.manifest_hash)
    assert SessionSnapshots(snapshots.folder, b"x" * 32).load(run.run_id, run.manifest_hash) is None
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert snapshots.load(run.run_id, run.manifest_hash) is None
    # one another version wrote (signed alike) is not read as today's session either
    import hashlib
    import hmac
    import pickle

    from optimizer import edit

    old = pickle.dumps((edit.SNAPSHOT_FORMAT - 1, "0.0.0", EditSession(ctx.problem, ctx.assignment)))
    path.write_bytes(hmac.new(snapshots.key, old, hashlib.sha256).digest() + old)
    assert snapshots.load(run.run_id, run.manifest_hash) is None
    # without a good snapshot the run is rebuilt once, and kept again
    monkeypatch.undo()
    service._edit_sessions.clear()
    again = service.check_edit(store, run.run_id, moves, snapshots)
    assert again.after == rebuilt.after
    assert snapshots.load(run.run_id, run.manifest_hash) is not None


def test_one_violation_per_pin_broken() -> None:
    p = build(
        [0, 5],
        [{"unit": 0, **A}, {"unit": 1, **A}],
        [{"origin": 0, "positions": ["a"]}],
        pins=[(0, 0, None, "fix"), (0, 1, None, "forbid")],
    )
    assert check(p, [0], EditMove("S0", "U1")) == [("pins", ("S0",)), ("pins", ("S0",))]
    assert len([v for v in check_placement(p, np.array([1])) if v.rule == "pins"]) == 2
