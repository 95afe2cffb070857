"""``optimizer.replan``: the changes file, applying it, and re-plans that change only the
placements they must (checked against an exact MIP on the same objective)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from builders import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.check import check_placement, objective_terms
from optimizer.data import CHANGES, Objective, Problem
from optimizer.errors import InputError
from optimizer.i18n import set_lang
from optimizer.replan import (
    REPLAN_WEIGHTS,
    apply_changes,
    read_changes,
    replan,
    replan_objective,
)
from optimizer.solve import solve
from optimizer.solve.baselines import highs_mip
from optimizer.solve.candidates import build_candidates

A = {"position": "a"}


@pytest.fixture(autouse=True)
def english() -> None:
    set_lang("en")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def three_for_two() -> Problem:
    # Two posts "a" (unit 0's has min 1), three people: S2 is the surplus, left unplaced.
    return build(
        [0, 10],
        [{"unit": 0, **A, "min": 1}, {"unit": 1, **A}],
        [
            {"origin": 0, "positions": ["a"]},
            {"origin": 1, "positions": ["a"]},
            {"origin": 1, "positions": ["a"], "home": 12},
        ],
    )


# --------------------------------------------------------------------------- the file


def test_changes_file_with_vietnamese_headers_and_actions(tmp_path: Path) -> None:
    p = three_for_two()
    path = write(
        tmp_path / "thay_doi.csv",
        "Thao tác,Mã cán bộ,Lý do,Ngày,Họ và tên,Ngày sinh,Giới tính,Loại,Khối,Vị trí việc làm,"
        "Đơn vị gốc,Vĩ độ nhà,Kinh độ nhà,Mã ĐVHC,Phòng ban,Tối thiểu,Biên chế\n"
        "Nghỉ,S0,nghỉ hưu trước tuổi (NĐ 178),01/09/2025,,,,,,,,,,,,,\n"
        "Đến,N1,tiếp nhận,,Võ Văn Mới,03/02/1988,Nam,Công chức,Khối chính quyền,a;x,U1,0,0.05,,,,\n"
        "Thay đổi biên chế,,,,,,,Công chức,Khối chính quyền,a,,,,U1,Văn phòng HĐND và UBND,,2\n"
        "Thay đổi biên chế,,,,,,,Công chức,Khối chính quyền,b,,,,U0,Phòng Kinh tế,1,1\n",
    )
    changes = read_changes(path, p)
    assert [(lv.staff_id, lv.reason, lv.date) for lv in changes.leaves] == [
        ("S0", "nghỉ hưu trước tuổi (NĐ 178)", "2025-09-01")
    ]
    [arrival] = changes.arrivals
    assert arrival.staff_id == "N1" and arrival.fields["gender"] == "M"
    assert arrival.fields["positions"] == ("a", "x")
    keys = [(c.key, c.min, c.max) for c in changes.post_changes]
    assert keys == [
        (("U1", "government", "dept_office", "a", "civil_servant"), None, 2),
        (("U0", "government", "dept_economy", "b", "civil_servant"), 1, 1),
    ]
    # position "x" has no post line: a warning, not an error
    assert [(w.row, w.column, w.value, w.code) for w in changes.warnings] == [
        (3, "Vị trí việc làm", "x", "unknown_position")
    ]
    assert len(changes.digest) == 64


def test_every_bad_cell_is_reported_with_its_location(tmp_path: Path) -> None:
    p = three_for_two()
    path = write(
        tmp_path / "changes.csv",
        "action,staff_id,full_name,birth_date,gender,category,bloc,positions,origin_unit,home_lat,home_lon,"
        "unit_id,department,position,min,max\n"
        "fly,S0,,,,,,,,,,,,,,\n"  # row 2: bad action
        "leave,ZZ,,,,,,,,,,,,,,\n"  # row 3: unknown person
        "arrive,N1,,1990-01-01,F,civil_servant,government,a,U0,0,0,,,,,\n"  # row 4: no name
        "arrive,S1,Lê B,1990-01-01,F,civil_servant,government,a,U0,0,0,,,,,\n"  # row 5: id taken
        "post_change,,,,,civil_servant,government,,,,,U9,dept_office,a,,1\n"  # row 6: unknown unit
        "post_change,,,,,civil_servant,government,,,,,U0,dept_office,a,,abc\n"  # row 7: not a number
        "post_change,,,,,civil_servant,government,,,,,U1,dept_office,z,1,\n"  # row 8: new line, no max
        "leave,S2,,,,,,,,,,,,,,\n"  # row 9
        "leave,S2,,,,,,,,,,,,,,\n"  # row 10: twice
        "post_change,,,,,civil_servant,government,,,,,U0,dept_office,a,3,2\n",  # row 11: min > max
    )
    with pytest.raises(InputError) as err:
        read_changes(path, p)
    found = {(i.row, i.column, i.code) for i in err.value.errors}
    assert found == {
        (2, "action", "choice"),
        (3, "staff_id", "unknown_staff"),
        (4, "full_name", "required"),
        (5, "staff_id", "arrival_exists"),
        (6, "unit_id", "unknown_unit"),
        (7, "max", "integer"),
        (8, "max", "new_line_max"),
        (10, "staff_id", "duplicate"),
        (11, "min", "min_gt_max"),
    }
    assert all(i.file.endswith("changes.csv") and i.message and i.hint for i in err.value.errors)


def test_missing_action_column(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "staff_id,reason\nS0,gone\n")
    with pytest.raises(InputError) as err:
        read_changes(path, three_for_two())
    assert [i.code for i in err.value.errors] == ["missing_column"]


def test_a_missing_column_is_reported_once_per_action(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "action,reason\nleave,a\nleave,b\narrive,c\narrive,d\n")
    with pytest.raises(InputError) as err:
        read_changes(path, three_for_two())
    missing = sorted(i.column for i in err.value.errors if i.code == "missing_column")
    # staff_id once for the two leave rows and once for the two arrive rows
    assert missing == sorted(
        [
            "staff_id",
            "staff_id",
            "full_name",
            "birth_date",
            "gender",
            "category",
            "bloc",
            "positions",
            "origin_unit",
            "home_lat",
            "home_lon",
        ]
    )
    assert all(i.row is None for i in err.value.errors)


def test_changes_from_a_workbook_sheet(tmp_path: Path) -> None:
    book = tmp_path / "book.xlsx"
    with pd.ExcelWriter(book) as xl:
        pd.DataFrame({"x": [1]}).to_excel(xl, sheet_name="other", index=False)
        pd.DataFrame({"action": ["leave", "leave"], "staff_id": ["S1", "S7"]}).to_excel(
            xl, sheet_name="changes", index=False
        )
    with pytest.raises(InputError) as err:
        read_changes(f"{book}#changes", three_for_two())
    [issue] = err.value.errors
    assert (issue.sheet, issue.row, issue.column, issue.value) == ("changes", 3, "staff_id", "S7")


# --------------------------------------------------------------------------- applying


def test_apply_changes(tmp_path: Path) -> None:
    p = build(
        [0, 10],
        [{"unit": 0, **A}, {"unit": 1, **A}],
        [
            {"origin": 0, "positions": ["a"]},
            {"origin": 1, "positions": ["a"]},
            {"origin": 1, "positions": ["a"]},
        ],
        relations=[(0, 1), (1, 2)],
        pins=[(0, 0, None, "fix"), (2, 1, None, "forbid")],
    )
    x = np.array([0, 1, -1])
    path = write(
        tmp_path / "c.csv",
        "action,staff_id,full_name,birth_date,gender,category,bloc,positions,origin_unit,home_lat,home_lon,"
        "unit_id,department,position,min,max\n"
        "leave,S0,,,,,,,,,,,,,,\n"
        "arrive,N1,Võ Mới,1990-01-01,F,civil_servant,government,a,U0,0,0.0899,,,,,\n"
        "post_change,,,,,civil_servant,government,,,,,U1,dept_office,a,,0\n"
        "post_change,,,,,civil_servant,government,,,,,U0,dept_office,b,0,2\n",
    )
    applied = apply_changes(p, x, read_changes(path, p))
    q = applied.problem
    assert q.staff.ids == ("S1", "S2", "N1")
    assert applied.old_index.tolist() == [1, 2, -1]
    assert applied.reference.tolist() == [1, -1, -1]
    assert list(zip(q.relations.a_idx.tolist(), q.relations.b_idx.tolist(), strict=True)) == [(0, 1)]
    assert q.pins.staff_idx.tolist() == [1] and q.pins.mode == ("forbid",)
    assert q.staff.local_idx[2] == (0, 1)  # origin U0, and U1 (10 km east) is nearest home
    assert q.posts.max.tolist() == [1, 0, 2] and q.posts.position[2] == "b"


# --------------------------------------------------------------------------- re-planning


def leave_file(tmp_path: Path, staff_id: str) -> Path:
    return write(tmp_path / "leave.csv", f"action,staff_id,reason\nleave,{staff_id},retired\n")


def test_one_departure_changes_only_what_it_must(tmp_path: Path) -> None:
    p = three_for_two()
    base = solve(p).assignment
    assert base.tolist() == [0, 1, -1]
    plan = replan(p, base, read_changes(leave_file(tmp_path, "S0"), p))
    # S0's post has a minimum: the surplus S2 fills it (1 change); S1 stays.
    assert plan.result.values["shortfall"] == 0 and plan.result.values[CHANGES] == 1
    assert [(c.staff_id, c.why) for c in plan.changes] == [("S0", "left"), ("S2", "was_unplaced")]
    assert [(c.from_unit, c.to_unit) for c in plan.changes] == [("U0", ""), ("", "U0")]


def test_a_proven_replan_reports_every_stage_optimal(tmp_path: Path) -> None:
    """``prove=True`` runs the multipliers and the exact finish: every stage is proven;
    the quick default gives the same placement here, checked and recomputed."""
    p = three_for_two()
    base = solve(p).assignment
    changes = read_changes(leave_file(tmp_path, "S0"), p)
    proven = replan(p, base, changes, prove=True)
    quick = replan(p, base, changes)
    assert proven.result.proven
    assert all(st.status == "optimal" for st in proven.result.stages)
    assert quick.result.values == proven.result.values
    assert (
        quick.result.has_placement and quick.result.assignment.tolist() == proven.result.assignment.tolist()
    )


def test_changes_first_moves_nobody(tmp_path: Path) -> None:
    p = three_for_two()
    base = solve(p).assignment
    plan = replan(p, base, read_changes(leave_file(tmp_path, "S0"), p), mode="changes_first")
    assert plan.result.values[CHANGES] == 0 and plan.result.values["shortfall"] == 1
    assert [c.why for c in plan.changes] == ["left"]


def test_a_closed_post_line_forces_its_holder_out(tmp_path: Path) -> None:
    p = three_for_two()
    base = solve(p).assignment
    path = write(
        tmp_path / "c.csv",
        "action,unit_id,bloc,department,position,category,max\npost_change,U1,government,dept_office,a,civil_servant,0\n",
    )
    plan = replan(p, base, read_changes(path, p))
    assert plan.result.values[CHANGES] == 1
    [change] = plan.changes
    assert (change.staff_id, change.why, change.to_unit) == ("S1", "post_changed", "")


def test_move_penalty_weighs_changes() -> None:
    assert replan_objective(Objective(), "penalty", 7).weights == (*REPLAN_WEIGHTS, (CHANGES, 7))
    assert replan_objective(Objective(), "default").priorities[:3] == ("shortfall", "unplaced", CHANGES)
    assert replan_objective(Objective(), "changes_first").priorities[0] == CHANGES
    weighted = Objective(weights=(("shortfall", 10), ("moves", 3)))
    assert replan_objective(weighted).weights == (("shortfall", 10), ("moves", 3), (CHANGES, 3))
    with pytest.raises(ValueError):
        replan_objective(weighted, "changes_first")


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    num_units = draw(st.integers(2, 4))
    units = sorted(draw(st.lists(st.floats(0, 40), min_size=num_units, max_size=num_units)))
    posts = []
    for u in range(num_units):
        for pos in ("a", "b"):
            hi = draw(st.integers(0, 2))
            posts.append({"unit": u, "position": pos, "max": hi, "min": draw(st.integers(0, hi))})
    staff = [
        {
            "origin": (o := draw(st.integers(0, num_units - 1))),
            "positions": draw(st.sampled_from([["a"], ["b"], ["a", "b"]])),
            "home": units[o] + draw(st.floats(-6, 6)),
        }
        for _ in range(draw(st.integers(2, 7)))
    ]
    return build(units, posts, staff)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.data())
def test_replan_after_one_departure_is_minimal(
    tmp_path_factory: pytest.TempPathFactory, p: Problem, data: st.DataObject
) -> None:
    base = solve(p)
    placed = np.flatnonzero(base.assignment >= 0)
    if len(placed) == 0:
        return
    leaver = int(data.draw(st.sampled_from(placed.tolist())))
    path = leave_file(tmp_path_factory.mktemp("r"), p.staff.ids[leaver])
    plan = replan(p, base.assignment, read_changes(path, p))
    assert plan.result.has_placement
    assert check_placement(plan.problem, plan.result.assignment) == []
    # the exact MIP on the same problem and objective: no fewer changes are possible
    cand = build_candidates(plan.problem, plan.reference)
    exact = highs_mip(plan.problem, 30.0, cand)
    assert exact.status == "optimal"
    mip_changes = int(np.count_nonzero(exact.assignment != plan.reference))
    values = plan.result.values
    mip_values = objective_terms(plan.problem, exact.assignment, plan.reference)
    for term in ("shortfall", "unplaced", CHANGES):
        assert values[term] == mip_values[term], term
    assert values[CHANGES] == mip_changes
    # and everyone not listed keeps their post
    listed = {c.staff_id for c in plan.changes}
    kept = [i for i in range(plan.problem.num_staff) if plan.problem.staff.ids[i] not in listed]
    assert all(plan.result.assignment[i] == plan.reference[i] for i in kept)


def test_a_replan_from_the_command_line_is_proven_unless_quick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``staffplan replan`` proves by default (faster than the quick repairs on a re-plan,
    benchmarks/README.md); ``--quick`` asks for the quick placement; both are stored."""
    import shutil

    from click.testing import CliRunner

    from optimizer import service
    from optimizer.cli import main
    from optimizer.store import RunStore

    shutil.copytree(Path(__file__).parent.parent / "scenarios" / "tiny", tmp_path / "tiny")
    db = str(tmp_path / "s.db")
    runner = CliRunner()
    assert (
        runner.invoke(main, ["run", str(tmp_path / "tiny" / "scenario.toml"), "--store", db]).exit_code == 0
    )
    changes = write(tmp_path / "changes.csv", "action,staff_id\nleave,S01\n")
    asked: list[bool] = []
    solve_replan = service.solve_replan

    def spy(*args: Any, prove: bool, **kwargs: Any) -> Any:
        asked.append(prove)
        return solve_replan(*args, prove=prove, **kwargs)

    monkeypatch.setattr(service, "solve_replan", spy)
    for flags in ((), ("--quick",), ("--prove",)):
        res = runner.invoke(main, ["replan", "r0001", "--changes", str(changes), "--store", db, *flags])
        assert res.exit_code == 0, res.output
    assert asked == [True, False, True]
    assert len(RunStore(db).list()) == 4
