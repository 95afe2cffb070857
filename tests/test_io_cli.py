"""``staffplan validate``: summary, exit codes, all problems at once, the "Lỗi" workbook."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner, Result
from test_io_formats import write_rows_sheet
from test_io_tiny import CLEAN, TABLE_NAMES, copy_clean, read_rows

from optimizer.cli import main
from optimizer.i18n import set_lang, t
from optimizer.labels import enum_label as label


@pytest.fixture(autouse=True)
def _vietnamese() -> Iterator[None]:
    set_lang("vi")
    yield
    set_lang("vi")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_valid_input_prints_the_summary_and_exits_0() -> None:
    result = run("validate", str(CLEAN / "scenario.toml"))
    assert result.exit_code == 0, result.output
    staff = read_rows(CLEAN / "staff.csv")
    posts = read_rows(CLEAN / "posts.csv")
    blocs = Counter(r["bloc"] for r in staff)
    lines = result.stdout.splitlines()
    people = ", ".join(f"{label(b)} {blocs[b]}" for b in ("party", "government"))
    assert t("io.summary.people", count=len(staff), detail=people) in lines
    total_min = sum(int(r["min"]) for r in posts)
    total_max = sum(int(r["max"]) for r in posts)
    assert t("io.summary.posts", count=len(posts), min=total_min, max=total_max) in lines
    assert lines[-1] == t("io.summary.ok")
    assert result.stderr == ""


def test_warnings_are_listed_but_do_not_fail(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    result = run("validate", str(scenario), "--set", "rules.max_commute_km=5")
    assert result.exit_code == 0
    assert "CẢNH BÁO" in result.stderr
    assert t("io.summary.ok") in result.stdout


def test_set_makes_a_soft_rule_hard_and_fails(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    result = run(
        "validate",
        str(scenario),
        "--set",
        "rules.max_commute_km=5",
        "--set",
        "rules.min_is_hard=true",
    )
    assert result.exit_code == 2
    assert "LỖI" in result.stderr


def test_scenario_key_error_exits_2(tmp_path: Path) -> None:
    result = run("validate", str(copy_clean(tmp_path)), "--set", "rules.max_comute_km=20")
    assert result.exit_code == 2
    assert "rules.max_commute_km" in result.stderr


@dataclass(frozen=True)
class Defect:
    sheet: str
    row: int
    column: str
    value: str


#: The ten defects of the workbook, by name, and where each must be reported.
TEN_DEFECTS = {
    "units_duplicate_unit_id": Defect("units", 7, "unit_id", "U1"),
    "units_latitude_out_of_range": Defect("units", 3, "lat", "95"),
    "posts_min_above_max": Defect("posts", 3, "min", "4"),
    "posts_unknown_department": Defect("posts", 6, "department", "phong_xyz"),
    "posts_unknown_unit": Defect("posts", 9, "unit_id", "U9"),
    "staff_impossible_birth_date": Defect("staff", 6, "birth_date", "31/02/1990"),
    "staff_gender_typed_as_a_formula": Defect("staff", 7, "gender", "=1+1"),
    "staff_unknown_origin_unit": Defect("staff", 4, "origin_unit", "U7"),
    "relations_self_relation": Defect("relations", 2, "relative_id", "S05"),
    "pins_two_fixes_for_one_person": Defect("pins", 4, "unit_id", "U1"),
}


def ten_defect_workbook(folder: Path) -> Path:
    """One workbook, a sheet per table, with the ten defects of :data:`TEN_DEFECTS`."""
    tables = {name: read_rows(CLEAN / f"{name}.csv") for name in TABLE_NAMES}
    tables["units"].append(dict(tables["units"][0], name="Phường Sài Gòn (bản sao)"))
    tables["pins"].append({"staff_id": "S08", "unit_id": "U1", "position": "", "mode": "fix", "note": ""})
    for defect in TEN_DEFECTS.values():
        tables[defect.sheet][defect.row - 2][defect.column] = defect.value
    book = xlsxwriter.Workbook(folder / "book.xlsx", {"strings_to_formulas": False})
    for name, rows in tables.items():
        write_rows_sheet(book, name, rows)
    book.close()
    lines = ['name = "ten-defects"', "[data]"] + [f'{n} = "book.xlsx#{n}"' for n in TABLE_NAMES]
    scenario = folder / "ten.toml"
    scenario.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return scenario


def _has_vietnamese_letters(text: str) -> bool:
    return any(unicodedata.decomposition(ch) and not ch.isascii() for ch in text)


def _defect_lines(stderr: str) -> dict[str, str]:
    lines = stderr.splitlines()
    found = {}
    for name, d in TEN_DEFECTS.items():
        where = f"book.xlsx#{d.sheet}:{d.row}:{d.column} [{d.value}]: "
        matching = [line for line in lines if where in line]
        assert len(matching) == 1, (name, matching)
        found[name] = matching[0].split(where, 1)[1]
    return found


def test_ten_defects_are_all_reported_in_one_run_in_vietnamese_and_english(tmp_path: Path) -> None:
    scenario = ten_defect_workbook(tmp_path)
    vi = run("validate", str(scenario))
    assert vi.exit_code == 2
    assert vi.stderr.splitlines()[-1] == t("cli.issue_count", "vi", errors=10, warnings=0)
    en = run("--lang", "en", "validate", str(scenario))
    assert en.exit_code == 2
    assert en.stderr.splitlines()[-1] == t("cli.issue_count", "en", errors=10, warnings=0)
    vi_text, en_text = _defect_lines(vi.stderr), _defect_lines(en.stderr)
    for name in TEN_DEFECTS:
        message_vi, message_en = vi_text[name], en_text[name]
        assert message_vi != message_en, name
        assert _has_vietnamese_letters(message_vi), name
        value = TEN_DEFECTS[name].value
        assert not _has_vietnamese_letters(message_en.replace(value, "")), name
    assert all(line.startswith("LỖI ") for line in vi.stderr.splitlines()[:-1])
    assert all(line.startswith("ERROR ") for line in en.stderr.splitlines()[:-1])


def test_errors_xlsx_lists_every_problem_as_text(tmp_path: Path) -> None:
    scenario = ten_defect_workbook(tmp_path)
    target = tmp_path / "out" / "loi.xlsx"
    result = run("validate", str(scenario), "--errors-xlsx", str(target))
    assert result.exit_code == 2
    assert sorted(p.name for p in target.parent.iterdir()) == ["loi.xlsx"]  # no temporary left
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["Lỗi"]
    sheet = book["Lỗi"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Tệp", "Trang tính", "Dòng", "Cột", "Giá trị", "Lỗi", "Cách sửa", "Mức độ")
    assert len(rows) == 1 + len(TEN_DEFECTS)
    assert all(cell.data_type == "s" for row in sheet.iter_rows(min_row=2) for cell in row if cell.value)
    located = {(r[1], r[2], r[3], r[4]) for r in rows[1:]}
    for d in TEN_DEFECTS.values():
        assert (d.sheet, str(d.row), d.column, d.value) in located
    assert {r[7] for r in rows[1:]} == {"Lỗi"}
    assert all(r[5] and r[6] for r in rows[1:])


def test_errors_xlsx_follows_the_language(tmp_path: Path) -> None:
    target = tmp_path / "errors.xlsx"
    result = run("--lang", "en", "validate", str(ten_defect_workbook(tmp_path)), "--errors-xlsx", str(target))
    assert result.exit_code == 2
    sheet = openpyxl.load_workbook(target)["Errors"]
    header = next(sheet.iter_rows(values_only=True))
    assert header == tuple(
        t(k, "en")
        for k in (
            "io.xlsx.file",
            "io.xlsx.sheet",
            "io.xlsx.row",
            "io.xlsx.column",
            "io.xlsx.value",
            "io.xlsx.message",
            "io.xlsx.hint",
            "io.xlsx.severity",
        )
    )


def test_errors_xlsx_is_written_for_valid_input_too(tmp_path: Path) -> None:
    target = tmp_path / "warnings.xlsx"
    result = run(
        "validate",
        str(copy_clean(tmp_path)),
        "--set",
        "rules.max_commute_km=5",
        "--errors-xlsx",
        str(target),
    )
    assert result.exit_code == 0
    rows = list(openpyxl.load_workbook(target)["Lỗi"].iter_rows(values_only=True))
    warnings = [line for line in result.stderr.splitlines() if line.startswith("CẢNH BÁO")]
    assert len(rows) - 1 == len(warnings) > 0
    assert {r[7] for r in rows[1:]} == {"Cảnh báo"}


def test_help_does_not_import_the_input_layer() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from click.testing import CliRunner; from optimizer.cli import main; "
        "r = CliRunner().invoke(main, ['validate', '--help']); "
        "assert r.exit_code == 0, r.output; "
        "print('optimizer.io' in sys.modules, 'pandera' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert re.search(r"--errors-xlsx", run("validate", "--help").output)
