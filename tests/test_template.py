"""``staffplan template``: a workbook and scenario that validate and solve at once."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

from optimizer.check import check_placement
from optimizer.cli import main
from optimizer.data import BLOCS, CATEGORIES, DEPARTMENTS, KINDS, PIN_MODES, RELATIONS
from optimizer.i18n import set_lang
from optimizer.io import load_problem, load_scenario
from optimizer.io.template import (
    CODE_LISTS,
    CODED_COLUMNS,
    CODES_SHEET,
    HEADERS,
    SHEETS,
    WORKBOOK,
    write_template,
)
from optimizer.io.vocab import TABLES, fold
from optimizer.replan import load_run
from optimizer.store import RunStore


@pytest.fixture(autouse=True)
def _vietnamese() -> None:
    set_lang("vi")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("template") / "tinh"
    write_template(out)
    return out


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["--lang", "vi", *args], env={"COLUMNS": "200"})


def test_every_header_is_an_accepted_alias_of_its_column() -> None:
    for table, headers in HEADERS.items():
        spec = TABLES[table]
        assert set(headers) == {c.name for c in spec.columns}
        for column, header in headers.items():
            assert spec.header_lookup[fold(header)] == column


def test_template_then_validate_then_run(tmp_path: Path) -> None:
    res = invoke("template", str(tmp_path / "tinh"))
    assert res.exit_code == 0, res.output
    scenario = tmp_path / "tinh" / "scenario.toml"
    assert "staffplan validate" in res.output
    res = invoke("validate", str(scenario))
    assert res.exit_code == 0, res.output
    assert "Dữ liệu hợp lệ" in res.output and "lỗi" in res.output
    store = tmp_path / "s.db"
    res = invoke("run", str(scenario), "--store", str(store))
    assert res.exit_code == 0, res.output
    run = RunStore(store).get("latest")
    assert run.status == "optimal" and run.proven
    assert run.kpis["homes_approximate"] == 2
    ctx = load_run(RunStore(store), "latest")
    problem, assignment = ctx.problem, ctx.assignment
    assert check_placement(problem, assignment) == []
    placed = {problem.staff.ids[i]: int(p) for i, p in enumerate(assignment)}
    # the signed pin holds and the island chair is an island volunteer
    posts = problem.posts
    assert problem.units.ids[posts.unit_idx[placed["NV001"]]] == "10002"
    island = [s for s, p in placed.items() if p >= 0 and problem.units.island[posts.unit_idx[p]]]
    assert island and all(problem.staff.island_ok[problem.staff.id2idx[s]] for s in island)


def test_the_example_has_an_island_relatives_a_pin_and_a_home_unit(folder: Path) -> None:
    problem, warnings = load_problem(load_scenario(folder / "scenario.toml"))
    assert problem.units.island.sum() == 1
    assert len(problem.relations) == 1 and len(problem.pins) == 1
    assert problem.staff.home_approx is not None and problem.staff.home_approx.sum() == 2
    assert [w.code for w in warnings] == ["home_approx"]


def test_coded_columns_have_drop_downs_from_the_codes_sheet(folder: Path) -> None:
    book = openpyxl.load_workbook(folder / WORKBOOK)
    assert list(book.sheetnames)[1:] == [CODES_SHEET, *SHEETS.values()]
    codes = book[CODES_SHEET]
    listed = {(r[1].value, r[2].value) for r in codes.iter_rows(min_row=2)}
    for all_codes in (BLOCS, CATEGORIES, KINDS, DEPARTMENTS, RELATIONS, PIN_MODES):
        assert set(all_codes) <= {c for c, _ in listed}
    for table, sheet_name in SHEETS.items():
        sheet = book[sheet_name]
        headers = [c.value for c in sheet[1]]
        assert headers == list(HEADERS[table].values())
        lists = {}
        for dv in sheet.data_validations.dataValidation:
            column = str(dv.sqref).split(":")[0].rstrip("0123456789")
            lists[column] = dv.formula1
        for column, kind in CODED_COLUMNS[table].items():
            letter = openpyxl.utils.get_column_letter(list(HEADERS[table]).index(column) + 1)
            assert lists.get(letter, "").startswith(f"'{CODES_SHEET}'!"), (table, column, kind)
    assert set(CODE_LISTS) >= {k for cols in CODED_COLUMNS.values() for k in cols.values()}


def test_every_name_on_the_codes_sheet_is_accepted_by_the_parser(folder: Path) -> None:
    book = openpyxl.load_workbook(folder / WORKBOOK)
    rows = list(book[CODES_SHEET].iter_rows(min_row=2, values_only=True))
    column_of = {"bloc": TABLES["posts"].column("bloc"), "category": TABLES["posts"].column("category"),
                 "kind": TABLES["units"].column("kind"), "department": TABLES["posts"].column("department"),
                 "relation": TABLES["relations"].column("relation"), "mode": TABLES["pins"].column("mode"),
                 "gender": TABLES["staff"].column("gender")}  # fmt: skip
    checked = 0
    for _, code, name, _ in rows:
        for column in column_of.values():
            if code in column.choices:
                assert column.lookup[fold(str(name))] == code
                checked += 1
    assert checked >= len(BLOCS) + len(CATEGORIES) + len(KINDS) + len(DEPARTMENTS) + len(RELATIONS)


def test_template_refuses_to_overwrite_without_force(folder: Path) -> None:
    before = (folder / WORKBOOK).read_bytes()
    res = invoke("template", str(folder))
    assert res.exit_code == 2 and "--force" in res.output
    assert (folder / WORKBOOK).read_bytes() == before
    assert invoke("template", str(folder), "--force").exit_code == 0


@pytest.mark.parametrize("name", [WORKBOOK, "staff.csv"])
def test_validate_given_a_workbook_or_csv_explains_what_to_do(
    folder: Path, tmp_path: Path, name: str
) -> None:
    target = folder / WORKBOOK if name == WORKBOOK else tmp_path / name
    if name != WORKBOOK:
        target.write_text("staff_id,full_name\nNV001,A\n", encoding="utf-8")
    res = invoke("validate", str(target))
    assert res.exit_code == 2
    assert "không phải tệp kịch bản" in res.output and "staffplan template" in res.output
    assert "UTF-8" not in res.output


def test_docs_input_lists_every_column_alias_and_code() -> None:
    text = (Path(__file__).parent.parent / "docs" / "INPUT.md").read_text(encoding="utf-8")
    missing = []
    for table, spec in TABLES.items():
        for col in spec.columns:
            for name in (
                f"`{col.name}`",
                HEADERS[table][col.name],
                *col.aliases,
                *(f"`{c}`" for c in col.choices),
            ):
                if name.casefold() not in text.casefold():
                    missing.append(f"{table}.{col.name}: {name}")
    assert missing == [], "regenerate or edit docs/INPUT.md"
