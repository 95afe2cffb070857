"""Real formula cells and merged cells in a planner's workbook: a clear problem list or a
clean problem, never a traceback; a merged cell's empty part is reported at its row."""

from __future__ import annotations

import csv
from pathlib import Path

import xlsxwriter
from click.testing import CliRunner

from optimizer.cli import main

CLEAN = Path(__file__).parent / "data" / "io" / "clean"
TABLES = ("units", "posts", "staff", "relations", "pins")


def workbook(
    folder: Path,
    *,
    formula: tuple[str, int, str, str] | None = None,
    merge: tuple[str, int, str] | None = None,
) -> Path:
    """The clean tables as one workbook; optionally a real formula cell
    (table, data row, column, formula) and a merged cell over two data rows of a column."""
    book = xlsxwriter.Workbook(folder / "book.xlsx")
    for name in TABLES:
        with (CLEAN / f"{name}.csv").open(encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        sheet = book.add_worksheet(name)
        header = rows[0]
        hidden = set()
        if merge and merge[0] == name:  # Excel keeps a merged value in its top-left cell only
            hidden.add((merge[1] + 1, header.index(merge[2])))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if (r, c) not in hidden:
                    sheet.write_string(r, c, value)
        if formula and formula[0] == name:
            _, row, column, text = formula
            sheet.write_formula(row, header.index(column), text)
        if merge and merge[0] == name:
            _, row, column = merge
            col = header.index(column)
            sheet.merge_range(row, col, row + 1, col, rows[row][col])
    book.close()
    scenario = folder / "scenario.toml"
    scenario.write_text(
        'name = "xlsx-cells"\n[data]\n' + "".join(f'{n} = "book.xlsx#{n}"\n' for n in TABLES),
        encoding="utf-8",
    )
    return scenario


def validate(scenario: Path) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["--lang", "en", "validate", str(scenario)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def test_a_formula_cell_is_read_as_its_value_or_reported(tmp_path: Path) -> None:
    code, out = validate(workbook(tmp_path, formula=("staff", 3, "home_lat", "=10+0.69")))
    assert code in (0, 2)
    assert "Traceback" not in out


def test_a_text_formula_in_a_text_column_is_reported_not_evaluated(tmp_path: Path) -> None:
    code, out = validate(workbook(tmp_path, formula=("staff", 2, "gender", '="M"&"X"')))
    assert code == 2
    assert "gender" in out


def test_a_merged_cell_leaves_its_second_row_empty_and_says_where(tmp_path: Path) -> None:
    code, out = validate(workbook(tmp_path, merge=("staff", 4, "full_name")))
    assert code == 2
    # data row 5 (Excel numbering: the header is row 1) is the empty half of the merge
    assert "staff:6:full_name" in out or "#staff:6:full_name" in out
