"""Cell parsing: Vietnamese headers and values, NFC, dates, booleans, lists."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_io_tiny import CLEAN, copy_clean, read_rows, write_rows

from optimizer.i18n import set_lang
from optimizer.io import load_problem, load_scenario
from optimizer.io.tables import cell_text, parse_column, split_list
from optimizer.io.vocab import BOOL_VALUES, TABLES, fold


@pytest.fixture(autouse=True)
def _vietnamese() -> None:
    set_lang("vi")


VIETNAMESE_HEADERS = {
    "units": {
        "unit_id": "Mã ĐVHC",
        "name": "Tên đơn vị",
        "population": "Dân số",
        "area_km2": "Diện tích",
    },
    "posts": {
        "bloc": "Khối",
        "department": "Phòng ban",
        "position": "Vị trí việc làm",
        "category": "Loại",
        "min": "Tối thiểu",
        "max": "Biên chế",
        "unit_id": "MÃ ĐVHC",
    },
    "staff": {
        "staff_id": "Mã cán bộ",
        "full_name": "Họ và tên",
        "birth_date": "Ngày sinh",
        "gender": "Giới tính",
        "grade": "Ngạch",
        "former_unit": "Đơn vị cũ",
    },
    "pins": {"note": "ghi chu"},
}


def test_vietnamese_headers_are_accepted_and_kept_for_messages(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    baseline, _ = load_problem(load_scenario(CLEAN / "scenario.toml"))
    for table, renames in VIETNAMESE_HEADERS.items():
        rows = read_rows(scenario.parent / f"{table}.csv")
        renamed = [{renames.get(k, k): v for k, v in row.items()} for row in rows]
        write_rows(scenario.parent / f"{table}.csv", renamed)
    problem, warnings = load_problem(load_scenario(scenario))
    assert warnings == []
    assert problem.staff.full_name == baseline.staff.full_name
    assert list(problem.posts.max) == list(baseline.posts.max)
    # A bad cell is reported under the header the planner wrote.
    rows = read_rows(scenario.parent / "staff.csv")
    rows[0]["Giới tính"] = "?"
    write_rows(scenario.parent / "staff.csv", rows)
    from test_io_tiny import load_issues

    issue = load_issues(scenario)[0]
    assert (issue.column, issue.row, issue.value) == ("Giới tính", 2, "?")


def test_no_alias_maps_to_two_columns_of_one_table() -> None:
    for spec in TABLES.values():
        seen: dict[str, str] = {}
        for col in spec.columns:
            for alias in (col.name, *col.aliases):
                key = fold(alias)
                assert seen.setdefault(key, col.name) == col.name, (spec.name, alias)


def test_headers_fold_case_accents_and_punctuation() -> None:
    assert fold("Mã ĐVHC") == fold("ma dvhc") == fold("MA_DVHC") == "ma_dvhc"
    assert fold("  Họ và tên ") == "ho_va_ten"
    assert fold("Phòng KT-HT-ĐT") == "phong_kt_ht_dt"


def test_decomposed_unicode_equals_composed(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    for table in ("units", "staff", "pins"):
        path = scenario.parent / f"{table}.csv"
        text = path.read_text(encoding="utf-8")
        nfd = unicodedata.normalize("NFD", text)
        assert nfd != text
        path.write_text(nfd, encoding="utf-8")
    baseline, _ = load_problem(load_scenario(CLEAN / "scenario.toml"))
    problem, _ = load_problem(load_scenario(scenario))
    assert problem.staff.full_name == baseline.staff.full_name
    assert problem.units.names == baseline.units.names
    assert problem.pins.note == baseline.pins.note
    assert all(unicodedata.is_normalized("NFC", n) for n in problem.staff.full_name)


def test_trailing_spaces_and_zero_width_marks_are_stripped() -> None:
    assert cell_text("  Nguyễn Văn An \u200b") == "Nguyễn Văn An"
    assert cell_text("\ufeffU1") == "U1"
    assert cell_text("   ") is None
    assert cell_text(26506.0) == "26506"
    assert cell_text(10.5) == "10.5"
    assert cell_text(float("nan")) is None
    assert cell_text(dt.datetime(1980, 5, 17)) == "1980-05-17"
    assert cell_text(["finance", " health "]) == "finance; health"


def _parse(table: str, column: str, cells: Sequence[str | None], workbook: bool = False) -> list[object]:
    col = TABLES[table].column(column)
    series = pd.Series(list(cells), index=range(2, 2 + len(cells)), dtype=object)
    return parse_column(series, col, workbook).tolist()


def test_dates_in_iso_and_day_first_forms() -> None:
    cells = [
        "1980-05-17",
        "17/05/1980",
        "17-05-1980",
        "7/5/1980",
        "17.05.1980",
        "1980-05-17 00:00:00",
    ]
    parsed = _parse("staff", "birth_date", cells)
    expected = [pd.Timestamp(1980, 5, 17)] * 3 + [pd.Timestamp(1980, 5, 7)] + [pd.Timestamp(1980, 5, 17)] * 2
    assert parsed == expected


def test_impossible_dates_stay_as_text_for_the_validator() -> None:
    assert _parse("staff", "birth_date", ["31/02/1980", "1980-13-01", "May 1980", None]) == [
        "31/02/1980",
        "1980-13-01",
        "May 1980",
        None,
    ]


def test_excel_date_serials_only_from_workbooks() -> None:
    serial = str((dt.date(1980, 5, 17) - dt.date(1899, 12, 30)).days)
    assert _parse("staff", "birth_date", [serial], workbook=True) == [pd.Timestamp(1980, 5, 17)]
    assert _parse("staff", "birth_date", [serial], workbook=False) == [serial]


@pytest.mark.parametrize("text", ["true", "TRUE", "1", "yes", "có", "Có", "x", "X"])
def test_true_spellings(text: str) -> None:
    assert _parse("posts", "leadership", [text]) == [True]


@pytest.mark.parametrize("text", ["false", "0", "no", "không", "Không", None])
def test_false_spellings_and_blank(text: str | None) -> None:
    assert _parse("posts", "leadership", [text]) == [False]


def test_unknown_boolean_is_kept_for_the_validator() -> None:
    assert _parse("posts", "leadership", ["maybe"]) == ["maybe"]
    assert "maybe" not in BOOL_VALUES


@pytest.mark.parametrize(
    ("table", "column", "text", "code"),
    [
        ("staff", "gender", "Nữ", "F"),
        ("staff", "gender", "nam", "M"),
        ("staff", "gender", "F", "F"),
        ("staff", "category", "Công chức", "civil_servant"),
        ("staff", "category", "cán bộ", "cadre"),
        ("staff", "bloc", "Khối chính quyền", "government"),
        ("staff", "bloc", "Đảng, đoàn thể", "party"),
        ("posts", "department", "Phòng Văn hóa - Xã hội", "dept_culture_social"),
        ("posts", "department", "TTPVHCC", "public_service_center"),
        ("posts", "department", "Phòng KT-HT-ĐT", "dept_economy_urban"),
        ("units", "kind", "Phường", "ward"),
        ("units", "kind", "Đặc khu", "special_zone"),
        ("relations", "relation", "Vợ", "spouse"),
        ("relations", "relation", "anh chị em", "sibling"),
        ("pins", "mode", "Cố định", "fix"),
        ("pins", "mode", "cấm", "forbid"),
    ],
)
def test_vietnamese_values_map_to_codes(table: str, column: str, text: str, code: str) -> None:
    assert _parse(table, column, [text]) == [code]


def test_numbers_accept_decimal_comma_only_for_coordinates() -> None:
    assert _parse("units", "lat", ["10,7769", "10.7769"]) == [10.7769, 10.7769]
    assert _parse("units", "population", ["117,413"]) == ["117,413"]
    assert _parse("posts", "min", ["3", "3.0", "2.5", "ba"]) == [3.0, 3.0, "2.5", "ba"]


def test_lists_split_on_semicolons_and_commas() -> None:
    assert split_list("finance; health ,, land;") == ("finance", "health", "land")
    assert _parse("staff", "positions", ["finance;health", " ", None]) == [
        ("finance", "health"),
        None,
        None,
    ]


def test_explicit_local_units_replace_the_default(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    rows = read_rows(scenario.parent / "staff.csv")
    rows[0]["local_units"] = "U4; U5"
    write_rows(scenario.parent / "staff.csv", rows)
    problem, _ = load_problem(load_scenario(scenario))
    assert problem.staff.local_idx[0] == (3, 4)
    assert np.array_equal(problem.local_mask[0], [False, False, False, True, True])


def test_only_a_cell_longer_than_excel_holds_is_refused(tmp_path: Path) -> None:
    from optimizer.io.tables import MAX_CELL_CHARS, TableSource, read_table

    path = tmp_path / "staff.csv"
    names = ["Nguyễn Văn An", "x" * MAX_CELL_CHARS, "y" * (MAX_CELL_CHARS + 1), None]
    rows = [
        f"S{k},{name or ''},1980-01-01,M,civil_servant,government,specialist" for k, name in enumerate(names)
    ]
    path.write_text(
        "staff_id,full_name,birth_date,gender,category,bloc,positions\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    raw = read_table(TABLES["staff"], TableSource(path), {})
    long = [i for i in raw.issues if i.code == "cell_too_long"]
    assert [(i.row, i.column) for i in long] == [(4, "full_name")]  # Excel row 4: the third person
