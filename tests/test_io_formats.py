"""Each input format reads into the same problem; unreadable files become issues."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xlsxwriter
from test_io_tiny import CLEAN, TABLE_NAMES, codes, copy_clean, load_issues, read_rows

from optimizer.data import Problem
from optimizer.i18n import set_lang
from optimizer.io import load_problem, load_scenario
from optimizer.io.encodings import decode_vni, guess_legacy_encoding

DATA = Path(__file__).parent / "data" / "io"
NUMERIC = {"lat", "lon", "population", "area_km2", "min", "max", "home_lat", "home_lon"}
BOOLEAN = {"island", "leadership", "non_local", "island_ok"}


@pytest.fixture(autouse=True)
def _vietnamese() -> None:
    set_lang("vi")


def signature(problem: Problem) -> dict[str, Any]:
    """Everything a problem holds, as comparable plain values."""
    u, p, s = problem.units, problem.posts, problem.staff
    return {
        "units": (u.ids, u.names, u.kinds, u.lat.tolist(), u.lon.tolist(), u.island.tolist()),
        "posts": (
            p.unit_idx.tolist(),
            p.bloc,
            p.department,
            p.position,
            p.category,
            p.min.tolist(),
            p.max.tolist(),
            p.leadership.tolist(),
            p.non_local.tolist(),
        ),
        "staff": (
            s.ids,
            s.full_name,
            s.birth_date.tolist(),
            s.gender,
            s.category,
            s.bloc,
            s.positions,
            s.grade,
            s.former_unit,
            s.origin_idx.tolist(),
            s.home_lat.tolist(),
            s.home_lon.tolist(),
            s.local_idx,
            s.island_ok.tolist(),
            s.preferences,
        ),
        "relations": (problem.relations.a_idx.tolist(), problem.relations.b_idx.tolist()),
        "pins": (
            problem.pins.staff_idx.tolist(),
            problem.pins.unit_idx.tolist(),
            problem.pins.position,
            problem.pins.mode,
            problem.pins.note,
        ),
    }


@pytest.fixture(scope="module")
def clean_signature() -> dict[str, Any]:
    problem, _ = load_problem(load_scenario(CLEAN / "scenario.toml"))
    return signature(problem)


def scenario_for(folder: Path, data: dict[str, str]) -> Path:
    lines = ['name = "io-clean"', "[data]"] + [f'{k} = "{v}"' for k, v in data.items()]
    path = folder / "scenario.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_rows_sheet(
    book: xlsxwriter.Workbook, name: str, rows: list[dict[str, str]], title_rows: int = 0
) -> None:
    """Write rows as a sheet with typed Excel cells (numbers, dates, booleans, text)."""
    sheet = book.add_worksheet(name)
    date_format = book.add_format({"num_format": "dd/mm/yyyy"})
    for r in range(title_rows):
        sheet.write_string(r, 0, f"BẢNG {name.upper()} — dòng tiêu đề {r + 1}")
    header = list(rows[0])
    sheet.write_row(title_rows, 0, header)
    for i, row in enumerate(rows, start=title_rows + 1):
        for j, column in enumerate(header):
            value = row[column]
            if value == "":
                continue
            if column in NUMERIC and _is_number(value):
                sheet.write_number(i, j, float(value))
            elif column in BOOLEAN and value in ("true", "false"):
                sheet.write_boolean(i, j, value == "true")
            elif column == "birth_date" and _is_iso_date(value):
                sheet.write_datetime(i, j, dt.datetime.fromisoformat(value), date_format)
            else:
                sheet.write_string(i, j, value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def write_sheet(book: xlsxwriter.Workbook, name: str, table: str, title_rows: int = 0) -> None:
    """Write a clean CSV table as a sheet with typed Excel cells."""
    write_rows_sheet(book, name, read_rows(CLEAN / f"{table}.csv"), title_rows)


def test_csv_with_bom_reads_like_csv_without(tmp_path: Path, clean_signature: dict) -> None:
    scenario = copy_clean(tmp_path)
    for table in TABLE_NAMES:
        path = scenario.parent / f"{table}.csv"
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    problem, warnings = load_problem(load_scenario(scenario))
    assert warnings == []
    assert signature(problem) == clean_signature


def test_semicolon_csv_with_decimal_commas_reads_the_same(tmp_path: Path, clean_signature: dict) -> None:
    scenario = copy_clean(tmp_path)
    frame = pd.read_csv(CLEAN / "units.csv", dtype=str, keep_default_na=False)
    for column in ("lat", "lon"):
        frame[column] = frame[column].str.replace(".", ",", regex=False)
    frame.to_csv(scenario.parent / "units.csv", sep=";", index=False)
    problem, _ = load_problem(load_scenario(scenario))
    assert signature(problem) == clean_signature


def test_utf16_tab_separated_text_reads_the_same(tmp_path: Path, clean_signature: dict) -> None:
    scenario = copy_clean(tmp_path)
    frame = pd.read_csv(CLEAN / "staff.csv", dtype=str, keep_default_na=False)
    text = frame.to_csv(sep="\t", index=False)
    (scenario.parent / "staff.csv").write_bytes(text.encode("utf-16"))
    problem, _ = load_problem(load_scenario(scenario))
    assert signature(problem) == clean_signature


def test_one_workbook_with_a_sheet_per_table(tmp_path: Path, clean_signature: dict) -> None:
    book = xlsxwriter.Workbook(tmp_path / "book.xlsx")
    for table in TABLE_NAMES:
        write_sheet(book, table.capitalize(), table)
    book.close()
    scenario = scenario_for(tmp_path, {t: f"book.xlsx#{t.capitalize()}" for t in TABLE_NAMES})
    loaded = load_scenario(scenario)
    assert loaded.sheets == {t: t.capitalize() for t in TABLE_NAMES}
    problem, warnings = load_problem(loaded)
    assert warnings == []
    assert signature(problem) == clean_signature


def test_a_workbook_per_table_reads_its_first_sheet(tmp_path: Path, clean_signature: dict) -> None:
    for table in TABLE_NAMES:
        book = xlsxwriter.Workbook(tmp_path / f"{table}.xlsx")
        write_sheet(book, "Sheet1", table)
        book.add_worksheet("notes")
        book.close()
    scenario = scenario_for(tmp_path, {t: f"{t}.xlsx" for t in TABLE_NAMES})
    problem, _ = load_problem(load_scenario(scenario))
    assert signature(problem) == clean_signature


def test_sheet_name_is_matched_without_case_or_accents(tmp_path: Path) -> None:
    book = xlsxwriter.Workbook(tmp_path / "book.xlsx")
    write_sheet(book, "Đơn vị", "units")
    for table in TABLE_NAMES[1:]:
        write_sheet(book, table, table)
    book.close()
    data = {t: f"book.xlsx#{t}" for t in TABLE_NAMES} | {"units": "book.xlsx#don vi"}
    problem, _ = load_problem(load_scenario(scenario_for(tmp_path, data)))
    assert problem.num_units == len(read_rows(CLEAN / "units.csv"))


def test_title_rows_above_the_header_keep_excel_row_numbers(tmp_path: Path) -> None:
    book = xlsxwriter.Workbook(tmp_path / "book.xlsx")
    for table in TABLE_NAMES:
        write_sheet(book, table, table, title_rows=2 if table == "staff" else 0)
    book.close()
    scenario = scenario_for(tmp_path, {t: f"book.xlsx#{t}" for t in TABLE_NAMES})
    # Break the fourth person's gender: header on Excel row 3, so the person is on row 7.
    import openpyxl

    wb = openpyxl.load_workbook(tmp_path / "book.xlsx")
    ws = wb["staff"]
    header = [c.value for c in ws[3]]
    ws.cell(row=7, column=header.index("gender") + 1, value="không rõ")
    wb.save(tmp_path / "book.xlsx")
    issues = load_issues(scenario)
    assert [(i.code, i.sheet, i.row, i.column, i.value) for i in issues] == [
        ("choice", "staff", 7, "gender", "không rõ")
    ]


def test_numeric_unit_ids_in_excel_match_text_ids_in_csv(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    folder = scenario.parent
    codes_by_id = {f"U{k}": str(26500 + k) for k in range(1, 6)}
    for table in ("posts", "staff", "pins"):
        text = (folder / f"{table}.csv").read_text(encoding="utf-8")
        for old, new in codes_by_id.items():
            text = text.replace(old, new)
        (folder / f"{table}.csv").write_text(text, encoding="utf-8")
    rows = read_rows(CLEAN / "units.csv")
    book = xlsxwriter.Workbook(folder / "units.xlsx")
    sheet = book.add_worksheet("units")
    sheet.write_row(0, 0, list(rows[0]))
    for i, row in enumerate(rows, start=1):
        cells = dict(row, unit_id=float(codes_by_id[row["unit_id"]]))
        for j, value in enumerate(cells.values()):
            sheet.write(i, j, value)
    book.close()
    text = scenario.read_text(encoding="utf-8").replace('"units.csv"', '"units.xlsx"')
    scenario.write_text(text, encoding="utf-8")
    problem, _ = load_problem(load_scenario(scenario))
    assert problem.units.ids == tuple(codes_by_id.values())
    assert problem.staff.preferences[0] == (0, 1)


def test_parquet_tables_read_the_same(tmp_path: Path, clean_signature: dict) -> None:
    for table in TABLE_NAMES:
        frame = pd.read_csv(CLEAN / f"{table}.csv", dtype=str, keep_default_na=False)
        for column in frame.columns:
            if column in NUMERIC:
                frame[column] = frame[column].astype(float)
            elif column in BOOLEAN:
                frame[column] = frame[column] == "true"
            elif column == "birth_date":
                frame[column] = pd.to_datetime(frame[column])
        if "positions" in frame.columns:
            frame["positions"] = [p.split(";") for p in frame["positions"]]
        frame.to_parquet(tmp_path / f"{table}.parquet")
    scenario = scenario_for(tmp_path, {t: f"{t}.parquet" for t in TABLE_NAMES})
    problem, warnings = load_problem(load_scenario(scenario))
    assert warnings == []
    assert signature(problem) == clean_signature


@pytest.mark.parametrize(
    ("defect_file", "encoding"),
    [
        ("staff_tcvn3_encoding.csv", "TCVN3"),
        ("staff_vni_encoding.csv", "VNI"),
        ("staff_windows1258_encoding.csv", "Windows-1258"),
    ],
)
def test_legacy_encodings_are_refused_naming_the_encoding(
    tmp_path: Path, defect_file: str, encoding: str
) -> None:
    scenario = copy_clean(tmp_path)
    shutil.copy(DATA / defect_file, scenario.parent / "staff.csv")
    issues = load_issues(scenario)
    assert codes(issues) == ["encoding_legacy"]
    assert encoding in issues[0].message
    assert "UTF-8" in issues[0].hint


def test_vni_decoder_reads_known_vni_text() -> None:
    # "Xin chào các bạn" as the vietnamese-conversion package prints it in VNI.
    assert decode_vni("Xin chaøo caùc baïn".encode("cp1252")) == "Xin chào các bạn"
    assert decode_vni("Nguyeãn Phöôøng".encode("cp1252")) == "Nguyễn Phường"


def test_bytes_that_are_no_vietnamese_encoding_get_the_generic_message(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    (scenario.parent / "staff.csv").write_bytes(bytes(range(128, 256)) * 4)
    assert guess_legacy_encoding(bytes(range(128, 256)) * 4) is None
    assert codes(load_issues(scenario)) == ["encoding_unknown"]


def test_text_typed_with_a_tcvn3_font_is_flagged(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    path = scenario.parent / "staff.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace("Nguyễn Văn An", "NguyÔn V¨n An"), encoding="utf-8"
    )
    _, warnings = load_problem(load_scenario(scenario))
    assert [(w.code, w.row, w.column, w.value) for w in warnings] == [
        ("legacy_font", 2, "full_name", "NguyÔn V¨n An")
    ]


def test_missing_sheet_lists_the_sheets_that_exist(tmp_path: Path) -> None:
    book = xlsxwriter.Workbook(tmp_path / "book.xlsx")
    for table in TABLE_NAMES:
        write_sheet(book, table, table)
    book.close()
    data = {t: f"book.xlsx#{t}" for t in TABLE_NAMES} | {"staff": "book.xlsx#roster"}
    issues = load_issues(scenario_for(tmp_path, data))
    assert codes(issues) == ["sheet_missing"]
    assert "roster" in issues[0].message
    assert all(t in issues[0].hint for t in TABLE_NAMES)


@pytest.mark.parametrize(
    ("content", "suffix", "code"),
    [
        (b"", ".csv", "file_empty"),
        (b"staff_id,relative_id,relation\n", ".csv", None),
        (b"this is not a workbook", ".xlsx", "file_unreadable"),
        (b"not parquet", ".parquet", "file_unreadable"),
        (b'{"a": 1}', ".json", "file_format"),
        (b'a,b\n"unclosed,1\n', ".csv", "csv_broken"),
        (b"a\x00,\x00b\x00\n\x00\x00\x00", ".csv", "csv_broken"),
    ],
    ids=[
        "empty_csv",
        "header_only_optional",
        "fake_xlsx",
        "fake_parquet",
        "json",
        "unclosed_quote",
        "nul_bytes",
    ],
)
def test_unreadable_relations_file(tmp_path: Path, content: bytes, suffix: str, code: str | None) -> None:
    scenario = copy_clean(tmp_path)
    path = scenario.parent / f"relations{suffix}"
    path.write_bytes(content)
    text = scenario.read_text(encoding="utf-8").replace('"relations.csv"', f'"{path.name}"')
    scenario.write_text(text, encoding="utf-8")
    if code is None:
        problem, _ = load_problem(load_scenario(scenario))
        assert len(problem.relations) == 0
    else:
        issues = load_issues(scenario)
        assert codes(issues) == [code]
        assert issues[0].file.endswith(path.name)


def test_header_only_staff_table_is_an_error(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    path = scenario.parent / "staff.csv"
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    assert "file_no_rows" in codes(load_issues(scenario))


def test_a_stray_comma_in_a_csv_row_is_reported_on_its_row(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    path = scenario.parent / "units.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("Xã Bình Chánh", "Xã Bình Chánh, huyện cũ")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    issues = load_issues(scenario)
    assert (issues[0].code, issues[0].row) == ("extra_cells", 4)


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    path = scenario.parent / "posts.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(2, ",,,,,,,,")
    lines.insert(2, "")
    assert lines[5].startswith("U1,party,party_office,party_secretary,cadre,1,1,")
    lines[5] = lines[5].replace("cadre,1,1,", "cadre,3,1,")  # Excel row 6: min > max
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    issues = load_issues(scenario)
    assert [(i.code, i.row, i.column, i.value) for i in issues] == [("min_gt_max", 6, "min", "3")]
