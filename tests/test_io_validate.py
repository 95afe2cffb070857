"""Every validation rule, one defect at a time, each test named after its defect.

Each case copies the clean fixture, breaks one thing, and checks that exactly the
expected problem is found where a planner would look for it (file, row, column).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_io_tiny import copy_clean, load_issues, read_rows, write_rows

from optimizer.errors import Issue
from optimizer.i18n import catalogue, get_lang, set_lang
from optimizer.io import load_problem, load_scenario


@pytest.fixture(autouse=True)
def _vietnamese() -> None:
    set_lang("vi")


Edit = Callable[[Path], None]


def set_cell(table: str, row: int, column: str, value: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = read_rows(folder / f"{table}.csv")
        rows[row - 2][column] = value
        write_rows(folder / f"{table}.csv", rows)

    return edit


def append_copy(table: str, row: int, **changes: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = read_rows(folder / f"{table}.csv")
        rows.append(dict(rows[row - 2], **changes))
        write_rows(folder / f"{table}.csv", rows)

    return edit


def append_row(table: str, **cells: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = read_rows(folder / f"{table}.csv")
        rows.append({k: cells.get(k, "") for k in rows[0]})
        write_rows(folder / f"{table}.csv", rows)

    return edit


def rename_column(table: str, old: str, new: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = read_rows(folder / f"{table}.csv")
        write_rows(
            folder / f"{table}.csv",
            [{(new if k == old else k): v for k, v in r.items()} for r in rows],
        )

    return edit


def add_column(table: str, header: str, value: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = read_rows(folder / f"{table}.csv")
        write_rows(folder / f"{table}.csv", [dict(r, **{header: value}) for r in rows])

    return edit


@dataclass(frozen=True)
class Defect:
    edit: Edit
    code: str
    table: str
    row: int | None
    column: str
    value: str = ""


ERRORS: dict[str, Defect] = {
    "units_missing_name_column": Defect(
        rename_column("units", "name", "ten_cu"), "missing_column", "units", None, "name"
    ),
    "units_two_name_columns": Defect(
        add_column("units", "Tên đơn vị", "x"), "duplicate_column", "units", None, "name"
    ),
    "units_blank_name": Defect(set_cell("units", 3, "name", "  "), "required", "units", 3, "name"),
    "units_duplicate_unit_id": Defect(
        append_copy("units", 2, name="Phường Mới"), "duplicate", "units", 7, "unit_id", "U1"
    ),
    "units_unknown_kind": Defect(
        set_cell("units", 4, "kind", "thị trấn"), "choice", "units", 4, "kind", "thị trấn"
    ),
    "units_latitude_above_90": Defect(set_cell("units", 2, "lat", "95"), "range", "units", 2, "lat", "95"),
    "units_latitude_in_words": Defect(
        set_cell("units", 2, "lat", "mười"), "number", "units", 2, "lat", "mười"
    ),
    "units_negative_area": Defect(
        set_cell("units", 5, "area_km2", "-3"), "range_gt", "units", 5, "area_km2", "-3"
    ),
    "units_unclear_island_flag": Defect(
        set_cell("units", 6, "island", "có lẽ"), "bool", "units", 6, "island", "có lẽ"
    ),
    "posts_duplicate_key": Defect(append_copy("posts", 3, min="0"), "duplicate_post", "posts", 13, "unit_id"),
    "posts_min_above_max": Defect(set_cell("posts", 3, "min", "4"), "min_gt_max", "posts", 3, "min", "4"),
    "posts_negative_min": Defect(set_cell("posts", 9, "min", "-1"), "range", "posts", 9, "min", "-1"),
    "posts_fractional_max": Defect(set_cell("posts", 3, "max", "2.5"), "integer", "posts", 3, "max", "2.5"),
    "posts_unknown_department": Defect(
        set_cell("posts", 6, "department", "phong_xyz"),
        "choice",
        "posts",
        6,
        "department",
        "phong_xyz",
    ),
    "posts_unknown_unit": Defect(
        set_cell("posts", 9, "unit_id", "U9"), "unknown_unit", "posts", 9, "unit_id", "U9"
    ),
    "staff_duplicate_staff_id": Defect(
        append_copy("staff", 6, full_name="Hoàng Văn Em (2)"),
        "duplicate",
        "staff",
        13,
        "staff_id",
        "S05",
    ),
    "staff_impossible_date": Defect(
        set_cell("staff", 6, "birth_date", "31/02/1990"),
        "date",
        "staff",
        6,
        "birth_date",
        "31/02/1990",
    ),
    "staff_born_in_the_future": Defect(
        set_cell("staff", 6, "birth_date", "01/01/2030"),
        "birth_range",
        "staff",
        6,
        "birth_date",
        "01/01/2030",
    ),
    "staff_unknown_gender": Defect(set_cell("staff", 7, "gender", "X"), "choice", "staff", 7, "gender", "X"),
    "staff_no_positions": Defect(
        set_cell("staff", 8, "positions", " ; "), "required", "staff", 8, "positions"
    ),
    "staff_unknown_origin_unit": Defect(
        set_cell("staff", 6, "origin_unit", "U7"), "unknown_unit", "staff", 6, "origin_unit", "U7"
    ),
    "staff_unknown_preferred_unit": Defect(
        set_cell("staff", 2, "preferences", "U1;U8"),
        "unknown_unit",
        "staff",
        2,
        "preferences",
        "U8",
    ),
    "staff_unknown_local_unit": Defect(
        set_cell("staff", 3, "local_units", "U0"), "unknown_unit", "staff", 3, "local_units", "U0"
    ),
    "staff_home_longitude_out_of_range": Defect(
        set_cell("staff", 4, "home_lon", "196.6"), "range", "staff", 4, "home_lon", "196.6"
    ),
    "relations_self_relation": Defect(
        set_cell("relations", 2, "relative_id", "S05"),
        "self_relation",
        "relations",
        2,
        "relative_id",
        "S05",
    ),
    "relations_unknown_relative": Defect(
        set_cell("relations", 3, "relative_id", "S99"),
        "unknown_staff",
        "relations",
        3,
        "relative_id",
        "S99",
    ),
    "relations_unknown_relation": Defect(
        set_cell("relations", 3, "relation", "bạn học"),
        "choice",
        "relations",
        3,
        "relation",
        "bạn học",
    ),
    "pins_unknown_staff": Defect(
        set_cell("pins", 3, "staff_id", "S77"), "unknown_staff", "pins", 3, "staff_id", "S77"
    ),
    "pins_unknown_unit": Defect(
        set_cell("pins", 3, "unit_id", "U6"), "unknown_unit", "pins", 3, "unit_id", "U6"
    ),
    "pins_unknown_position": Defect(
        set_cell("pins", 3, "position", "ghost_post"),
        "unknown_position",
        "pins",
        3,
        "position",
        "ghost_post",
    ),
    "pins_unknown_mode": Defect(set_cell("pins", 3, "mode", "maybe"), "choice", "pins", 3, "mode", "maybe"),
    "pins_fix_position_the_person_lacks": Defect(
        set_cell("pins", 2, "position", "public_service_desk"),
        "pin_position_not_held",
        "pins",
        2,
        "position",
        "public_service_desk",
    ),
    "pins_fix_position_the_unit_lacks": Defect(
        append_row("pins", staff_id="S04", unit_id="U3", position="health", mode="fix"),
        "pin_position_absent",
        "pins",
        4,
        "position",
        "health",
    ),
    "pins_fix_unit_without_a_matching_line": Defect(
        append_row("pins", staff_id="S07", unit_id="U1", mode="fix"),
        "pin_not_qualified",
        "pins",
        4,
        "unit_id",
        "U1",
    ),
    "pins_two_fixes_for_one_person": Defect(
        append_row("pins", staff_id="S08", unit_id="U1", mode="fix"),
        "pin_conflict_fix",
        "pins",
        4,
        "unit_id",
        "U1",
    ),
    "pins_fix_and_forbid_the_same_unit": Defect(
        append_row("pins", staff_id="S08", unit_id="U5", mode="forbid"),
        "pin_conflict_forbid",
        "pins",
        4,
        "unit_id",
        "U5",
    ),
}


WARNINGS: dict[str, Defect] = {
    "units_misspelt_optional_header": Defect(
        rename_column("units", "population", "populaton"),
        "unknown_column",
        "units",
        None,
        "populaton",
    ),
    "relations_repeated_reversed": Defect(
        append_row("relations", staff_id="S07", relative_id="S04", relation="sibling"),
        "relation_duplicate",
        "relations",
        4,
        "relative_id",
        "S04",
    ),
    "pins_repeated": Defect(append_copy("pins", 3), "pin_duplicate", "pins", 4, "staff_id"),
    "staff_misspelt_position": Defect(
        set_cell("staff", 5, "positions", "public_service_desk;helth"),
        "unused_position",
        "staff",
        5,
        "positions",
        "helth",
    ),
    "staff_aged_seventy": Defect(
        set_cell("staff", 6, "birth_date", "1955-01-01"),
        "age_unusual",
        "staff",
        6,
        "birth_date",
        "1955-01-01",
    ),
}


def _located(issue: Issue) -> tuple[str, str, int | None, str, str]:
    return (issue.code, Path(issue.file).stem, issue.row, issue.column, issue.value)


@pytest.mark.parametrize("defect", list(ERRORS), ids=list(ERRORS))
def test_error_is_found_and_located(tmp_path: Path, defect: str) -> None:
    case = ERRORS[defect]
    scenario = copy_clean(tmp_path)
    case.edit(scenario.parent)
    issues = load_issues(scenario)
    errors = [i for i in issues if i.severity == "error"]
    assert [_located(i) for i in errors] == [(case.code, case.table, case.row, case.column, case.value)]
    assert errors[0].message and errors[0].hint
    assert matches_template(errors[0].message, f"io.{case.code}")
    assert matches_template(errors[0].hint, f"io.{case.code}.hint") or case.code in HINT_BUILT


#: Codes whose hint is assembled from several messages (choices, suggestions).
HINT_BUILT = {"choice", "unknown_unit", "unknown_staff", "unknown_position", "missing_column"}


def matches_template(text: str, key: str) -> bool:
    """``text`` is catalogue message ``key`` with its placeholders filled in."""
    pattern = re.sub(r"\\\{\w+\\\}", ".*", re.escape(catalogue()[key][get_lang()]))
    return re.fullmatch(pattern, text, flags=re.DOTALL) is not None


@pytest.mark.parametrize("defect", list(WARNINGS), ids=list(WARNINGS))
def test_warning_is_found_and_does_not_stop(tmp_path: Path, defect: str) -> None:
    case = WARNINGS[defect]
    scenario = copy_clean(tmp_path)
    case.edit(scenario.parent)
    problem, warnings = load_problem(load_scenario(scenario))
    assert [_located(w) for w in warnings] == [(case.code, case.table, case.row, case.column, case.value)]
    assert warnings[0].severity == "warning"
    assert problem.num_staff >= 11


def test_suggestions_name_the_closest_valid_value(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    set_cell("posts", 6, "department", "dept_cultur_social")(scenario.parent)
    set_cell("posts", 9, "unit_id", "U44")(scenario.parent)
    issues = {i.code: i for i in load_issues(scenario)}
    assert "dept_culture_social" in issues["choice"].hint
    assert "U4" in issues["unknown_unit"].hint


def test_every_problem_of_every_table_is_reported_at_once(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    picked = [
        "units_latitude_above_90",
        "posts_min_above_max",
        "staff_unknown_gender",
        "relations_self_relation",
        "pins_unknown_unit",
        "staff_impossible_date",
    ]
    for name in picked:
        ERRORS[name].edit(scenario.parent)
    issues = load_issues(scenario)
    found = {_located(i) for i in issues}
    for name in picked:
        case = ERRORS[name]
        assert (case.code, case.table, case.row, case.column, case.value) in found, name
    assert len([i for i in issues if i.severity == "error"]) == len(picked)


def test_a_bad_cell_does_not_hide_references_in_the_same_row(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    set_cell("staff", 6, "gender", "?")(scenario.parent)
    set_cell("staff", 6, "origin_unit", "U7")(scenario.parent)
    assert sorted(i.code for i in load_issues(scenario)) == ["choice", "unknown_unit"]


def test_missing_required_column_lists_accepted_headers(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    rename_column("staff", "full_name", "ten")(scenario.parent)
    issue = load_issues(scenario)[0]
    assert issue.code == "missing_column"
    assert "họ và tên" in issue.hint
