"""Strict types and limits on input (issue 17, point 5).

Findings: 4 (``true`` read as 1), 7 (a unit name became a live link in the report), 10
(a 100,000-character name cut in xlsx without a message), 14 (``reference_date =
0001-01-01``, huge weights, TOML and GeoJSON nested 100,000 deep, ``{"features": "x"}``,
``sweep --set foo.bar=1,2``), 15 (a huge xlsx sheet), 16 (``--set foo.bar=1`` said nothing,
a NUL byte decoded as UTF-16, a folder / FIFO / ``/dev/zero`` "not found", GeoJSON errors
in Vietnamese under ``--lang en``, an uncached formula or ``#N/A`` called blank, the
``objective.priorities=[]`` error blamed the file, hidden sheets and rows read silently).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest
import xlsxwriter
from hardening_support import copy_tiny, invoke, no_traceback

from optimizer.io.outputs import atomic_output
from optimizer.io.xlsx_scan import SheetTooLarge, scan_sheet


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("rules.max_commute_km=true", "true/false is not a number"),
        ("solver.workers=true", "true/false is not a number"),
        ("solver.time_limit_s=false", "true/false is not a number"),
        ("rules.reference_date=0001-01-01", "between the years 1900 and 2100"),
        ("objective.weights={shortfall=9223372036854775807}", "at most"),
        ("solver.seed=99999999999999", "at most"),
        ("foo.bar=1", "'foo.bar' is not a scenario key"),
        ("rules.max_commute_km=" + "[" * 40 + "1" + "]" * 40, "nested too deeply"),
    ],
)
def test_bad_settings_are_refused_with_what_is_wrong(setting: str, words: str) -> None:
    from hardening_support import TINY

    result = invoke("validate", str(TINY / "scenario.toml"), "--set", setting)
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert words in result.output
    assert "0 error(s)" not in result.output


def test_an_empty_priorities_override_blames_the_override() -> None:
    from hardening_support import TINY

    result = invoke("validate", str(TINY / "scenario.toml"), "--set", "objective.priorities=[]")
    assert result.exit_code == 2
    assert result.output.startswith("ERROR --set:objective.priorities")


def test_sweep_with_an_unknown_key_is_exit_2() -> None:
    from hardening_support import TINY

    result = invoke("sweep", str(TINY / "scenario.toml"), "--set", "foo.bar=1,2")
    assert result.exit_code == 2 and no_traceback(result), result.output


def test_deeply_nested_scenario_and_geojson_are_input_errors(tmp_path: Path) -> None:
    scenario = copy_tiny(tmp_path)
    deep = scenario.parent / "deep.toml"
    deep.write_text(
        'extends = "scenario.toml"\nx = ' + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8"
    )
    result = invoke("validate", str(deep))
    assert result.exit_code == 2 and no_traceback(result), result.output
    store = tmp_path / "s.db"
    assert invoke("run", str(scenario), "--store", str(store)).exit_code == 0
    for text in ("[" * 100_000 + "]" * 100_000, '{"features": "x"}', '{"features": [1]}', "{"):
        geo = tmp_path / "g.geojson"
        geo.write_text(text, encoding="utf-8")
        result = invoke(
            "show", "latest", "--html", str(tmp_path / "r.html"), "--geojson", str(geo), "--store", str(store)
        )
        assert result.exit_code == 2 and no_traceback(result), (text[:20], result.output)
        assert "The unit boundaries (GeoJSON) cannot be read" in result.output  # English under --lang en
    assert not (tmp_path / "r.html").exists()


def test_a_unit_name_with_a_link_stays_text_in_the_report(tmp_path: Path) -> None:
    scenario = copy_tiny(tmp_path)
    units = scenario.parent / "units.csv"
    text = units.read_text(encoding="utf-8")
    units.write_text(
        text.replace("Phường An Bình", "<a href=https://evil.example/phish>Phường An Bình</a>"),
        encoding="utf-8",
    )
    store = tmp_path / "s.db"
    assert invoke("run", str(scenario), "--store", str(store)).exit_code == 0
    assert invoke("show", "latest", "--html", str(tmp_path / "r.html"), "--store", str(store)).exit_code == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<a href=https://evil.example" not in page and "\\u003ca href=https:\\u002f\\u002fevil" not in page


def _replace_staff_cell(scenario: Path, column: str, value: str) -> None:
    staff = scenario.parent / "staff.csv"
    lines = staff.read_text(encoding="utf-8").splitlines()
    head, first = lines[0].split(","), lines[1].split(",")
    first[head.index(column)] = value
    staff.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", encoding="utf-8")


def test_a_name_longer_than_an_excel_cell_is_refused_at_the_door(tmp_path: Path) -> None:
    scenario = copy_tiny(tmp_path)
    _replace_staff_cell(scenario, "full_name", "A" * 100_000)
    result = invoke("validate", str(scenario))
    assert result.exit_code == 2 and "100000 characters long" in result.output


def test_a_nul_byte_is_named_not_read_as_utf16(tmp_path: Path) -> None:
    scenario = copy_tiny(tmp_path)
    _replace_staff_cell(scenario, "grade", "a\x00b")
    result = invoke("validate", str(scenario))
    assert result.exit_code == 2
    assert "NUL character" in result.output and "required column" not in result.output


@pytest.mark.parametrize("kind", ["folder", "fifo", "dev_zero"])
def test_a_table_that_is_not_a_regular_file_says_so(tmp_path: Path, kind: str) -> None:
    scenario = copy_tiny(tmp_path)
    pins = scenario.parent / "pins.csv"
    pins.unlink()
    if kind == "folder":
        pins.mkdir()
    elif kind == "fifo":
        os.mkfifo(pins)
    else:
        pins.symlink_to("/dev/zero")
    started = time.monotonic()
    result = invoke("validate", str(scenario))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert "is not a regular file" in result.output and "not found" not in result.output
    assert time.monotonic() - started < 30


def _workbook(path: Path, build: object) -> Path:
    book = xlsxwriter.Workbook(str(path))
    build(book)  # type: ignore[operator]
    book.close()
    return path


def _drop_cached_values(book: Path) -> None:
    """Remove the saved result of ``=1+1`` (as a program that does not compute would)."""
    import zipfile

    with zipfile.ZipFile(book) as zin:
        parts = {name: zin.read(name) for name in zin.namelist()}
    for name, data in parts.items():
        if name.startswith("xl/worksheets/"):
            parts[name] = data.replace(b"<f>1+1</f><v>0</v>", b"<f>1+1</f>")
    with zipfile.ZipFile(book, "w") as zout:
        for name, data in parts.items():
            zout.writestr(name, data)


def test_hidden_sheets_and_rows_uncached_formulas_and_errors_are_named(tmp_path: Path) -> None:
    scenario = copy_tiny(tmp_path)
    staff_csv = scenario.parent / "staff.csv"
    rows = [line.split(",") for line in staff_csv.read_text(encoding="utf-8").splitlines()]

    def build(book: xlsxwriter.Workbook) -> None:
        book.add_worksheet("other")
        sheet = book.add_worksheet("staff")
        for r, row in enumerate(rows):
            sheet.write_row(r, 0, row)
        grade = rows[0].index("grade")
        sheet.write_formula(2, grade, "=1+1")  # xlsxwriter saves no value: an uncached formula
        sheet.write_formula(3, grade, "=NA()", None, "#N/A")
        sheet.set_row(4, None, None, {"hidden": True})
        sheet.hide()
        book.worksheets()[0].activate()

    book = _workbook(scenario.parent / "book.xlsx", build)
    _drop_cached_values(book)
    text = scenario.read_text(encoding="utf-8").replace('"staff.csv"', '"book.xlsx#staff"')
    scenario.write_text(text, encoding="utf-8")
    result = invoke("validate", str(scenario))
    out = result.output
    assert "formula whose result was not saved" in out and ":3:grade" in out
    assert "Excel error value" in out and ":4:grade" in out
    assert "rows are hidden" in out and "rows 5" in out
    assert "is hidden in Excel" in out


def test_a_sheet_beyond_the_limits_is_refused_quickly_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optimizer.io.xlsx_scan as xlsx_scan

    monkeypatch.setattr(xlsx_scan, "MAX_ROWS", 50_000)
    monkeypatch.setattr(xlsx_scan, "BLOCK", 1 << 16)

    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("staff")
        for r in range(120_000):
            sheet.write_number(r, 0, r)

    big = _workbook(tmp_path / "big.xlsx", build)
    tracemalloc.start()
    with pytest.raises(SheetTooLarge):
        scan_sheet(big, "staff")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20

    def corner(book: xlsxwriter.Workbook) -> None:  # one cell at A1, one at XFD1048576
        sheet = book.add_worksheet("staff")
        sheet.write(0, 0, "staff_id")
        sheet.write(1_048_575, 16_383, "x")

    with pytest.raises(SheetTooLarge):
        scan_sheet(_workbook(tmp_path / "corner.xlsx", corner), "staff")
    scenario = copy_tiny(tmp_path)
    text = scenario.read_text(encoding="utf-8").replace('"staff.csv"', f'"{tmp_path / "corner.xlsx"}#staff"')
    scenario.write_text(text, encoding="utf-8")
    result = invoke("validate", str(scenario))
    assert result.exit_code == 2 and "The sheet is too large" in result.output


def test_atomic_output_never_leaves_a_part_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "a.csv") as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_a_unit_in_paris_is_named_and_a_coordinate_hint_only_for_coordinates(tmp_path: Path) -> None:
    scenario = copy_tiny(tmp_path)
    units = scenario.parent / "units.csv"
    units.write_text(
        units.read_text(encoding="utf-8").replace("10.00,106.70", "48.85,2.35", 1), encoding="utf-8"
    )
    posts = scenario.parent / "posts.csv"
    lines = posts.read_text(encoding="utf-8").splitlines()
    head, first = lines[0].split(","), lines[1].split(",")
    first[head.index("max")] = "-3"
    posts.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", encoding="utf-8")
    out = invoke("validate", str(scenario)).output
    assert "units.csv:2:lat [48.85, 2.35]: The unit's coordinates (48.85, 2.35) lie outside Vietnam" in out
    posts_line = next(line for line in out.splitlines() if "posts.csv:2:max" in line)
    assert "decimal degrees" not in posts_line
